import Foundation
import Testing
@testable import RotorCore

/// Journal entries appended at once share a commit; each caller still learns its own outcome.
@Suite struct GroupCommitTests {
    /// Callers that arrive while a commit is under way go together in the next one, and
    /// every entry is committed exactly once.
    @Test func entriesWaitingDuringACommitAreCommittedTogether() async throws {
        let group = GroupCommit<Int>()
        let batches = Batches()
        let callers = 40
        await withTaskGroup(of: Void.self) { tasks in
            for number in 0..<callers {
                tasks.addTask(executorPreference: BlockingWorkExecutor.shared) {
                    try? group.commit(number) { batch in
                        batches.add(batch)
                        usleep(20_000)  // a sync: long enough for the others to arrive
                        return batch.map { _ in .success(()) }
                    }
                }
            }
        }
        let seen = batches.all
        #expect(seen.flatMap { $0 }.sorted() == Array(0..<callers), "each entry committed once")
        #expect(seen.count < callers / 2, "entries shared commits: \(seen.map(\.count))")
    }

    /// One entry refused (a lost lease) fails its own caller only; a commit that fails
    /// fails every caller of its batch.
    @Test func eachCallerGetsItsOwnOutcome() async throws {
        struct Refused: Error {}
        struct DiskFull: Error {}
        let group = GroupCommit<Int>()
        let outcomes = Outcomes()
        await withTaskGroup(of: Void.self) { tasks in
            for number in 0..<20 {
                tasks.addTask(executorPreference: BlockingWorkExecutor.shared) {
                    do {
                        try group.commit(number) { batch in
                            usleep(10_000)
                            return batch.map { $0 == 7 ? .failure(Refused()) : .success(()) }
                        }
                        outcomes.set(number, "ok")
                    } catch is Refused {
                        outcomes.set(number, "refused")
                    } catch {
                        outcomes.set(number, "other")
                    }
                }
            }
        }
        #expect(outcomes.all.filter { $0.value == "refused" }.map(\.key) == [7])
        #expect(outcomes.all.filter { $0.value == "ok" }.count == 19)
        #expect(throws: DiskFull.self) { try group.commit(1) { _ in throw DiskFull() } }
        try group.commit(2) { batch in batch.map { _ in .success(()) } }  // the group is usable after a failure
    }

    /// A real SQLite store: 64 threads append to four runs at once; every entry is there,
    /// each run's sequence numbers are 1…n without a gap, and a run whose lease was taken
    /// over is refused alone.
    @Test func concurrentAppendsToSQLiteAreAllCommittedInOrderPerRun() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStateStore(path: folder.path + "/state/state.db")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for key in ["a", "b", "c", "d"] {
            let owner = LockOwner(host: "h", pid: 1, runID: "run-\(key)")
            #expect(try store.acquireLock(key: key, owner: owner, lease: 60, now: now, canTakeOver: { _ in false }) == .acquired)
            try store.createRun(RunRecord(id: "run-\(key)", key: key, started: now, emergency: false, user: "ops", host: "h"))
        }
        // Run d's lease taken over by another runner: its entries must be refused.
        let taker = LockOwner(host: "other", pid: 2, runID: "taker")
        let other = try SQLiteStateStore(path: folder.path + "/state/state.db")
        #expect(try other.acquireLock(key: "d", owner: taker, lease: 60, now: now.addingTimeInterval(61), canTakeOver: { _ in false }) == .acquired)
        let refused = Outcomes()
        await withTaskGroup(of: Void.self) { tasks in
            for number in 0..<64 {
                tasks.addTask(executorPreference: BlockingWorkExecutor.shared) {
                    let run = "run-\(["a", "b", "c", "d"][number % 4])"
                    do {
                        try store.append(JournalEntry(at: now, step: .update, phase: .done, consumer: "c\(number)", target: "t", detail: "written", facts: JournalFacts(targetIndex: 0)), to: run)
                    } catch is LeaseLost {
                        refused.set(number, run)
                    } catch {
                        refused.set(number, "unexpected \(error)")
                    }
                }
            }
        }
        #expect(Set(refused.all.values) == ["run-d"] && refused.all.count == 16, "\(refused.all)")
        for run in ["run-a", "run-b", "run-c"] {
            let journal = try store.journal(of: run)
            #expect(journal.count == 16)
            #expect(journal.map(\.sequence) == Array(1...16))
        }
        #expect(try store.journal(of: "run-d").isEmpty)
    }
}

private final class Batches: @unchecked Sendable {
    private let lock = NSLock()
    private var batches: [[Int]] = []
    func add(_ batch: [Int]) { lock.withLock { batches.append(batch) } }
    var all: [[Int]] { lock.withLock { batches } }
}

private final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [Int: String] = [:]
    func set(_ number: Int, _ outcome: String) { lock.withLock { outcomes[number] = outcome } }
    var all: [Int: String] { lock.withLock { outcomes } }
}
