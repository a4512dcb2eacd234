import Foundation

/// Where rotor keeps what it knows between runs: each key's current and previous
/// generation (ids and fingerprints, never secrets), every run with its write-ahead
/// journal, and per-key locks with fencing tokens. SQLite is the embedded default;
/// PostgreSQL is shared by runners on several hosts.
public protocol StateStore: AnyObject, Sendable {
    func keyStates() throws -> [String: KeyState]
    /// One key's state (nil: none recorded): one row read, so that the steps of a run that
    /// each read their key's state cost O(1), not O(keys) (issue 20: `run` over 1,000 keys
    /// decoded every key's state for each key).
    func keyState(_ key: String) throws -> KeyState?
    /// The states of the keys whose current or previous generation is `id`: found in the
    /// database, not by decoding every key's state (`adopt --all` over 10,000 keys asked
    /// for every state once per key and took a quarter of an hour).
    func keyStates(holding id: String) throws -> [String: KeyState]
    func saveKeyState(_ state: KeyState, for key: String) throws

    /// Takes the key's lock for `lease` seconds, or reports who holds it. A held lock is
    /// taken over when it has expired or when `canTakeOver` says its owner is gone; then
    /// `replaced` hears whose lease this one replaces (its run may be unfinished).
    func acquireLock(key: String, owner: LockOwner, lease: TimeInterval, now: Date,
                     canTakeOver: (LockHolder) -> Bool, replaced: (LockHolder) -> Void) throws -> LockAttempt
    func releaseLock(key: String, owner: LockOwner) throws
    /// Who holds the key's lock, its lease expired or not; nil when no one does.
    func lockHolder(key: String) throws -> LockHolder?
    /// `rotor unlock`: ends the lease `holder` describes (owner, its identity and expiry,
    /// as `lockHolder` read it) and replaces its fencing token, so that owner can write
    /// nothing more, wherever it runs. False when the lease is no longer that one (released,
    /// renewed or taken over meanwhile).
    func breakLock(key: String, held holder: LockHolder) throws -> Bool

    func createRun(_ run: RunRecord) throws
    /// Appends to a run's journal; committed (durable) when this returns.
    func append(_ entry: JournalEntry, to runID: String) throws
    func journal(of runID: String) throws -> [JournalEntry]
    func finishRun(_ runID: String, outcome: RunOutcome, at date: Date) throws
    /// Marks a finished run unfinished again (`rotor rollback RUN` undoing it), so that a
    /// crash during the undo is found and finished by recovery.
    func reopenRun(_ runID: String) throws
    func run(_ id: String) throws -> RunRecord?
    func runs() throws -> [RunRecord]

    /// Appends to the audit log, chaining the entry to the last one (sequence and hashes
    /// are set by the store, in one transaction).
    func appendAudit(_ entry: AuditEntry) throws
    func auditLog() throws -> [AuditEntry]
    /// The store's files on this machine (an SQLite database, its WAL…): `rotor scan`
    /// never reports on them. None for a server.
    var localFiles: [String] { get }
}

/// Who holds a lock: a process on a host.
public struct LockOwner: Sendable, Equatable, Codable {
    public var host: String
    public var pid: Int32
    public var runID: String
    /// Boot, pid namespace and start time of the process (`ProcessIdentity`); "" when unknown.
    public var process: String

    public init(host: String, pid: Int32, runID: String, process: String = "") {
        self.host = host
        self.pid = pid
        self.runID = runID
        self.process = process
    }

    public static func current(runID: String) -> LockOwner {
        LockOwner(host: ProcessInfo.processInfo.hostName, pid: ProcessInfo.processInfo.processIdentifier, runID: runID,
                  process: ProcessIdentity.current)
    }
}

public struct LockHolder: Sendable, Equatable {
    public var owner: LockOwner
    public var expires: Date

    /// Broken by `rotor unlock` (`StateStore.breakLock` ends the lease at 1970 exactly).
    public var freedByPerson: Bool { expires.timeIntervalSince1970 == 0 }

    /// "lease until …", "lease expired …" or "freed by 'rotor unlock'".
    func lease(at now: Date) -> String {
        if freedByPerson { return "freed by 'rotor unlock'" }
        return expires > now ? "lease until \(DateFormatting.iso8601(expires))" : "lease expired \(DateFormatting.iso8601(expires))"
    }
}

extension LockHolder {
    /// A lock row as a store read it, refused unless it has the shape rotor writes: a
    /// process id above 0 (`kill(0)`/`kill(-1)` would speak for every process) and a time
    /// in 1970–2286 (one outside cannot even be printed).
    static func stored(key: String, host: String, pid: Int64, runID: String, process: String, expires: Double) throws -> LockHolder {
        guard pid > 0, let pid = Int32(exactly: pid) else {
            throw StateCoding.Unreadable(description: "the lock of '\(ControlCharacters.escapeLine(key))' names process \(pid), which rotor never writes: the locks table was edited")
        }
        guard StateCoding.isStoredTime(expires) else {
            throw StateCoding.Unreadable(description: "the lock of '\(ControlCharacters.escapeLine(key))' expires at \(expires) s after 1970, which rotor never writes: the locks table was edited")
        }
        return LockHolder(owner: LockOwner(host: host, pid: pid, runID: runID, process: process), expires: Date(timeIntervalSince1970: expires))
    }
}

public enum LockAttempt: Sendable, Equatable {
    case acquired
    case heldBy(LockHolder)
}

public enum RunOutcome: String, Sendable, Codable {
    /// Every consumer switched; the old generation deleted or pending deletion.
    case completed
    /// A failure undone: every consumer back on the old generation, the new one deleted.
    case rolledBack = "rolled-back"
    /// Nothing was created or touched (preflight, provider create or verify-key failed).
    case failed
    /// Something could not be undone or finished: the journal says what is left.
    case needsPerson = "needs-person"
    /// Still running in another live process (reported by `recover`, never stored).
    case inProgress = "in-progress"
}

extension RunOutcome {
    /// The worse of two outcomes: needs-person, then failed and rolled-back, then completed.
    public func worst(_ other: RunOutcome) -> RunOutcome {
        func rank(_ outcome: RunOutcome) -> Int {
            switch outcome {
            case .completed: 0
            case .rolledBack: 1
            case .failed: 2
            case .inProgress: 3
            case .needsPerson: 4
            }
        }
        return rank(other) > rank(self) ? other : self
    }
}

/// One run of the workflow for one key.
public struct RunRecord: Sendable, Equatable, Codable {
    public var id: String
    public var key: String
    public var started: Date
    public var finished: Date?
    public var outcome: RunOutcome?
    public var emergency: Bool
    public var user: String
    public var host: String

    public init(id: String, key: String, started: Date, finished: Date? = nil, outcome: RunOutcome? = nil,
                emergency: Bool, user: String, host: String) {
        self.id = id
        self.key = key
        self.started = started
        self.finished = finished
        self.outcome = outcome
        self.emergency = emergency
        self.user = user
        self.host = host
    }
}

extension RunRecord {
    /// A run this process starts now: the user and host are the current ones.
    static func starting(id: String, key: String, at date: Date, emergency: Bool) -> RunRecord {
        RunRecord(id: id, key: key, started: date, emergency: emergency, user: CurrentUser.name, host: ProcessInfo.processInfo.hostName)
    }
}

/// Opens the store a `--state` URL names.
public enum StateStoreURL {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
        /// True when the store's file exists but cannot be opened (unreadable, corrupt):
        /// rotor cannot tell whether a run was interrupted there. (A PostgreSQL server that
        /// refuses or cannot be reached is a failure to connect, exit 1, as before.)
        public var storeUnavailable = false
    }

    /// A store and the local folder for run backups (beside an SQLite file; `.rotor/` otherwise).
    public struct Opened {
        public var store: any StateStore
        public var stateFolder: String
    }

    /// `sqlite:PATH` (relative to `workingDirectory`; the default is `sqlite:.rotor/state.db`)
    /// or `postgres://USER@HOST:PORT/DB` (any libpq URI; the password from PGPASSWORD or
    /// ~/.pgpass; TLS when the server offers it).
    /// With `createIfMissing` false, a missing SQLite file, an empty one or another
    /// application's database (or a PostgreSQL database rotor never wrote to) gives nil
    /// (nothing recorded yet)
    /// instead of creating one: `plan` and `status` must change nothing.
    public static func open(_ url: String?, workingDirectory: String, createIfMissing: Bool = true) throws -> Opened? {
        let text = url ?? defaultURL
        if text.hasPrefix("sqlite:") {
            let path = sqlitePath(text)
            guard !path.isEmpty else { throw Problem(description: "--state \(text): name a file, e.g. sqlite:.rotor/state.db") }
            let absolute = PathNormalizer.normalize(path.hasPrefix("/") ? path : workingDirectory + "/" + path)
            var isFolder: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: absolute, isDirectory: &isFolder)
            if exists, isFolder.boolValue {
                throw Problem(description: "--state \(text): \(path) is a folder, not a state database; name the file, e.g. sqlite:\(path.hasSuffix("/") ? path : path + "/")state.db")
            }
            if !createIfMissing, !exists { return nil }
            do {
                if !createIfMissing, try !SQLiteStateStore.holdsRotorState(path: absolute) { return nil }
                return Opened(store: try SQLiteStateStore(path: absolute), stateFolder: (absolute as NSString).deletingLastPathComponent)
            } catch {
                throw Problem(description: "--state \(text): cannot open the state database: \(error)", storeUnavailable: true)
            }
        }
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            // Backups of target files stay on this host, beside the working directory.
            let folder = PathNormalizer.normalize(workingDirectory + "/.rotor")
            do {
                guard let store = try PostgresStateStore.open(url: text, createIfMissing: createIfMissing) else { return nil }
                return Opened(store: store, stateFolder: folder)
            } catch {
                throw Problem(description: "--state \(redacted(text)): cannot use the state database: \(error)")
            }
        }
        throw Problem(description: "--state \(redacted(text)): unknown kind of store; use sqlite:PATH or postgres://USER@HOST:PORT/DB")
    }

    /// The files of the SQLite store a URL names (the database, its WAL, shared memory and
    /// rollback journal), absolute; none for PostgreSQL.
    public static func sqliteFiles(_ url: String?, workingDirectory: String) -> [String] {
        let text = url ?? defaultURL
        let path = text.hasPrefix("sqlite:") ? sqlitePath(text) : ""
        guard !path.isEmpty else { return [] }
        let absolute = PathNormalizer.normalize(path.hasPrefix("/") ? path : workingDirectory + "/" + path)
        return [absolute, absolute + "-wal", absolute + "-shm", absolute + "-journal"]
    }

    /// `sqlite:PATH` or `sqlite://PATH` → PATH as written.
    private static func sqlitePath(_ text: String) -> String {
        let path = String(text.dropFirst("sqlite:".count))
        return path.hasPrefix("//") ? String(path.dropFirst(2)) : path
    }

    /// `--state` when neither it nor `ROTOR_STATE` is given.
    public static let defaultURL = "sqlite:.rotor/state.db"

    /// Where the URL holds a password, split as libpq splits it (found by an attacker): the
    /// user part runs to the first `@` met before any `/` — a `?` inside it included — and
    /// its password follows the first `:`; a query parameter is named after
    /// percent-decoding (`pass%77ord=` is `password=`), in any case.
    private static func passwordRanges(in url: String) -> [Range<String.Index>] {
        guard let scheme = url.range(of: "://") else { return [] }
        var ranges: [Range<String.Index>] = []
        var rest = url[scheme.upperBound...]
        if let at = rest.firstIndex(where: { $0 == "@" || $0 == "/" }), rest[at] == "@" {
            if let colon = rest[..<at].firstIndex(of: ":") { ranges.append(url.index(after: colon)..<at) }
            rest = rest[url.index(after: at)...]
        }
        guard let question = rest.firstIndex(of: "?") else { return ranges }
        for parameter in rest[url.index(after: question)...].split(separator: "&") {
            guard let equals = parameter.firstIndex(of: "="),
                  (String(parameter[..<equals]).removingPercentEncoding ?? String(parameter[..<equals])).lowercased() == "password" else { continue }
            ranges.append(url.index(after: equals)..<parameter.endIndex)
        }
        return ranges
    }

    /// Every password written into the URL, as written and percent-decoded: what must not
    /// leave in an error that quotes the URL or a piece of it (libpq's parse errors do).
    static func passwords(in url: String) -> [String] {
        let written = passwordRanges(in: url).map { String(url[$0]) }
        let found = written + written.compactMap { $0.removingPercentEncoding }
        return Array(Set(found.filter { !$0.isEmpty })).sorted { $0.count > $1.count }
    }

    /// `text` with every password of `url` masked.
    static func scrubbing(_ text: String, of url: String) -> String {
        passwords(in: url).reduce(text) { $0.replacingOccurrences(of: $1, with: "***") }
    }

    /// The URL as rotor prints it: every password written into it masked in place
    /// (`user:***@`, `password=***`). Passwords belong in PGPASSWORD or ~/.pgpass, never in
    /// the URL.
    public static func redacted(_ url: String) -> String {
        var text = url
        for range in passwordRanges(in: url).reversed() {
            text.replaceSubrange(range, with: "***")
        }
        return text
    }
}

extension StateStore {
    public var localFiles: [String] { [] }

    /// `acquireLock` for a caller that does not ask whose lease it replaced.
    public func acquireLock(key: String, owner: LockOwner, lease: TimeInterval, now: Date,
                            canTakeOver: (LockHolder) -> Bool) throws -> LockAttempt {
        try acquireLock(key: key, owner: owner, lease: lease, now: now, canTakeOver: canTakeOver, replaced: { _ in })
    }
}

/// How `keyStates(holding:)` searches: the stored JSON holds the id as `JSONEncoder`
/// writes it, so the longest piece of the id that it never escapes is searched as text
/// (a superset of the rows), and the rows found are decoded and compared exactly.
enum GenerationIDSearch {
    /// The text to look for, or nil when the id has no piece safe to look for (then every
    /// row is read).
    static func needle(_ id: String) -> String? {
        // Printable ASCII only: whatever else the encoder might escape is never searched for.
        let pieces = id.unicodeScalars.split(omittingEmptySubsequences: true) { scalar in
            !(0x20..<0x7F).contains(scalar.value) || scalar == "\"" || scalar == "\\" || scalar == "/"
        }
        return pieces.max(by: { $0.count < $1.count }).map { String(String.UnicodeScalarView($0)) }
    }

    /// `candidates` narrowed to the keys whose current or previous generation is `id`.
    static func exact(_ candidates: [String: KeyState], _ id: String) -> [String: KeyState] {
        candidates.filter { $0.value.current?.id == id || $0.value.previous?.id == id }
    }
}
