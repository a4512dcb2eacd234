import Foundation
import Testing
@testable import RotorCore

/// The contract every state store keeps, run against each implementation.
@Suite struct StateStoreTests {
    /// PostgreSQL joins when a server is there: `scripts/test` starts one and sets
    /// ROTOR_TEST_POSTGRES (`scripts/postgres-test-server`).
    static let postgres = ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES"]
    static let stores: [String] = ["sqlite"] + (postgres == nil ? [] : ["postgres"])

    /// Without a server the PostgreSQL half of every contract test above drops out of its
    /// arguments; this says so, as a skip with its reason (and fails in CI, which must run it).
    @Test(.enabled(if: postgres != nil || ProcessInfo.processInfo.environment["CI"] != nil,
                   "the PostgreSQL half of the state-store contract needs ROTOR_TEST_POSTGRES (scripts/test starts a server when run as root)"))
    func thePostgreSQLStoreKeepsTheSameContract() {
        #expect(Self.stores == ["sqlite", "postgres"], "CI must run every contract test against PostgreSQL too")
    }

    /// A fresh store: a new SQLite file, or a new PostgreSQL database.
    func makeStore(_ kind: String, in folder: TemporaryFolder) throws -> any StateStore {
        switch kind {
        case "postgres": return try #require(try PostgresStateStore.open(url: Self.freshDatabase()))
        default: return try SQLiteStateStore(path: folder.path + "/state/state.db")
        }
    }

    /// A URL of a new, empty database on the test server.
    static func freshDatabase() throws -> String {
        let base = try #require(postgres)
        let name = "rotor_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        try PostgresConnection(url: base).execute("CREATE DATABASE \(name)")
        return String(base[..<base.lastIndex(of: "/")!]) + "/" + name
    }

    /// Issue 20: one key's state is one row read, the same as in every key's.
    @Test(arguments: stores)
    func oneKeysStateIsReadAlone(_ kind: String) throws {
        let folder = try TemporaryFolder()
        let store = try makeStore(kind, in: folder)
        #expect(try store.keyState("k") == nil)
        for (key, id) in [("k", "g1"), ("other", "g2")] {
            let owner = LockOwner(host: "h", pid: 1, runID: "r-\(key)")
            #expect(try store.acquireLock(key: key, owner: owner, lease: 60, now: now, canTakeOver: { _ in false }) == .acquired)
            try store.saveKeyState(KeyState(current: GenerationRecord(id: id, fingerprint: Fingerprint.of(id), created: now),
                                            previous: GenerationRecord(id: id + "-old", fingerprint: Fingerprint.of(id + "-old"), created: now, pendingDeletionAt: now)),
                                   for: key)
        }
        #expect(try store.keyState("k") == store.keyStates()["k"] && store.keyState("k")?.current?.id == "g1")
        #expect(try store.keyState("other")?.previous?.id == "g2-old" && store.keyState("nope") == nil)
    }

    /// Issue 20: the keys holding a generation id are found by the database, exactly: ids
    /// that JSON escapes (a slash, a quote, a backslash, a control character), non-ASCII
    /// ones, and an id that is part of another key's longer id.
    @Test(arguments: stores)
    func theKeysHoldingAGenerationAreFoundByItsID(_ kind: String) throws {
        let folder = try TemporaryFolder()
        let store = try makeStore(kind, in: folder)
        let ids: [(key: String, current: String, previous: String?)] = [
            ("plain", "ak-123", nil), ("longer", "ak-1234", "ak-12"), ("slash", "projects/p/keys/k1", "a\"b\\c"),
            ("unicode", "clé-ü-1", "tab\there"), ("only-escapes", "/\"/", nil),
        ]
        for (key, current, previous) in ids {
            let owner = LockOwner(host: "h", pid: 1, runID: "r-\(key)")
            #expect(try store.acquireLock(key: key, owner: owner, lease: 60, now: now, canTakeOver: { _ in false }) == .acquired)
            try store.saveKeyState(KeyState(current: GenerationRecord(id: current, fingerprint: Fingerprint.of(current), created: now),
                                            previous: previous.map { GenerationRecord(id: $0, fingerprint: Fingerprint.of($0), created: now) }), for: key)
        }
        func holders(_ id: String) throws -> [String] { try store.keyStates(holding: id).keys.sorted() }
        #expect(try holders("ak-123") == ["plain"])
        #expect(try holders("ak-12") == ["longer"])
        #expect(try holders("ak-1") == [])
        #expect(try holders("projects/p/keys/k1") == ["slash"])
        #expect(try holders("a\"b\\c") == ["slash"])
        #expect(try holders("clé-ü-1") == ["unicode"])
        #expect(try holders("tab\there") == ["unicode"])
        #expect(try holders("/\"/") == ["only-escapes"])
        #expect(try holders("nobody") == [])
        #expect(try store.keyStates(holding: "ak-1234") == ["longer": try #require(try store.keyState("longer"))])
    }

    /// Two runners share one store; the first is paused past its lease and taken over.
    /// Its next writes — journal, run record, key state — are refused, whichever store.
    @Test(arguments: stores)
    func aRunnerWhoseLeaseWasTakenOverCannotWrite(_ kind: String) throws {
        let folder = try TemporaryFolder()
        let store = try makeStore(kind, in: folder)
        // The second runner: another connection (PostgreSQL) or another open of the file (SQLite).
        let other: any StateStore = kind == "postgres" ? try #require(try PostgresStateStore.open(url: (store as! PostgresStateStore).url))
            : try SQLiteStateStore(path: folder.path + "/state/state.db")
        let late = LockOwner(host: "a", pid: 1, runID: "late"), taker = LockOwner(host: "b", pid: 2, runID: "taker")
        #expect(try store.acquireLock(key: "k", owner: late, lease: 60, now: now, canTakeOver: { _ in false }) == .acquired)
        try store.createRun(RunRecord(id: "late", key: "k", started: now, emergency: false, user: "ops", host: "a"))
        try store.append(JournalEntry(at: now, step: .create, phase: .intent, detail: "before the pause", facts: JournalFacts(name: "k-1")), to: "late")
        // "late" sleeps past its lease; "taker" takes the key over and recovers.
        #expect(try other.acquireLock(key: "k", owner: taker, lease: 60, now: now.addingTimeInterval(61), canTakeOver: { _ in false }) == .acquired)
        try other.createRun(RunRecord(id: "taker", key: "k", started: now.addingTimeInterval(61), emergency: false, user: "ops", host: "b"))
        try other.finishRun("late", outcome: .rolledBack, at: now.addingTimeInterval(62))
        // "late" wakes up: every write is refused.
        #expect(throws: LeaseLost.self) { try store.append(JournalEntry(at: now.addingTimeInterval(63), step: .update, phase: .intent, consumer: "c", target: "t", detail: "after", facts: JournalFacts(targetIndex: 0)), to: "late") }
        #expect(throws: LeaseLost.self) { try store.saveKeyState(KeyState(), for: "k") }
        #expect(throws: LeaseLost.self) { try store.finishRun("late", outcome: .completed, at: now.addingTimeInterval(64)) }
        #expect(try other.journal(of: "late").map(\.detail) == ["before the pause"])
        #expect(try other.run("late")?.outcome == .rolledBack)
        // The taker writes freely, into its own run and into the run it took over.
        try other.saveKeyState(KeyState(), for: "k")
        try other.append(JournalEntry(at: now.addingTimeInterval(65), step: .start, phase: .info, detail: "recovering", facts: JournalFacts(emergency: false)), to: "taker")
        try other.append(JournalEntry(at: now.addingTimeInterval(65), step: .restore, phase: .intent, target: "t", detail: "undo", facts: JournalFacts(backup: "/b")), to: "late")
        // Until it is taken over in turn: then its writes into either run are refused too.
        let third = LockOwner(host: "c", pid: 3, runID: "third")
        #expect(try store.acquireLock(key: "k", owner: third, lease: 60, now: now.addingTimeInterval(200), canTakeOver: { _ in false }) == .acquired)
        #expect(throws: LeaseLost.self) { try other.append(JournalEntry(at: now.addingTimeInterval(201), step: .restore, phase: .done, target: "t", detail: "late write"), to: "late") }
        #expect(throws: LeaseLost.self) { try other.append(JournalEntry(at: now.addingTimeInterval(201), step: .recover, phase: .info, detail: "late write"), to: "taker") }
    }

    /// `rotor unlock`: a lease broken by a person fences its holder out at once (its lease
    /// unexpired), and the next runner takes the key as it takes an expired lease. Breaking
    /// a lease someone else holds by now changes nothing.
    @Test(arguments: stores)
    func aBrokenLockFencesItsHolderOut(_ kind: String) throws {
        let folder = try TemporaryFolder()
        let store = try makeStore(kind, in: folder)
        let gone = LockOwner(host: "gone", pid: 7, runID: "gone"), next = LockOwner(host: "here", pid: 8, runID: "next")
        #expect(try store.acquireLock(key: "k", owner: gone, lease: 900, now: now, canTakeOver: { _ in false }) == .acquired)
        try store.createRun(RunRecord(id: "gone", key: "k", started: now, emergency: false, user: "ops", host: "gone"))
        #expect(try store.lockHolder(key: "k")?.owner == gone)
        #expect(try store.lockHolder(key: "other") == nil)

        let held = try #require(try store.lockHolder(key: "k"))
        #expect(try store.breakLock(key: "k", held: LockHolder(owner: next, expires: held.expires)) == false, "not the holder: nothing changes")
        var renewed = held
        renewed.expires = held.expires.addingTimeInterval(1)
        #expect(try store.breakLock(key: "k", held: renewed) == false, "not the lease that was read (found by an attacker): nothing changes")
        #expect(try store.breakLock(key: "k", held: held))
        #expect(throws: LeaseLost.self) { try store.saveKeyState(KeyState(), for: "k") }
        #expect(throws: LeaseLost.self) { try store.append(JournalEntry(at: now, step: .start, phase: .info, detail: "woke up", facts: JournalFacts(emergency: false)), to: "gone") }
        #expect(try store.lockHolder(key: "k").map { $0.expires <= now } == true, "its lease is over")
        try store.releaseLock(key: "k", owner: gone)
        #expect(try store.lockHolder(key: "k")?.owner == gone, "the fenced holder's release leaves the broken lease alone")
        let other: any StateStore = kind == "postgres" ? try #require(try PostgresStateStore.open(url: (store as! PostgresStateStore).url))
            : try SQLiteStateStore(path: folder.path + "/state/state.db")
        #expect(try other.acquireLock(key: "k", owner: next, lease: 60, now: now.addingTimeInterval(1), canTakeOver: { _ in false }) == .acquired)
        try other.saveKeyState(KeyState(), for: "k")
    }

    @Test(.enabled(if: postgres != nil, "needs ROTOR_TEST_POSTGRES"))
    func aDatabaseWithANewerSchemaIsRefused() throws {
        let url = try Self.freshDatabase()
        _ = try PostgresStateStore.open(url: url)
        try PostgresConnection(url: url).execute("INSERT INTO rotor_schema (version) VALUES (99)")
        #expect { try PostgresStateStore.open(url: url) } throws: { "\($0)".contains("schema version 99, written by a newer rotor") }
        // plan and status change nothing: an untouched database is not given a schema.
        let untouched = try Self.freshDatabase()
        #expect(try PostgresStateStore.open(url: untouched, createIfMissing: false) == nil)
        #expect(try PostgresConnection(url: untouched).execute("SELECT to_regclass('rotor_schema')") == [[nil]])
    }

    @Test func postgresURLsGetNetworkBoundsUnlessTheySetThem() {
        #expect(PostgresStateStore.withNetworkBounds("postgres://r@h/db")
                == "postgres://r@h/db?connect_timeout=10&keepalives_count=3&keepalives_idle=10&keepalives_interval=5&tcp_user_timeout=15000")
        #expect(PostgresStateStore.withNetworkBounds("postgres://r@h/db?sslmode=require&connect_timeout=3")
                == "postgres://r@h/db?sslmode=require&connect_timeout=3&keepalives_count=3&keepalives_idle=10&keepalives_interval=5&tcp_user_timeout=15000")
    }

    @Test func passwordsInStateURLsAreMasked() {
        #expect(StateStoreURL.redacted("postgres://ops:s3cret@db.internal:5432/rotor") == "postgres://ops:***@db.internal:5432/rotor")
        #expect(StateStoreURL.redacted("postgres://ops@db.internal/rotor") == "postgres://ops@db.internal/rotor")
        #expect(StateStoreURL.redacted("sqlite:.rotor/state.db") == "sqlite:.rotor/state.db")
        // Found by an attacker (#22): libpq also takes the password as a query parameter.
        #expect(StateStoreURL.redacted("postgres://rotor@127.0.0.1:5432/r?password=pwsecret") == "postgres://rotor@127.0.0.1:5432/r?password=***")
        #expect(StateStoreURL.redacted("postgresql://h/r?sslmode=require&PassWord=a%26b&user=x") == "postgresql://h/r?sslmode=require&PassWord=***&user=x")
        #expect(StateStoreURL.redacted("postgres://u:p@h/r?password=q") == "postgres://u:***@h/r?password=***")
        #expect(StateStoreURL.redacted("postgres://h/r?application_name=a:b@c") == "postgres://h/r?application_name=a:b@c")
        // Found by an attacker (#23): a `?` inside the password (libpq reads the user part up
        // to the `@`), and a percent-encoded parameter name.
        #expect(StateStoreURL.redacted("postgres://h42q:CANARY?pw9@127.0.0.1:5432/postgres") == "postgres://h42q:***@127.0.0.1:5432/postgres")
        #expect(StateStoreURL.redacted("postgres://u@h/db?pass%77ord=CANARY%3Fpw9") == "postgres://u@h/db?pass%77ord=***")
        // libpq quotes the URL, or the password, in its parse errors (found by an attacker).
        #expect(StateStoreURL.scrubbing("invalid percent-encoded token: \"S3cret%PW\"", of: "postgres://rotor:S3cret%PW@h/db") == "invalid percent-encoded token: \"***\"")
        #expect(StateStoreURL.scrubbing("token: \"S3cretPW%ZZ\"", of: "postgres://r@h/db?pass%77ord=S3cretPW%ZZ") == "token: \"***\"")
        #expect(StateStoreURL.scrubbing("in URI: \"postgresql://rotor:S3cretPW@[::1:127.0.0.1:5/db\"", of: "postgresql://rotor:S3cretPW@[::1:127.0.0.1:5/db")
                == "in URI: \"postgresql://rotor:***@[::1:127.0.0.1:5/db\"")
        #expect(StateStoreURL.scrubbing("a b", of: "postgres://u:p%41@h/db?password=x%42") == "a b")
        #expect(StateStoreURL.passwords(in: "postgres://u:p%41@h/db?password=x%42").sorted() == ["pA", "p%41", "xB", "x%42"].sorted())
    }

    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: stores)
    func keyStatesRoundTrip(_ kind: String) throws {
        let folder = try TemporaryFolder()
        let store = try makeStore(kind, in: folder)
        #expect(try store.keyStates().isEmpty)
        let current = GenerationRecord(id: "g2", fingerprint: "sha256:222222222222", created: now)
        let previous = GenerationRecord(id: "g1", fingerprint: "sha256:111111111111", created: now.addingTimeInterval(-60), pendingDeletionAt: now.addingTimeInterval(3600))
        try store.saveKeyState(KeyState(current: current, previous: previous), for: "k")
        #expect(try store.keyStates() == ["k": KeyState(current: current, previous: previous)])
        try store.saveKeyState(KeyState(current: current, previous: nil), for: "k")
        #expect(try store.keyStates()["k"]?.previous == nil)
    }

    @Test(arguments: stores)
    func locksAreExclusiveUntilReleasedExpiredOrAbandoned(_ kind: String) throws {
        let folder = try TemporaryFolder()
        let store = try makeStore(kind, in: folder)
        let first = LockOwner(host: "a", pid: 1, runID: "r1"), second = LockOwner(host: "b", pid: 2, runID: "r2")
        #expect(try store.acquireLock(key: "k", owner: first, lease: 60, now: now, canTakeOver: { _ in false }) == .acquired)
        #expect(try store.acquireLock(key: "k", owner: second, lease: 60, now: now, canTakeOver: { _ in false })
                == .heldBy(LockHolder(owner: first, expires: now.addingTimeInterval(60))))
        #expect(try store.acquireLock(key: "other", owner: second, lease: 60, now: now, canTakeOver: { _ in false }) == .acquired)
        // Expired lease, or an owner known to be gone: taken over.
        #expect(try store.acquireLock(key: "k", owner: second, lease: 60, now: now.addingTimeInterval(61), canTakeOver: { _ in false }) == .acquired)
        #expect(try store.acquireLock(key: "k", owner: first, lease: 60, now: now.addingTimeInterval(62), canTakeOver: { $0.owner == second }) == .acquired)
        try store.releaseLock(key: "k", owner: second)  // not the holder: no effect
        #expect(try store.acquireLock(key: "k", owner: second, lease: 60, now: now.addingTimeInterval(63), canTakeOver: { _ in false }) != .acquired)
        try store.releaseLock(key: "k", owner: first)
        #expect(try store.acquireLock(key: "k", owner: second, lease: 60, now: now.addingTimeInterval(64), canTakeOver: { _ in false }) == .acquired)
    }

    @Test(arguments: stores)
    func runsAndTheirJournalsKeepOrder(_ kind: String) throws {
        let folder = try TemporaryFolder()
        let store = try makeStore(kind, in: folder)
        try store.createRun(RunRecord(id: "r1", key: "k", started: now, emergency: true, user: "ops", host: "h"))
        let created = GenerationRecord(id: "k-2", fingerprint: "sha256:0123456789ab", created: now)
        let entries = [
            JournalEntry(at: now, step: .start, phase: .info, detail: "step 0", facts: JournalFacts(emergency: true)),
            JournalEntry(at: now.addingTimeInterval(1), step: .preflight, phase: .done, detail: "step 1"),
            JournalEntry(at: now.addingTimeInterval(2), step: .create, phase: .done, detail: "step 2", facts: JournalFacts(new: created, name: "k-2")),
            JournalEntry(at: now.addingTimeInterval(3), step: .update, phase: .intent, consumer: "c", target: "t", detail: "step 3",
                         facts: JournalFacts(targetIndex: 3, backup: "/backups/0-3", path: "/srv/.env")),
        ]
        for entry in entries { try store.append(entry, to: "r1") }
        let journal = try store.journal(of: "r1")
        #expect(journal.map(\.step) == [.start, .preflight, .create, .update])
        #expect(journal.map(\.sequence) == [1, 2, 3, 4])
        #expect(journal[3].consumer == "c" && journal[3].facts == entries[3].facts)
        #expect(journal[2].facts.new == created && journal[0].facts.emergency == true)
        #expect(try store.runs().map(\.id) == ["r1"] && (try store.run("r1"))?.finished == nil)
        try store.finishRun("r1", outcome: .rolledBack, at: now.addingTimeInterval(10))
        let run = try #require(try store.run("r1"))
        #expect(run.outcome == .rolledBack && run.emergency && run.finished == now.addingTimeInterval(10))
    }

    @Test func theSQLiteFileAndFolderArePrivate() throws {
        let folder = try TemporaryFolder()
        _ = try SQLiteStateStore(path: folder.path + "/state/state.db")
        var info = stat()
        stat(folder.path + "/state", &info)
        #expect(info.st_mode & 0o777 == 0o700)
        stat(folder.path + "/state/state.db", &info)
        #expect(info.st_mode & 0o777 == 0o600)
    }

    /// rotor sets the modes of what it creates, never of a folder that was there: a
    /// `--state` in a shared folder (`/tmp`, 1777) or a read-only command (`status`,
    /// `report`) opening an existing store changed the folder to 0700 (found by an operator).
    @Test func aFolderThatWasThereKeepsItsModeAndAFolderIsNotAStore() throws {
        let folder = try TemporaryFolder()
        let shared = folder.path + "/shared"
        mkdir(shared, 0o777)
        chmod(shared, 0o1777)
        _ = try #require(try StateStoreURL.open("sqlite:\(shared)/state.db", workingDirectory: folder.path))
        var info = stat()
        stat(shared, &info)
        #expect(info.st_mode & 0o7777 == 0o1777)
        stat(shared + "/state.db", &info)
        #expect(info.st_mode & 0o777 == 0o600)  // the file rotor made is private
        _ = try #require(try StateStoreURL.open("sqlite:\(shared)/state.db", workingDirectory: folder.path, createIfMissing: false))
        stat(shared, &info)
        #expect(info.st_mode & 0o7777 == 0o1777)
        // A folder named as the store is refused, by either kind of command, and it and its
        // parent (whose mode rotor would have set) are left as they were.
        stat(folder.path, &info)
        let parentMode = info.st_mode & 0o7777
        for create in [true, false] {
            #expect(throws: StateStoreURL.Problem.self) { try StateStoreURL.open("sqlite:\(shared)", workingDirectory: folder.path, createIfMissing: create) }
            do {
                _ = try StateStoreURL.open("sqlite:\(shared)", workingDirectory: folder.path, createIfMissing: create)
            } catch {
                #expect("\(error)".contains("is a folder, not a state database"), "\(error)")
            }
            stat(shared, &info)
            #expect(info.st_mode & 0o7777 == 0o1777)
            stat(folder.path, &info)
            #expect(info.st_mode & 0o7777 == parentMode)
        }
    }

    /// Issue 19: JSON keys are snake_case everywhere; a generation's pending deletion time
    /// was `pendingDeletionAt`. Written `pending_deletion_at` now, and read either way, so
    /// stores and journals written before stay readable.
    @Test func aPendingDeletionTimeIsSnakeCaseAndTheOldKeyStillReads() throws {
        let record = GenerationRecord(id: "g", fingerprint: "sha256:0123456789ab", created: Date(timeIntervalSince1970: 1_800_000_000),
                                      pendingDeletionAt: Date(timeIntervalSince1970: 1_800_003_600))
        let written = try #require(try StateCoding.encode(record))
        #expect(written.contains("\"pending_deletion_at\"") && !written.contains("pendingDeletionAt"), "\(written)")
        let legacy = written.replacingOccurrences(of: "pending_deletion_at", with: "pendingDeletionAt")
        #expect(try StateCoding.decode(legacy, as: GenerationRecord.self, what: "a key") == record)
        #expect(try StateCoding.decode(written, as: GenerationRecord.self, what: "a key") == record)
    }

    @Test func stateURLs() throws {
        let folder = try TemporaryFolder()
        #expect(try StateStoreURL.open(nil, workingDirectory: folder.path, createIfMissing: false) == nil)
        let opened = try #require(try StateStoreURL.open("sqlite:custom/s.db", workingDirectory: folder.path))
        #expect(opened.stateFolder == folder.url.standardizedFileURL.path + "/custom")
        #expect(throws: StateStoreURL.Problem.self) { try StateStoreURL.open("redis://x", workingDirectory: folder.path) }
    }
}

extension StateStoreTests {
    /// Several rotors opening one new state at the same instant (cron on a fresh machine)
    /// all get the migrated store; without the folder's lock a few in 30 rounds failed
    /// with "table keys already exists".
    @Test func manyFirstOpensAtOnceAllSucceed() throws {
        for _ in 0..<30 {
            let folder = try TemporaryFolder()
            let path = folder.path + "/state/state.db"
            let failures = LockedList()
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                do { _ = try SQLiteStateStore(path: path).keyStates() } catch { failures.append("\(error)") }
            }
            #expect(failures.values.isEmpty, "\(failures.values)")
        }
    }

    /// A holder that never lets go (a hung rotor, a broken file system) ends the wait with
    /// an error that says what to check, and the body never runs.
    @Test func aFolderLockHeldTooLongIsReported() throws {
        let folder = try TemporaryFolder()
        let holder = open(folder.path, O_RDONLY | O_DIRECTORY)
        defer { close(holder) }
        #expect(flock(holder, LOCK_EX) == 0)
        var ran = false
        #expect {
            try FolderLock.whileHolding(folder.path, patience: 0.2) { ran = true }
        } throws: { error in
            "\(error)" == "another rotor held the lock of \(folder.path) for 0.2 s while opening the state there; if no rotor is running, check the folder's file system"
        }
        #expect(!ran)
        flock(holder, LOCK_UN)
        #expect(try FolderLock.whileHolding(folder.path, patience: 0.2) { 42 } == 42)
    }

    /// The journal is written ahead of every action, so each commit must reach the disk.
    @Test func everyCommitIsSynced() throws {
        let folder = try TemporaryFolder()
        _ = try SQLiteStateStore(path: folder.path + "/state/state.db")
        let reopened = try SQLiteStateStore(path: folder.path + "/state/state.db")
        #expect(try reopened.writerSynchronousMode() == 2)
    }
}

private final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ value: String) { lock.withLock { stored.append(value) } }
    var values: [String] { lock.withLock { stored } }
}

/// The binding's copies of libpq's constants (it loads libpq with dlopen and has no
/// headers of its own): checked at build time against libpq-fe.h when it is installed
/// (scripts/test installs libpq-dev), and by the loaded library naming its own codes.
@Suite struct LibpqBindingTests {
    @Test func constantsAreCheckedAgainstTheHeadersAndTheLoadedLibrary() {
        #expect(PostgresConnection.constantsCheckedAgainstHeaders == FileManager.default.fileExists(atPath: "/usr/include/postgresql/libpq-fe.h"))
        #expect(PostgresConnection.libraryProblem == nil, "libpq loaded and its result codes as rotor numbers them")
    }
}

/// A lease holder is judged by its process identity, not its pid alone (`ProcessIdentity`).
@Suite struct ProcessIdentityTests {
    @Test func aHolderIsAliveOnlyAsTheSameProcessUnderTheSameBoot() throws {
        let me = LockOwner.current(runID: "r")
        try #require(!me.process.isEmpty, "Linux: /proc gives boot id, pid namespace and start time")
        #expect(ProcessIdentity.liveness(of: me) == .alive)
        let parts = me.process.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        try #require(parts.count == 4)
        func with(_ index: Int, _ value: String) -> LockOwner {
            var owner = me, changed = parts
            changed[index] = value
            owner.process = changed.joined(separator: " ")
            return owner
        }
        #expect(ProcessIdentity.liveness(of: with(3, "1")) == .gone, "this pid, started at another time: another process")
        #expect(ProcessIdentity.liveness(of: with(0, "another-machine")) == .elsewhere, "a machine of the same name")
        #expect(ProcessIdentity.liveness(of: with(2, "pid:[1]")) == .elsewhere, "a container of the same name")
        #expect(ProcessIdentity.liveness(of: with(1, "00000000-0000-0000-0000-000000000000")) == (parts[0].isEmpty ? .elsewhere : .gone),
                "this machine before a reboot (told apart from another machine by the machine id)")
        #expect(ProcessIdentity.liveness(of: LockOwner(host: me.host, pid: me.pid, runID: "r", process: "garbage")) == .elsewhere)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        #expect(ProcessIdentity.liveness(of: LockOwner(host: me.host, pid: child.processIdentifier, runID: "r", process: me.process)) == .gone)
        #expect(ProcessIdentity.liveness(of: LockOwner(host: me.host, pid: me.pid, runID: "r")) == .alive, "an old row without identity: the pid decides")
    }
}
