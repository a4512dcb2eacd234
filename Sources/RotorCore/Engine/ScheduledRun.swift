import Foundation

/// How one key ended in `rotor run`: `due`, `reason` as in a plan, plus what happened.
public struct ScheduledKeyReport: Sendable, Encodable {
    public var key: String
    public var due: Bool
    public var reason: String
    /// The rotation, when the key was due and one was attempted.
    public var rotation: RotationReport?
    /// A previous generation deleted (or not) because its grace period ended.
    public var deletion: RotationReport?

    public init(key: String, due: Bool, reason: String, rotation: RotationReport? = nil, deletion: RotationReport? = nil) {
        self.key = key
        self.due = due
        self.reason = reason
        self.rotation = rotation
        self.deletion = deletion
    }

    /// nil when the key was not due (nothing was attempted).
    public var outcome: RunOutcome? { rotation?.outcome }
    public var message: String { rotation?.message ?? "not due: \(reason)" }
    /// What a person must do, from the rotation and the deletion.
    public var left: [PendingAction] { (rotation?.left ?? []) + (deletion?.left ?? []) }
    /// Evidence that each generation deleted (by the rotation or after its grace period) is dead.
    public var revocations: [Revocation] { (rotation?.revocations ?? []) + (deletion?.revocations ?? []) }

    enum CodingKeys: String, CodingKey {
        case key, due, reason, outcome, run, message, steps, left, deletion, revocations, canary
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encode(due, forKey: .due)
        try container.encode(reason, forKey: .reason)
        // Every key has an outcome in the JSON (issue #19): a key nothing was attempted for
        // is "skipped", one whose only work was a grace-period deletion takes its outcome.
        try container.encode(outcome?.rawValue ?? deletion?.outcome.rawValue ?? "skipped", forKey: .outcome)
        try container.encodeIfPresent(rotation?.runID, forKey: .run)
        try container.encodeIfPresent(rotation?.canary, forKey: .canary)
        try container.encode(message, forKey: .message)
        try container.encode((rotation?.steps ?? []) + (deletion?.steps ?? []), forKey: .steps)
        try container.encode(left, forKey: .left)
        try container.encodeIfPresent(deletion?.message, forKey: .deletion)
        try container.encode(revocations, forKey: .revocations)
    }
}

/// The reports of `run`'s keys, by key, as their tasks finish.
private final class KeyReports: @unchecked Sendable {
    private let lock = NSLock()
    private var reports: [String: Result<ScheduledKeyReport, any Error>] = [:]

    func set(_ report: Result<ScheduledKeyReport, any Error>, for key: String) { lock.withLock { reports[key] = report } }
    func get(_ key: String) -> Result<ScheduledKeyReport, any Error>? { lock.withLock { reports[key] } }
}

/// A key of the plan came back from no task of `run` (an internal error, never expected).
struct RunOrderError: Error, CustomStringConvertible {
    var key: String
    var description: String { "internal error: no report for key '\(key)'" }
}

extension RotationEngine {
    /// `run --parallel-keys`'s default: two keys per core, so that one key's fsyncs and
    /// commands overlap another's work and both cores stay busy.
    public static var defaultParallelKeys: Int { max(2, 2 * ProcessInfo.processInfo.activeProcessorCount) }

    /// `rotor run`'s work after recovery: every key due at `now` (inside its window) is
    /// rotated, each re-checked under its lock; then previous generations whose grace
    /// period passed are deleted. Up to `parallelKeys` keys at once (keys that share a file
    /// take turns on it: see `FileEditQueue`); the reports come in the plan's order. One
    /// failing key does not stop the others.
    public func runScheduled(now: Date, scanPaths: [String] = [], parallelKeys: Int = RotationEngine.defaultParallelKeys) async throws -> [ScheduledKeyReport] {
        var input = PlanningInput(configuration: configuration, states: try store.keyStates(), now: now)
        input.failureStreaks = FailureStreak.streaks(in: try store.runs())
        input.backoffHolds = true
        let plan = Planner.plan(input)
        let limit = max(1, parallelKeys)
        // Each key's task leaves its report in `reports` and returns nothing: in the release
        // build (Swift 6.3.1), reports returned through the task group came back damaged — out
        // of order, "Index out of range", a crash copying the result (ThreadSanitizer found no
        // race; debug builds were right).
        let reports = KeyReports()
        await withTaskGroup(of: Void.self) { group in
            var started = 0
            for keyPlan in plan.keys {
                if started >= limit { await group.next() }
                started += 1
                // Off the cooperative pool: a key's reads, writes and commits block.
                group.addTask(executorPreference: BlockingWorkExecutor.shared) {
                    let report: Result<ScheduledKeyReport, any Error>
                    do { report = .success(try await self.runScheduled(keyPlan, now: now, scanPaths: scanPaths)) } catch { report = .failure(error) }
                    reports.set(report, for: keyPlan.key)
                }
            }
            await group.waitForAll()
        }
        return try plan.keys.map { keyPlan in
            guard let report = reports.get(keyPlan.key) else { throw RunOrderError(key: keyPlan.key) }
            return try report.get()
        }
    }

    /// One key of `run`: its rotation when due, then its grace-period deletion.
    private func runScheduled(_ keyPlan: KeyPlan, now: Date, scanPaths: [String]) async throws -> ScheduledKeyReport {
        var report = ScheduledKeyReport(key: keyPlan.key, due: keyPlan.due, reason: keyPlan.reason)
        if Interruption.shared.requested {
            // No new key starts after a signal; a due key not rotated is a failure, so that
            // cron does not read success (found by an attacker: exit 0, "not due").
            if keyPlan.due {
                report.rotation = RotationReport(key: keyPlan.key, outcome: .failed,
                                                 message: "not started: rotor was stopped by a signal; the next run rotates it")
            } else {
                report.reason = "not started: rotor was stopped by a signal"
            }
            return report
        }
        if keyPlan.due, keyPlan.needsPerson {
            // Cron cannot paste a secret: the key waits for a person, and the run says so
            // (exit 3) instead of failing at preflight every time.
            report.rotation = RotationReport(
                key: keyPlan.key, outcome: .needsPerson,
                message: "due (\(keyPlan.reason)), and only a person can give its new secret: nothing was done",
                left: [PendingAction(.rotateByHand, "run '\(keyPlan.personCommand)' at a terminal (the new secret on stdin, or --secret-env VAR)")])
        } else if keyPlan.due {
            var options = RotationOptions()
            options.onlyIfDueAt = now
            options.scanPaths = scanPaths
            let rotation = await rotate(keyPlan.key, options: options)
            if let reason = rotation.notDue {
                report.due = false
                report.reason = reason
                return report
            }
            report.rotation = rotation
        }
        report.deletion = try await deletePending(keyPlan.key, now: now)
        return report
    }
}
