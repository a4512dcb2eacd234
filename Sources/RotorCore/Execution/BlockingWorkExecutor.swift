import Foundation

/// Where tasks that block run: writing and fsyncing targets and backups, committing
/// journal entries. Swift's cooperative pool has one thread per core (two here): a
/// consumer blocked in `fsync` held one of them, so 16 consumers and several keys "at
/// once" wrote two at a time and the cores idled while the disk flushed (issue 20). Tasks
/// that prefer this executor (`addTask(executorPreference:)`) run on threads of their own,
/// up to `maxThreads` at once — enough for every consumer of every key rotating at once —
/// so the disk sees their writes together and the cores stay busy meanwhile.
final class BlockingWorkExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = BlockingWorkExecutor(maxThreads: 128)

    private let maxThreads: Int
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var threads = 0
    private var idle = 0

    init(maxThreads: Int) {
        self.maxThreads = maxThreads
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        // A thread for each job no idle thread will take: a job must not wait behind a
        // blocked one (below `maxThreads`).
        let start = jobs.count > idle && threads < maxThreads
        if start { threads += 1 }
        condition.signal()
        condition.unlock()
        if start {
            let thread = Thread { [self] in work() }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs jobs as they come; a thread stays (idle) once started: the process is short-lived.
    private func work() {
        while true {
            condition.lock()
            idle += 1
            while jobs.isEmpty { condition.wait() }
            idle -= 1
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
