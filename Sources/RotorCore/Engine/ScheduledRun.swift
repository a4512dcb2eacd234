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
        case key, due, reason, outcome, run, message, steps, left, deletion, revocations
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
        try container.encode(message, forKey: .message)
        try container.encode((rotation?.steps ?? []) + (deletion?.steps ?? []), forKey: .steps)
        try container.encode(left, forKey: .left)
        try container.encodeIfPresent(deletion?.message, forKey: .deletion)
        try container.encode(revocations, forKey: .revocations)
    }
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
        // Collected inside the group and returned: an array outside it, written from the
        // loop, crashed the release build with "Index out of range" (ThreadSanitizer found
        // no race, and the debug build never crashed).
        let finished = await withTaskGroup(of: (Int, Result<ScheduledKeyReport, any Error>).self,
                                           returning: [(Int, Result<ScheduledKeyReport, any Error>)].self) { group in
            var finished: [(Int, Result<ScheduledKeyReport, any Error>)] = []
            finished.reserveCapacity(plan.keys.count)
            for (index, keyPlan) in plan.keys.enumerated() {
                if index >= limit, let done = await group.next() { finished.append(done) }
                group.addTask {
                    do { return (index, .success(try await self.runScheduled(keyPlan, now: now, scanPaths: scanPaths))) } catch { return (index, .failure(error)) }
                }
            }
            while let done = await group.next() { finished.append(done) }
            return finished
        }
        return try finished.sorted { $0.0 < $1.0 }.map { try $0.1.get() }
    }

    /// One key of `run`: its rotation when due, then its grace-period deletion.
    private func runScheduled(_ keyPlan: KeyPlan, now: Date, scanPaths: [String]) async throws -> ScheduledKeyReport {
        var report = ScheduledKeyReport(key: keyPlan.key, due: keyPlan.due, reason: keyPlan.reason)
        if Interruption.shared.requested {
            // No new key starts after a signal.
            report.due = false
            report.reason = "not started: rotor was stopped by a signal"
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
