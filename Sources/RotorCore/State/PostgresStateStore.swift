import Foundation

/// The shared state store: PostgreSQL, for several runners on several machines (cron on two
/// hosts, CI jobs, a laptop in an incident). Same protocol and the same rows as SQLite;
/// per-key leases carry fencing tokens (see `FencingTokens`), checked by every write of a
/// run in the same statement as the write.
///
/// Written for a network and peers that misbehave (docs/state.md): every write is one
/// statement, so a runner stopped anywhere (SIGSTOP, a frozen VM) holds no lock that others
/// wait for; only taking a lease and creating the schema are short transactions. Every
/// session bounds its waits on the server; a lost session is replaced within
/// `reconnectWindow` and the statement repeated — each write is written so that repeating
/// it cannot apply it twice, and the repeat is checked against the lease again.
public final class PostgresStateStore: StateStore {
    /// The schema this build writes. A database with a newer one is refused.
    /// 2: `locks.process` (`ProcessIdentity`). A rotor of schema 1 refuses a database at 2:
    /// its leases would not carry the identity the others judge liveness by.
    static let schemaVersion = 2

    /// How long a run keeps trying to open a new session after its session was lost (a
    /// failover, a proxy restart, `pg_terminate_backend`), before it gives up.
    static let reconnectWindow: TimeInterval = 30

    private let connection: PostgresConnection
    private let fencing = FencingTokens()
    /// The next journal sequence of each run this process appends to: chosen here, so that
    /// an append repeated after a lost session finds its own row instead of adding a second.
    nonisolated(unsafe) private var nextJournalSequence: [String: Int] = [:]  // under journalLock
    private let journalLock = NSLock()
    /// When the last reconnection gave up (under `lock`).
    nonisolated(unsafe) private var unreachableSince: Date?
    private let lock = NSLock()
    /// The libpq URI it was opened with (may hold a password: print `StateStoreURL.redacted`).
    let url: String
    /// `url` as libpq was given it: with rotor's TLS rule and network bounds.
    let effectiveURL: String

    /// Connects and applies missing migrations. With `createIfMissing` false, a database
    /// rotor never wrote to gives nil and is left untouched (`plan` and `status` change nothing).
    public static func open(url: String, createIfMissing: Bool = true) throws -> PostgresStateStore? {
        let (connection, effectiveURL) = try connect(url: url)
        if !createIfMissing, try connection.execute("SELECT to_regclass('rotor_schema')").first?.optionalText(0) == nil { return nil }
        return try PostgresStateStore(connection: connection, url: url, effectiveURL: effectiveURL)
    }

    /// A session as the store opens its own — off this machine only with the server's
    /// certificate checked (issue 23), and no wait on the server without a bound — and the
    /// URI libpq was given.
    static func connect(url: String) throws -> (PostgresConnection, String) {
        let bounded = PostgresURL.withTLSRule(withNetworkBounds(url))
        do {
            let connection = try PostgresConnection(url: bounded)
            try connection.boundWaits(for: url)
            return (connection, bounded)
        } catch {
            throw PostgresConnection.Failure(description: PostgresURL.explain(StateStoreURL.scrubbing(String(describing: error), of: url), url: url))
        }
    }

    private init(connection: PostgresConnection, url: String, effectiveURL: String) throws {
        self.connection = connection
        self.url = url
        self.effectiveURL = effectiveURL
        try migrate()
    }

    /// The URI with bounds on waiting for the network (`PostgresURL.withNetworkBounds`).
    static func withNetworkBounds(_ url: String) -> String { PostgresURL.withNetworkBounds(url) }

    /// The schema version the database holds now (0: none).
    private func schemaVersionPresent() throws -> Int {
        guard try connection.execute("SELECT to_regclass('rotor_schema')").first?.optionalText(0) != nil else { return 0 }
        return try connection.execute("SELECT max(version) FROM rotor_schema").first.flatMap { $0.optionalText(0) == nil ? nil : try $0.integer(0, "rotor_schema.version") }.map(Int.init) ?? 0
    }

    private func migrate() throws {
        // Read without a lock first: a database already at this version (every run but the
        // first) takes no lock at all, so a runner stopped while starting blocks no one.
        let present = try schemaVersionPresent()
        try checkNotNewer(present)
        guard present < Self.schemaVersion else { return }
        try connection.transaction { db in
            // One migrating rotor at a time, whichever host it runs on; waited for at most
            // lock_timeout (a runner stopped here is ended by idle_in_transaction_session_timeout).
            do {
                try db.execute("SELECT pg_advisory_xact_lock(7273001)")
            } catch let failure as PostgresConnection.Failure where failure.state == "55P03" {
                throw PostgresConnection.Failure(description: "another rotor is creating the state database's schema and did not finish within lock_timeout (it holds advisory lock 7273001; see pg_locks): nothing was changed; run again", state: failure.state)
            }
            try db.execute("CREATE TABLE IF NOT EXISTS rotor_schema (version integer NOT NULL)")
            let version = try db.execute("SELECT max(version) FROM rotor_schema").first.flatMap { $0.optionalText(0) == nil ? nil : try $0.integer(0, "rotor_schema.version") }.map(Int.init) ?? 0
            try checkNotNewer(version)
            if version < 1 { try createVersion1(db) }
            if version < 2 {
                try db.execute("ALTER TABLE locks ADD COLUMN process text NOT NULL DEFAULT ''")
                try db.execute("INSERT INTO rotor_schema (version) VALUES (2)")
            }
        }
    }

    private func createVersion1(_ db: PostgresConnection.Transaction) throws {
            for statement in [
                "CREATE TABLE keys (name text PRIMARY KEY, current text, previous text)",
                "CREATE TABLE runs (id text PRIMARY KEY, key text NOT NULL, started double precision NOT NULL, finished double precision, outcome text, emergency boolean NOT NULL, \"user\" text NOT NULL, host text NOT NULL)",
                "CREATE TABLE journal (run_id text NOT NULL REFERENCES runs(id), sequence integer NOT NULL, at double precision NOT NULL, step text NOT NULL, phase text NOT NULL, consumer text, target text, detail text NOT NULL, data text NOT NULL, PRIMARY KEY (run_id, sequence))",
                "CREATE TABLE locks (key text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL, run_id text NOT NULL, expires double precision NOT NULL, token bigint NOT NULL)",
                "CREATE TABLE audit (sequence bigint PRIMARY KEY, entry text NOT NULL)",
                "CREATE SEQUENCE rotor_fencing_tokens",
                "INSERT INTO rotor_schema (version) VALUES (1)",
            ] {
                try db.execute(statement)
            }
    }

    private func checkNotNewer(_ version: Int) throws {
        if version > Self.schemaVersion {
            throw PostgresConnection.Failure(description:
                "the state database has schema version \(version), written by a newer rotor; this rotor knows up to \(Self.schemaVersion): upgrade rotor on this host")
        }
    }

    // MARK: Lost sessions

    /// Runs `body`; when the session is lost meanwhile, opens a new one (at once, then
    /// backing off up to 4 s between tries, for at most `reconnectWindow`) and runs `body`
    /// again. `body` must be safe to repeat: what it did before the loss is unknown.
    /// Once a window ran out, later losses within the next window fail at once: a run
    /// that is stopping (rolling back, saying what is left) does not wait again per write.
    private func reconnecting<T>(_ body: () throws -> T) throws -> T {
        let deadline = Date().addingTimeInterval(Self.reconnectWindow)
        var delay: TimeInterval = 0
        while true {
            let lost: PostgresConnection.Failure
            do { return try body() } catch let failure as PostgresConnection.Failure where failure.connectionLost { lost = failure }
            if let since = lock.withLock({ unreachableSince }), Date().timeIntervalSince(since) < Self.reconnectWindow {
                throw PostgresConnection.Failure(description: "the state database has been unreachable since \(DateFormatting.iso8601(since)) (\(Self.firstLine(lost)))")
            }
            var last = lost
            let began = Date()
            while true {
                guard Date().addingTimeInterval(delay) < deadline else {
                    lock.withLock { unreachableSince = Date() }
                    throw PostgresConnection.Failure(description:
                        "lost the session with the state database (\(Self.firstLine(lost))) and could not open another within \(Int(Self.reconnectWindow)) s (\(Self.firstLine(last)))")
                }
                Thread.sleep(forTimeInterval: delay)
                delay = delay == 0 ? 0.1 : min(delay * 2, 4)
                do {
                    try connection.reconnect()
                    lock.withLock { unreachableSince = nil }
                    Self.notice("rotor: the state database ended rotor's session (\(Self.firstLine(lost))); reconnected after \(String(format: "%.1f", Date().timeIntervalSince(began))) s and repeating the last statement")
                    break
                } catch let failure as PostgresConnection.Failure where failure.connectionLost {
                    last = failure
                }
            }
        }
    }

    /// Where a reconnection is said (stderr: a person reading a cron mail should know).
    static let notice: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    private static func firstLine(_ failure: PostgresConnection.Failure) -> String {
        String(failure.description.split(whereSeparator: \.isNewline).first ?? "connection lost")
    }

    // MARK: Fencing

    /// Runs a write checked against the lease in the same statement: `sql` reads the CTE
    /// `fence`, which has one row while this process's token for the run (or key) is still
    /// the lock row's (`FOR SHARE`: a takeover cannot commit meanwhile), and no row once it
    /// was taken over. Without a token held, `fence` always has its row. Returns the rows
    /// `sql` returns; none because of the fence throws `LeaseLost`.
    @discardableResult
    private func fenced(runID: String? = nil, key: String? = nil, _ sql: String, _ parameters: [String?], answerLostAt test: String? = nil) throws -> [[String?]] {
        try reconnecting {
            let held = try fencing.token(runID: runID, key: key) { run in
                try connection.execute("SELECT key FROM runs WHERE id = $1", [run]).first?.text(0, "runs.key")
            }
            guard let held else { return try connection.execute("WITH fence AS (SELECT 1) " + sql, parameters) }
            let count = parameters.count
            let rows = try connection.execute("WITH fence AS (SELECT 1 FROM locks WHERE key = $\(count + 1) AND token = $\(count + 2) FOR SHARE) " + sql,
                                              parameters + [held.key, String(held.token)])
            if rows.isEmpty, try connection.execute("SELECT 1 FROM locks WHERE key = $1 AND token = $2", [held.key, String(held.token)]).isEmpty {
                throw LeaseLost(key: held.key, runID: runID ?? "holding '\(held.key)'")
            }
            if let test, !rows.isEmpty { try TestLostAnswer.after(test, on: connection) }
            return rows
        }
    }

    // MARK: StateStore

    public func keyStates() throws -> [String: KeyState] {
        var states: [String: KeyState] = [:]
        for row in try reconnecting({ try connection.execute("SELECT name, current, previous FROM keys") }) {
            let name = try row.text(0, "keys.name")
            states[name] = KeyState(current: try StateCoding.decode(row.optionalText(1), what: "current generation of '\(name)'"),
                                    previous: try StateCoding.decode(row.optionalText(2), what: "previous generation of '\(name)'"))
        }
        return states
    }

    public func keyStates(holding id: String) throws -> [String: KeyState] {
        guard let needle = GenerationIDSearch.needle(id) else { return GenerationIDSearch.exact(try keyStates(), id) }
        var states: [String: KeyState] = [:]
        for row in try reconnecting({ try connection.execute("SELECT name, current, previous FROM keys WHERE strpos(current, $1) > 0 OR strpos(previous, $1) > 0", [needle]) }) {
            let name = try row.text(0, "keys.name")
            states[name] = KeyState(current: try StateCoding.decode(row.optionalText(1), what: "current generation of '\(name)'"),
                                    previous: try StateCoding.decode(row.optionalText(2), what: "previous generation of '\(name)'"))
        }
        return GenerationIDSearch.exact(states, id)
    }

    public func keyState(_ key: String) throws -> KeyState? {
        guard let row = try reconnecting({ try connection.execute("SELECT current, previous FROM keys WHERE name = $1", [key]) }).first else { return nil }
        return KeyState(current: try StateCoding.decode(row.optionalText(0), what: "current generation of '\(key)'"),
                        previous: try StateCoding.decode(row.optionalText(1), what: "previous generation of '\(key)'"))
    }

    public func saveKeyState(_ state: KeyState, for key: String) throws {
        let rows = try fenced(key: key, """
            INSERT INTO keys (name, current, previous) SELECT $1, $2, $3 FROM fence
            ON CONFLICT (name) DO UPDATE SET current = excluded.current, previous = excluded.previous RETURNING 1
            """, [key, try StateCoding.encode(state.current), try StateCoding.encode(state.previous)])
        guard !rows.isEmpty else { throw PostgresConnection.Failure(description: "the state of '\(key)' was not saved (no row written)") }
    }

    public func acquireLock(key: String, owner: LockOwner, lease: TimeInterval, now: Date,
                            canTakeOver: (LockHolder) -> Bool, replaced: (LockHolder) -> Void) throws -> LockAttempt {
        // Repeating after a lost session is safe: a commit that did happen left this owner
        // holding the row, which it takes again with a newer token.
        try reconnecting {
            try connection.transaction { db in
                try db.execute("SELECT pg_advisory_xact_lock(hashtext($1))", [key])
                if let row = try db.execute("SELECT host, pid, run_id, expires, process FROM locks WHERE key = $1 FOR UPDATE", [key]).first {
                    let holder = try Self.lockHolder(key: key, row)
                    if holder.owner != owner, holder.expires > now, !canTakeOver(holder) { return .heldBy(holder) }
                    if holder.owner != owner { replaced(holder) }
                }
                let token = try db.execute("SELECT nextval('rotor_fencing_tokens')").first.map { try $0.integer(0, "nextval('rotor_fencing_tokens')") }
                guard let token else { throw PostgresConnection.Failure(description: "the fencing token sequence gave no value") }
                try db.execute("INSERT INTO locks (key, host, pid, run_id, expires, token, process) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO UPDATE SET host = excluded.host, pid = excluded.pid, run_id = excluded.run_id, expires = excluded.expires, token = excluded.token, process = excluded.process",
                               [key, owner.host, String(owner.pid), owner.runID, String(now.addingTimeInterval(lease).timeIntervalSince1970), String(token), owner.process])
                fencing.hold(token, key: key, runID: owner.runID)
                return .acquired
            }
        }
    }

    public func releaseLock(key: String, owner: LockOwner) throws {
        // Only the lease this process holds: one broken by `rotor unlock` (same owner, a
        // new token) stays for the next runner to take.
        let token = fencing.token(runID: owner.runID).map { String($0.token) }
        _ = try reconnecting {
            try connection.execute("DELETE FROM locks WHERE key = $1 AND host = $2 AND pid = $3 AND run_id = $4 AND ($5::bigint IS NULL OR token = $5::bigint)",
                                   [key, owner.host, String(owner.pid), owner.runID, token])
        }
        fencing.drop(runID: owner.runID)
    }

    public func lockHolder(key: String) throws -> LockHolder? {
        try reconnecting { try connection.execute("SELECT host, pid, run_id, expires, process FROM locks WHERE key = $1", [key]) }.first.map { try Self.lockHolder(key: key, $0) }
    }

    public func breakLock(key: String, held holder: LockHolder) throws -> Bool {
        // A new token and an expired lease: the holder's next write finds a token not its
        // own, and the next runner takes the lock as it takes any expired one.
        let owner = holder.owner
        return try !reconnecting {
            try connection.execute("UPDATE locks SET token = nextval('rotor_fencing_tokens'), expires = 0 WHERE key = $1 AND host = $2 AND pid = $3 AND run_id = $4 AND process = $5 AND expires = $6::double precision RETURNING 1",
                                   [key, owner.host, String(owner.pid), owner.runID, owner.process, String(holder.expires.timeIntervalSince1970)])
        }.isEmpty
    }

    public func createRun(_ run: RunRecord) throws {
        try fenced(runID: run.id, """
            INSERT INTO runs (id, key, started, finished, outcome, emergency, "user", host)
            SELECT $1, $2, $3::double precision, $4::double precision, $5, $6::boolean, $7, $8 FROM fence ON CONFLICT (id) DO NOTHING RETURNING 1
            """, [run.id, run.key, String(run.started.timeIntervalSince1970), run.finished.map { String($0.timeIntervalSince1970) },
                  run.outcome?.rawValue, run.emergency ? "true" : "false", run.user, run.host], answerLostAt: "run")
    }

    public func append(_ entry: JournalEntry, to runID: String) throws {
        let stored = entry.stored
        let data = try StateCoding.encode(stored.data)
        try journalLock.withLock {
            var sequence = try nextJournalSequence[runID] ?? journalLength(of: runID) + 1
            while true {
                let written = try fenced(runID: runID, """
                    INSERT INTO journal (run_id, sequence, at, step, phase, consumer, target, detail, data)
                    SELECT $1, $2::integer, $3::double precision, $4, $5, $6, $7, $8, $9 FROM fence ON CONFLICT (run_id, sequence) DO NOTHING RETURNING 1
                    """, [runID, String(sequence), String(stored.at.timeIntervalSince1970), stored.step, stored.phase, stored.consumer, stored.target,
                          stored.detail, data], answerLostAt: "journal")
                // No row: the sequence was taken — by this very entry, committed before a lost
                // session hid the answer, or by another process appending to the run (a
                // recoverer's or `rollback`'s entries): then the entry goes after them.
                if try !written.isEmpty || journalEntry(runID, sequence, is: stored, data: data) { break }
                sequence = try journalLength(of: runID) + 1
            }
            nextJournalSequence[runID] = sequence + 1
        }
    }

    private func journalLength(of runID: String) throws -> Int {
        try reconnecting { try connection.execute("SELECT COALESCE(MAX(sequence), 0) FROM journal WHERE run_id = $1", [runID]) }
            .first.map { Int(try $0.integer(0, "journal.sequence")) } ?? 0
    }

    /// True when the journal's entry `sequence` of the run is `stored`.
    private func journalEntry(_ runID: String, _ sequence: Int, is stored: JournalEntry.Stored, data: String?) throws -> Bool {
        guard let row = try reconnecting({
            try connection.execute("SELECT at, step, phase, consumer, target, detail, data FROM journal WHERE run_id = $1 AND sequence = $2", [runID, String(sequence)])
        }).first else { return false }
        return try row.number(0, "journal.at") == stored.at.timeIntervalSince1970 && row.optionalText(1) == stored.step && row.optionalText(2) == stored.phase
            && row.optionalText(3) == stored.consumer && row.optionalText(4) == stored.target && row.optionalText(5) == stored.detail && row.optionalText(6) == data
    }

    public func journal(of runID: String) throws -> [JournalEntry] {
        try reconnecting {
            try connection.execute("SELECT sequence, at, step, phase, consumer, target, detail, data FROM journal WHERE run_id = $1 ORDER BY sequence", [runID])
        }.map { row in
            let sequence = Int(try row.integer(0, "journal.sequence"))
            let data: [String: String] = try StateCoding.decode(try row.text(7, "journal.data"), what: "journal entry \(sequence) of run \(runID)") ?? [:]
            return try JournalEntry(stored: JournalEntry.Stored(sequence: sequence, at: try row.time(1, "journal.at"),
                                                                step: try row.text(2, "journal.step"), phase: try row.text(3, "journal.phase"),
                                                                consumer: row.optionalText(4), target: row.optionalText(5),
                                                                detail: try row.text(6, "journal.detail"), data: data), runID: runID)
        }
    }

    public func finishRun(_ runID: String, outcome: RunOutcome, at date: Date) throws {
        try fenced(runID: runID, "UPDATE runs SET finished = $1::double precision, outcome = $2 WHERE id = $3 AND EXISTS (SELECT 1 FROM fence) RETURNING 1",
                   [String(date.timeIntervalSince1970), outcome.rawValue, runID])
    }

    public func reopenRun(_ runID: String) throws {
        try fenced(runID: runID, "UPDATE runs SET finished = NULL, outcome = NULL WHERE id = $1 AND EXISTS (SELECT 1 FROM fence) RETURNING 1", [runID])
    }

    private static let runColumns = "id, key, started, finished, outcome, emergency, \"user\", host"

    public func run(_ id: String) throws -> RunRecord? {
        try reconnecting { try connection.execute("SELECT \(Self.runColumns) FROM runs WHERE id = $1", [id]) }.first.map(Self.runRecord)
    }

    public func runs() throws -> [RunRecord] {
        try reconnecting { try connection.execute("SELECT \(Self.runColumns) FROM runs ORDER BY started, id") }.map(Self.runRecord)
    }

    /// Chains the entry to the last one without a lock: it is written as the next sequence
    /// only if that sequence is still free (the primary key decides between two runners),
    /// else chained again to the entry that took it. A runner stopped anywhere in here
    /// holds nothing another runner waits for.
    public func appendAudit(_ entry: AuditEntry) throws {
        var lastSeen: Int?
        try reconnecting {
            for _ in 0..<1000 {
                // After a lost session or a lost race: an entry written since is perhaps this one.
                if let lastSeen, try auditEntries(after: lastSeen).contains(where: { $0.isSameEvent(as: entry) }) { return }
                let last = try connection.execute("SELECT sequence, entry FROM audit ORDER BY sequence DESC LIMIT 1").first.map { row in
                    try AuditEntry.decodeRow(sequence: Int(try row.integer(0, "audit.sequence")), entry: row.optionalText(1), position: 0)
                }
                let chained = try entry.chained(after: last)
                lastSeen = last?.sequence ?? 0
                TestStopPoint.reached("audit-append")
                if try !connection.execute("INSERT INTO audit (sequence, entry) VALUES ($1, $2) ON CONFLICT (sequence) DO NOTHING RETURNING 1",
                                           [String(chained.sequence), try StateCoding.encode(chained)]).isEmpty {
                    try TestLostAnswer.after("audit", on: connection)
                    return
                }
            }
            throw PostgresConnection.Failure(description: "could not append to the audit log: other runners appended before this one 1000 times in a row")
        }
    }

    private func auditEntries(after sequence: Int) throws -> [AuditEntry] {
        try connection.execute("SELECT sequence, entry FROM audit WHERE sequence > $1 ORDER BY sequence", [String(sequence)]).enumerated().map { index, row in
            try AuditEntry.decodeRow(sequence: Int(try row.integer(0, "audit.sequence")), entry: row.optionalText(1), position: sequence + index + 1)
        }
    }

    public func auditLog() throws -> [AuditEntry] {
        try reconnecting { try connection.execute("SELECT sequence, entry FROM audit ORDER BY sequence") }.enumerated().map { index, row in
            try AuditEntry.decodeRow(sequence: row.optionalText(0).flatMap { Int($0) }, entry: row.optionalText(1), position: index + 1)
        }
    }

    private static func lockHolder(key: String, _ row: [String?]) throws -> LockHolder {
        try LockHolder.stored(key: key, host: try row.text(0, "locks.host"), pid: try row.integer(1, "locks.pid"),
                              runID: try row.text(2, "locks.run_id"), process: try row.text(4, "locks.process"), expires: try row.number(3, "locks.expires"))
    }

    private static func runRecord(_ row: [String?]) throws -> RunRecord {
        let id = try row.text(0, "runs.id")
        let outcome = try row.optionalText(4).map { text in
            guard let outcome = RunOutcome(rawValue: text) else { throw PostgresConnection.Failure(description: "the database returned '\(ControlCharacters.escapeLine(text))' for runs.outcome of run \(ControlCharacters.escapeLine(id)), an unknown outcome: the table was changed by something other than rotor; rotor stops rather than guess") }
            return outcome
        }
        return RunRecord(id: id, key: try row.text(1, "runs.key"), started: try row.time(2, "runs.started"),
                         finished: try row.optionalText(3) == nil ? nil : row.time(3, "runs.finished"),
                         outcome: outcome, emergency: try row.boolean(5, "runs.emergency"), user: try row.text(6, "runs.user"), host: try row.text(7, "runs.host"))
    }
}
