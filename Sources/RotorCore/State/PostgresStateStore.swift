import Foundation

/// The shared state store: PostgreSQL, for several runners on several machines (cron on two
/// hosts, CI jobs, a laptop in an incident). Same protocol and the same rows as SQLite;
/// per-key leases carry fencing tokens (see `FencingTokens`), checked by every write of a
/// run in the same transaction as the write.
public final class PostgresStateStore: StateStore {
    /// The schema this build writes. A database with a newer one is refused.
    static let schemaVersion = 1

    private let connection: PostgresConnection
    private let fencing = FencingTokens()
    /// The libpq URI it was opened with (may hold a password: print `StateStoreURL.redacted`).
    let url: String

    /// Connects and applies missing migrations. With `createIfMissing` false, a database
    /// rotor never wrote to gives nil and is left untouched (`plan` and `status` change nothing).
    public static func open(url: String, createIfMissing: Bool = true) throws -> PostgresStateStore? {
        // Off this machine only with the server's certificate checked (issue 23), and no
        // wait on the server without a bound.
        let bounded = PostgresURL.withTLSRule(withNetworkBounds(url))
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection(url: bounded)
            try connection.boundWaits(for: url)
        } catch {
            throw PostgresConnection.Failure(description: PostgresURL.explain(String(describing: error), url: url))
        }
        if !createIfMissing, try connection.execute("SELECT to_regclass('rotor_schema')").first?.first ?? nil == nil { return nil }
        return try PostgresStateStore(connection: connection, url: url)
    }

    private init(connection: PostgresConnection, url: String) throws {
        self.connection = connection
        self.url = url
        try migrate()
    }

    /// The URI with bounds on waiting for the network (`PostgresURL.withNetworkBounds`).
    static func withNetworkBounds(_ url: String) -> String { PostgresURL.withNetworkBounds(url) }

    private func migrate() throws {
        try connection.transaction { db in
            // One migrating rotor at a time, whichever host it runs on.
            try db.execute("SELECT pg_advisory_xact_lock(7273001)")
            try db.execute("CREATE TABLE IF NOT EXISTS rotor_schema (version integer NOT NULL)")
            let version = (try db.execute("SELECT max(version) FROM rotor_schema").first?.first ?? nil).flatMap { Int($0) } ?? 0
            if version > Self.schemaVersion {
                throw PostgresConnection.Failure(description:
                    "the state database has schema version \(version), written by a newer rotor; this rotor knows up to \(Self.schemaVersion): upgrade rotor on this host")
            }
            guard version < 1 else { return }
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
    }

    /// Refuses the write when this process holds a token for the run (or key) and the lock
    /// row no longer carries it. `FOR SHARE` keeps a takeover from committing meanwhile.
    private func fence(_ db: PostgresConnection.Transaction, runID: String? = nil, key: String? = nil) throws {
        let held = try fencing.token(runID: runID, key: key) { run in
            try db.execute("SELECT key FROM runs WHERE id = $1", [run]).first?.first ?? nil
        }
        guard let held else { return }
        let rows = try db.execute("SELECT 1 FROM locks WHERE key = $1 AND token = $2 FOR SHARE", [held.key, String(held.token)])
        if rows.isEmpty { throw LeaseLost(key: held.key, runID: runID ?? "holding '\(held.key)'") }
    }

    public func keyStates() throws -> [String: KeyState] {
        var states: [String: KeyState] = [:]
        for row in try connection.execute("SELECT name, current, previous FROM keys") {
            let name = row[0] ?? ""
            states[name] = KeyState(current: try StateCoding.decode(row[1], what: "current generation of '\(name)'"),
                                    previous: try StateCoding.decode(row[2], what: "previous generation of '\(name)'"))
        }
        return states
    }

    public func saveKeyState(_ state: KeyState, for key: String) throws {
        try connection.transaction { db in
            try fence(db, key: key)
            try db.execute("INSERT INTO keys (name, current, previous) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET current = excluded.current, previous = excluded.previous",
                           [key, try StateCoding.encode(state.current), try StateCoding.encode(state.previous)])
        }
    }

    public func acquireLock(key: String, owner: LockOwner, lease: TimeInterval, now: Date,
                            canTakeOver: (LockHolder) -> Bool) throws -> LockAttempt {
        let attempt: LockAttempt = try connection.transaction { db in
            try db.execute("SELECT pg_advisory_xact_lock(hashtext($1))", [key])
            if let row = try db.execute("SELECT host, pid, run_id, expires FROM locks WHERE key = $1 FOR UPDATE", [key]).first {
                let holder = LockHolder(owner: LockOwner(host: row[0] ?? "", pid: Int32(row[1] ?? "") ?? 0, runID: row[2] ?? ""),
                                        expires: Date(timeIntervalSince1970: Double(row[3] ?? "") ?? 0))
                if holder.owner != owner, holder.expires > now, !canTakeOver(holder) { return .heldBy(holder) }
            }
            let token = (try db.execute("SELECT nextval('rotor_fencing_tokens')").first?.first ?? nil).flatMap { Int64($0) } ?? 0
            try db.execute("INSERT INTO locks (key, host, pid, run_id, expires, token) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO UPDATE SET host = excluded.host, pid = excluded.pid, run_id = excluded.run_id, expires = excluded.expires, token = excluded.token",
                           [key, owner.host, String(owner.pid), owner.runID, String(now.addingTimeInterval(lease).timeIntervalSince1970), String(token)])
            fencing.hold(token, key: key, runID: owner.runID)
            return .acquired
        }
        return attempt
    }

    public func releaseLock(key: String, owner: LockOwner) throws {
        try connection.execute("DELETE FROM locks WHERE key = $1 AND host = $2 AND pid = $3 AND run_id = $4",
                               [key, owner.host, String(owner.pid), owner.runID])
        fencing.drop(runID: owner.runID)
    }

    public func createRun(_ run: RunRecord) throws {
        try connection.transaction { db in
            try fence(db, runID: run.id)
            try db.execute("INSERT INTO runs (id, key, started, finished, outcome, emergency, \"user\", host) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                           [run.id, run.key, String(run.started.timeIntervalSince1970), run.finished.map { String($0.timeIntervalSince1970) },
                            run.outcome?.rawValue, run.emergency ? "true" : "false", run.user, run.host])
        }
    }

    public func append(_ entry: JournalEntry, to runID: String) throws {
        let stored = entry.stored
        try connection.transaction { db in
            try fence(db, runID: runID)
            try db.execute("""
                INSERT INTO journal (run_id, sequence, at, step, phase, consumer, target, detail, data)
                SELECT $1, COALESCE(MAX(sequence), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM journal WHERE run_id = $1
                """, [runID, String(stored.at.timeIntervalSince1970), stored.step, stored.phase, stored.consumer, stored.target,
                      stored.detail, try StateCoding.encode(stored.data)])
        }
    }

    public func journal(of runID: String) throws -> [JournalEntry] {
        try connection.execute("SELECT sequence, at, step, phase, consumer, target, detail, data FROM journal WHERE run_id = $1 ORDER BY sequence", [runID]).map { row in
            let sequence = Int(row[0] ?? "") ?? 0
            let data: [String: String] = try StateCoding.decode(row[7], what: "journal entry \(sequence) of run \(runID)") ?? [:]
            return try JournalEntry(stored: JournalEntry.Stored(sequence: sequence, at: Date(timeIntervalSince1970: Double(row[1] ?? "") ?? 0),
                                                                step: row[2] ?? "", phase: row[3] ?? "", consumer: row[4], target: row[5],
                                                                detail: row[6] ?? "", data: data), runID: runID)
        }
    }

    public func finishRun(_ runID: String, outcome: RunOutcome, at date: Date) throws {
        try connection.transaction { db in
            try fence(db, runID: runID)
            try db.execute("UPDATE runs SET finished = $1, outcome = $2 WHERE id = $3", [String(date.timeIntervalSince1970), outcome.rawValue, runID])
        }
    }

    public func reopenRun(_ runID: String) throws {
        try connection.transaction { db in
            try fence(db, runID: runID)
            try db.execute("UPDATE runs SET finished = NULL, outcome = NULL WHERE id = $1", [runID])
        }
    }

    private static let runColumns = "id, key, started, finished, outcome, emergency, \"user\", host"

    public func run(_ id: String) throws -> RunRecord? {
        try connection.execute("SELECT \(Self.runColumns) FROM runs WHERE id = $1", [id]).first.map(Self.runRecord)
    }

    public func runs() throws -> [RunRecord] {
        try connection.execute("SELECT \(Self.runColumns) FROM runs ORDER BY started, id").map(Self.runRecord)
    }

    public func appendAudit(_ entry: AuditEntry) throws {
        try connection.transaction { db in
            // One writer of the chain at a time, across every host.
            try db.execute("LOCK TABLE audit IN EXCLUSIVE MODE")
            let last: AuditEntry? = try StateCoding.decode(try db.execute("SELECT entry FROM audit ORDER BY sequence DESC LIMIT 1").first?.first ?? nil, what: "last audit entry")
            var chained = entry
            chained.sequence = (last?.sequence ?? 0) + 1
            chained.previousHash = last?.hash ?? ""
            chained.hash = chained.computedHash()
            try db.execute("INSERT INTO audit (sequence, entry) VALUES ($1, $2)", [String(chained.sequence), try StateCoding.encode(chained)])
        }
    }

    public func auditLog() throws -> [AuditEntry] {
        try connection.execute("SELECT sequence, entry FROM audit ORDER BY sequence").enumerated().map { index, row in
            try AuditEntry.decodeRow(sequence: row[0].flatMap { Int($0) }, entry: row[1], position: index + 1)
        }
    }

    private static func runRecord(_ row: [String?]) -> RunRecord {
        RunRecord(id: row[0] ?? "", key: row[1] ?? "", started: Date(timeIntervalSince1970: Double(row[2] ?? "") ?? 0),
                  finished: row[3].flatMap(Double.init).map(Date.init(timeIntervalSince1970:)),
                  outcome: row[4].flatMap(RunOutcome.init(rawValue:)), emergency: row[5] == "t", user: row[6] ?? "", host: row[7] ?? "")
    }
}
