import Foundation
import GRDB

/// The embedded state store: one SQLite file (WAL mode), made 0600 in a folder rotor
/// makes 0700.
public final class SQLiteStateStore: StateStore {
    private let pool: DatabasePool
    public let path: String
    public var localFiles: [String] { ["", "-wal", "-shm", "-journal"].map { path + $0 } }
    private let fencing = FencingTokens()

    /// Modes are set on what this creates — the folder (0700) and the file (0600) — never
    /// on a folder that was there (`--state sqlite:/tmp/state.db` must leave /tmp alone).
    /// Whether the database at `path` holds rotor's tables (its migrations ran), looked at
    /// read-only: an empty file, or another application's database, is not a state store —
    /// `rotor run` must not take it for one and rotate every key as never rotated (nor
    /// write its tables into someone else's database).
    static func holdsRotorState(path: String) throws -> Bool {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        // Every table of rotor's first migration, and that migration recorded: an application
        // with a table called `keys` (found by an attacker: GRDB's own bookkeeping and a
        // `keys` table) is not rotor's store, and nothing is migrated into it.
        return try queue.read { db in
            guard try ["grdb_migrations", "keys", "runs", "journal", "locks"].allSatisfy({ try db.tableExists($0) }) else { return false }
            let columns = Set(try db.columns(in: "journal").map(\.name))
            return try columns.isSuperset(of: ["run_id", "step", "phase"])
                && Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM grdb_migrations WHERE identifier = 'v1')") == true
        }
    }

    public init(path: String) throws {
        self.path = path
        let folder = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: folder) {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            chmod(folder, 0o700)  // the umask may have taken bits the attribute asked for
        }
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(10)
        let previousMask = umask(0o077)
        defer { umask(previousMask) }
        // Creating, switching to WAL and migrating are not safe against another rotor doing
        // the same at the same instant (two cron runs on a fresh machine: "table keys
        // already exists", found by FaultTests); the folder's lock makes them take turns.
        pool = try FolderLock.whileHolding(folder) {
            let pool = try DatabasePool(path: path, configuration: configuration)
            // GRDB sets NORMAL when it switches to WAL; a journal entry must survive a power
            // loss before rotor acts on it, so every commit is synced.
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(pool)
            return pool
        }
        // New files were made under umask 077 (SQLite gives -wal and -shm the database's mode).
    }

    /// How the writer syncs commits (`PRAGMA synchronous`: 2 is FULL).
    func writerSynchronousMode() throws -> Int {
        try pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE keys (
                    name TEXT PRIMARY KEY,
                    current TEXT,      -- JSON GenerationRecord
                    previous TEXT
                );
                CREATE TABLE runs (
                    id TEXT PRIMARY KEY,
                    key TEXT NOT NULL,
                    started REAL NOT NULL,
                    finished REAL,
                    outcome TEXT,
                    emergency INTEGER NOT NULL,
                    user TEXT NOT NULL,
                    host TEXT NOT NULL
                );
                CREATE TABLE journal (
                    run_id TEXT NOT NULL REFERENCES runs(id),
                    sequence INTEGER NOT NULL,
                    at REAL NOT NULL,
                    step TEXT NOT NULL,
                    phase TEXT NOT NULL,
                    consumer TEXT,
                    target TEXT,
                    detail TEXT NOT NULL,
                    data TEXT NOT NULL,
                    PRIMARY KEY (run_id, sequence)
                );
                CREATE TABLE locks (
                    key TEXT PRIMARY KEY,
                    host TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    run_id TEXT NOT NULL,
                    expires REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2-audit") { db in
            try db.execute(sql: """
                CREATE TABLE audit (
                    sequence INTEGER PRIMARY KEY,
                    entry TEXT NOT NULL      -- JSON AuditEntry, hash-chained
                );
                """)
        }
        migrator.registerMigration("v3-fencing") { db in
            try db.execute(sql: """
                ALTER TABLE locks ADD COLUMN token INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE fencing (next INTEGER NOT NULL);
                INSERT INTO fencing (next) VALUES (1);
                """)
        }
        migrator.registerMigration("v4-lock-process") { db in
            try db.execute(sql: "ALTER TABLE locks ADD COLUMN process TEXT NOT NULL DEFAULT ''")
        }
        return migrator
    }

    /// Refuses the write when this process holds a token for the run (or key) and the
    /// lock row no longer carries it (see `FencingTokens`).
    private func fence(_ db: Database, runID: String? = nil, key: String? = nil) throws {
        let held = try fencing.token(runID: runID, key: key) { run in
            try String.fetchOne(db.cachedStatement(sql: "SELECT key FROM runs WHERE id = ?"), arguments: [run])
        }
        guard let held else { return }
        // Cached statements: every journal entry passes here (GRDB prepares `sql:` anew each call).
        guard try Int.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM locks WHERE key = ? AND token = ?"), arguments: [held.key, held.token]) != nil else {
            throw LeaseLost(key: held.key, runID: runID ?? "holding '\(held.key)'")
        }
    }

    public func keyStates() throws -> [String: KeyState] {
        try pool.read { db in
            var states: [String: KeyState] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, current, previous FROM keys") {
                let name = try row.text("name")
                states[name] = KeyState(current: try StateCoding.decode(try row.optionalText("current"), what: "current generation of '\(name)'"),
                                        previous: try StateCoding.decode(try row.optionalText("previous"), what: "previous generation of '\(name)'"))
            }
            return states
        }
    }

    public func keyStates(holding id: String) throws -> [String: KeyState] {
        guard let needle = GenerationIDSearch.needle(id) else { return GenerationIDSearch.exact(try keyStates(), id) }
        return try pool.read { db in
            var states: [String: KeyState] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, current, previous FROM keys WHERE instr(current, ?1) > 0 OR instr(previous, ?1) > 0",
                                        arguments: [needle]) {
                let name = try row.text("name")
                states[name] = KeyState(current: try StateCoding.decode(try row.optionalText("current"), what: "current generation of '\(name)'"),
                                        previous: try StateCoding.decode(try row.optionalText("previous"), what: "previous generation of '\(name)'"))
            }
            return GenerationIDSearch.exact(states, id)
        }
    }

    public func keyState(_ key: String) throws -> KeyState? {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT current, previous FROM keys WHERE name = ?", arguments: [key]) else { return nil }
            return KeyState(current: try StateCoding.decode(try row.optionalText("current"), what: "current generation of '\(key)'"),
                            previous: try StateCoding.decode(try row.optionalText("previous"), what: "previous generation of '\(key)'"))
        }
    }

    public func saveKeyState(_ state: KeyState, for key: String) throws {
        try pool.write { db in
            try fence(db, key: key)
            try db.execute(sql: "INSERT INTO keys (name, current, previous) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET current = excluded.current, previous = excluded.previous",
                           arguments: [key, try StateCoding.encode(state.current), try StateCoding.encode(state.previous)])
        }
    }

    public func acquireLock(key: String, owner: LockOwner, lease: TimeInterval, now: Date,
                            canTakeOver: (LockHolder) -> Bool, replaced: (LockHolder) -> Void) throws -> LockAttempt {
        try pool.write { db in
            if let holder = try Self.lockHolder(db, key: key) {
                if holder.owner != owner, holder.expires > now, !canTakeOver(holder) { return .heldBy(holder) }
                if holder.owner != owner { replaced(holder) }
            }
            let token = try Int64.fetchOne(db, sql: "UPDATE fencing SET next = next + 1 RETURNING next") ?? 0
            try db.execute(sql: "INSERT INTO locks (key, host, pid, run_id, expires, token, process) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET host = excluded.host, pid = excluded.pid, run_id = excluded.run_id, expires = excluded.expires, token = excluded.token, process = excluded.process",
                           arguments: [key, owner.host, owner.pid, owner.runID, now.addingTimeInterval(lease).timeIntervalSince1970, token, owner.process])
            fencing.hold(token, key: key, runID: owner.runID)
            return .acquired
        }
    }

    public func releaseLock(key: String, owner: LockOwner) throws {
        // Only the lease this process holds: one broken by `rotor unlock` (same owner, a
        // new token) stays for the next runner to take.
        let token = fencing.token(runID: owner.runID)?.token
        try pool.write { db in
            try db.execute(sql: "DELETE FROM locks WHERE key = ? AND host = ? AND pid = ? AND run_id = ? AND (? IS NULL OR token = ?)",
                           arguments: [key, owner.host, owner.pid, owner.runID, token, token])
        }
        fencing.drop(runID: owner.runID)
    }

    public func lockHolder(key: String) throws -> LockHolder? {
        try pool.read { db in try Self.lockHolder(db, key: key) }
    }

    private static func lockHolder(_ db: Database, key: String) throws -> LockHolder? {
        try Row.fetchOne(db, sql: "SELECT host, pid, run_id, expires, process FROM locks WHERE key = ?", arguments: [key]).map { row in
            try LockHolder.stored(key: key, host: try row.text("host"), pid: try row.integer("pid"), runID: try row.text("run_id"),
                                  process: try row.text("process"), expires: try row.number("expires"))
        }
    }

    public func breakLock(key: String, held holder: LockHolder) throws -> Bool {
        let owner = holder.owner
        return try pool.write { db in
            let token = try Int64.fetchOne(db, sql: "UPDATE fencing SET next = next + 1 RETURNING next") ?? 0
            try db.execute(sql: "UPDATE locks SET token = ?, expires = 0 WHERE key = ? AND host = ? AND pid = ? AND run_id = ? AND process = ? AND expires = ?",
                           arguments: [token, key, owner.host, owner.pid, owner.runID, owner.process, holder.expires.timeIntervalSince1970])
            return db.changesCount > 0
        }
    }

    public func createRun(_ run: RunRecord) throws {
        try pool.write { db in
            try fence(db, runID: run.id)
            try db.execute(sql: "INSERT INTO runs (id, key, started, finished, outcome, emergency, user, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           arguments: [run.id, run.key, run.started.timeIntervalSince1970, run.finished?.timeIntervalSince1970,
                                       run.outcome?.rawValue, run.emergency, run.user, run.host])
        }
    }

    /// Committed together with the entries other threads append at the same time
    /// (`GroupCommit`): one transaction and one sync for all of them.
    public func append(_ entry: JournalEntry, to runID: String) throws {
        try journalCommits.commit((runID, entry.stored)) { batch in
            try pool.write { db in
                try batch.map { runID, stored in
                    do {
                        try fence(db, runID: runID)
                    } catch let lost as LeaseLost {
                        return .failure(lost)  // this run's entry only: the others are committed
                    }
                    let next = try Int.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(MAX(sequence), 0) + 1 FROM journal WHERE run_id = ?"), arguments: [runID]) ?? 1
                    try db.cachedStatement(sql: "INSERT INTO journal (run_id, sequence, at, step, phase, consumer, target, detail, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                        .execute(arguments: [runID, next, stored.at.timeIntervalSince1970, stored.step, stored.phase, stored.consumer, stored.target,
                                             stored.detail, try StateCoding.encode(stored.data)])
                    return .success(())
                }
            }
        }
    }

    private let journalCommits = GroupCommit<(runID: String, stored: JournalEntry.Stored)>()

    public func journal(of runID: String) throws -> [JournalEntry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM journal WHERE run_id = ? ORDER BY sequence", arguments: [runID]).map { row in
                let sequence = Int(try row.integer("sequence"))
                let data: [String: String] = try StateCoding.decode(try row.text("data"), what: "journal entry \(sequence) of run \(runID)") ?? [:]
                return try JournalEntry(stored: JournalEntry.Stored(sequence: sequence, at: try row.time("at"), step: try row.text("step"),
                                                                    phase: try row.text("phase"), consumer: try row.optionalText("consumer"),
                                                                    target: try row.optionalText("target"), detail: try row.text("detail"), data: data), runID: runID)
            }
        }
    }

    public func finishRun(_ runID: String, outcome: RunOutcome, at date: Date) throws {
        try pool.write { db in
            try fence(db, runID: runID)
            try db.execute(sql: "UPDATE runs SET finished = ?, outcome = ? WHERE id = ?", arguments: [date.timeIntervalSince1970, outcome.rawValue, runID])
        }
    }

    public func reopenRun(_ runID: String) throws {
        try pool.write { db in
            try fence(db, runID: runID)
            try db.execute(sql: "UPDATE runs SET finished = NULL, outcome = NULL WHERE id = ?", arguments: [runID])
        }
    }

    public func run(_ id: String) throws -> RunRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]).map(Self.runRecord) }
    }

    public func runs() throws -> [RunRecord] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY started, id").map(Self.runRecord) }
    }

    public func appendAudit(_ entry: AuditEntry) throws {
        try pool.write { db in
            let last: AuditEntry? = try StateCoding.decode(try String.fetchOne(db, sql: "SELECT entry FROM audit ORDER BY sequence DESC LIMIT 1"), what: "last audit entry")
            let chained = try entry.chained(after: last)
            try db.execute(sql: "INSERT INTO audit (sequence, entry) VALUES (?, ?)", arguments: [chained.sequence, try StateCoding.encode(chained)])
        }
    }

    public func auditLog() throws -> [AuditEntry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT sequence, entry FROM audit ORDER BY sequence").enumerated().map { index, row in
                // Read as stored: a blob or a number in the column is damage, not a crash.
                let entry: DatabaseValue = row[1]
                let sequence: DatabaseValue = row[0]
                let text: String? = if case .string(let text) = entry.storage { text } else { nil }
                let number: Int? = if case .int64(let value) = sequence.storage { Int(value) } else { nil }
                return try AuditEntry.decodeRow(sequence: number, entry: text, position: index + 1, notText: !entry.isNull && text == nil)
            }
        }
    }

    private static func runRecord(_ row: Row) throws -> RunRecord {
        let id = try row.text("id")
        let outcome = try row.optionalText("outcome").map { text in
            guard let outcome = RunOutcome(rawValue: text) else {
                throw StateCoding.Unreadable(description: "the state file holds '\(ControlCharacters.escapeLine(text))' in runs.outcome of run \(ControlCharacters.escapeLine(id)), an unknown outcome: it was edited; rotor stops rather than guess")
            }
            return outcome
        }
        return RunRecord(id: id, key: try row.text("key"), started: try row.time("started"), finished: try row.optionalTime("finished"),
                         outcome: outcome, emergency: try row.boolean("emergency"), user: try row.text("user"), host: try row.text("host"))
    }

}
