import Foundation
import Testing
@testable import RotorCore

/// The contract every state store keeps, run against each implementation.
@Suite struct StateStoreTests {
    /// Makes a fresh store; PostgreSQL joins this list when it exists.
    static let stores: [String] = ["sqlite"]

    func makeStore(_ kind: String, in folder: TemporaryFolder) throws -> any StateStore {
        switch kind {
        default: return try SQLiteStateStore(path: folder.path + "/state/state.db")
        }
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
        for (index, step) in ["start", "preflight", "create", "update"].enumerated() {
            try store.append(JournalEntry(at: now.addingTimeInterval(Double(index)), step: step, phase: .done, consumer: index == 3 ? "c" : nil,
                                          detail: "step \(index)", data: ["n": String(index)]), to: "r1")
        }
        let journal = try store.journal(of: "r1")
        #expect(journal.map(\.step) == ["start", "preflight", "create", "update"])
        #expect(journal.map(\.sequence) == [1, 2, 3, 4])
        #expect(journal[3].consumer == "c" && journal[3].data == ["n": "3"])
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

    @Test func stateURLs() throws {
        let folder = try TemporaryFolder()
        #expect(try StateStoreURL.open(nil, workingDirectory: folder.path, createIfMissing: false) == nil)
        let opened = try #require(try StateStoreURL.open("sqlite:custom/s.db", workingDirectory: folder.path))
        #expect(opened.stateFolder == folder.url.standardizedFileURL.path + "/custom")
        #expect(throws: StateStoreURL.Problem.self) { try StateStoreURL.open("redis://x", workingDirectory: folder.path) }
    }
}
