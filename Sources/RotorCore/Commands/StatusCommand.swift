import Foundation

/// `rotor status [KEY...] [--json]`: each key's generation, age, next due time, pending
/// deletion, and what every target holds compared by fingerprint.
public enum StatusCommand {
    public typealias TargetState = RotorCore.TargetState
    public typealias TargetStatus = RotorCore.TargetStatus

    public struct KeyStatus: Sendable, Codable {
        public var key: String
        public var current: GenerationRecord?
        public var ageSeconds: Int?
        public var nextDue: Date?
        public var overdue: Bool
        public var pendingDeletion: GenerationRecord?
        public var targets: [TargetStatus]
        /// The key's last rotations failed: when cron tries again (issue 19).
        public var failedRotations: FailedRotations?

        enum CodingKeys: String, CodingKey {
            case key, current, overdue, targets
            case ageSeconds = "age_seconds"
            case nextDue = "next_due"
            case pendingDeletion = "pending_deletion"
            case failedRotations = "failed_rotations"
        }

        /// Drifted or overdue: cron should hear about it.
        public var needsAttention: Bool { overdue || targets.contains { $0.state != .inSync } }
    }

    /// A key's failed rotations in a row, and the scheduled retry's backoff.
    public struct FailedRotations: Sendable, Codable {
        public var count: Int
        public var last: Date
        public var retryAt: Date
        public var sentence: String

        enum CodingKeys: String, CodingKey {
            case count, last, sentence
            case retryAt = "retry_at"
        }
    }

    public static func run(keys: [String], json: Bool, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard step.keysExist(keys, in: configuration) else { return .usage }
        guard let (states, interrupted, streaks) = step.existingStatesAndInterruptedRuns(keys: keys) else { return .failure }
        let loader = step.loader
        let now = global.clock()
        // Every file target is read once, on every core, before keys are classified in order.
        let observations = PlanCommand.observe(configuration, keys: keys)
        let consumersByKey = configuration.consumersByKey()
        let statuses = await configuration.keys.filter { keys.isEmpty || keys.contains($0.name.value) }.asyncMap { key in
            await status(of: key, consumers: consumersByKey[key.name.value] ?? [], configuration: configuration,
                         state: states[key.name.value] ?? KeyState(), now: now, observations: observations, displayPath: { loader.displayPath($0) },
                         streak: streaks[key.name.value])
        }
        let warnings = TargetExposure.warnings(configuration, keys: keys, displayPath: { loader.displayPath($0) })
        if json {
            console.stdout(jsonBytes(statuses, interrupted: interrupted, warnings: warnings))
        } else {
            // --quiet (cron): only the keys that need attention, and nothing when none does.
            render(global.quiet ? statuses.filter(\.needsAttention) : statuses, console: console, quiet: global.quiet,
                   manualKeys: configuration.manualKeys, now: now)
            for run in interrupted { console.out(Style.red("interrupted: ", console.colorOut) + InterruptedRuns.describe(run)) }
            // --quiet (the example crontab's hourly drift check): a standing warning would mail every hour.
            if !global.quiet { warnings.forEach { console.warn($0) } }
        }
        // A run with no outcome needs a person (or `rotor recover`) before anything else.
        if !interrupted.isEmpty { return .needsPerson }
        return statuses.contains(where: \.needsAttention) ? .pending : .success
    }

    static func status(of key: KeyPolicy, consumers: [ConsumerSpec], configuration: Configuration, state: KeyState, now: Date,
                       observations: [TargetID: TargetObservation], displayPath: @escaping (String) -> String,
                       streak: FailureStreak? = nil) async -> KeyStatus {
        let runner = CommandRunner(withheldVariables: configuration.tokenVariables)
        var targets: [TargetStatus] = []
        for consumer in consumers {
            for (index, target) in consumer.targets.enumerated() {
                let operation = TargetOperation(consumer: consumer, index: index, spec: target,
                                                label: StepDescriptions.targetLabel(target, displayPath: displayPath), runner: runner)
                targets.append(await TargetClassifier.classify(operation, state: state, observation: observations[operation.id]))
            }
        }
        var nextDue: Date?
        if let created = state.current?.created, let every = key.every { nextDue = created.addingTimeInterval(every.timeInterval) }
        return KeyStatus(key: key.name.value, current: state.current, ageSeconds: state.current.map { Int(now.timeIntervalSince($0.created)) },
                         nextDue: nextDue, overdue: state.current == nil || nextDue.map { $0 <= now } == true,
                         pendingDeletion: state.previous, targets: targets,
                         failedRotations: streak.map { FailedRotations(count: $0.count, last: $0.last, retryAt: $0.retryAt, sentence: $0.sentence) })
    }

    /// `--json`: `"version": 1`, every key with its targets, the warnings. Written with
    /// `JSONWriter`, each key on either core: at fleet scale the `Encodable` path was most
    /// of `status`'s time (docs/performance.md).
    static func jsonBytes(_ statuses: [KeyStatus], interrupted: [RunRecord] = [], warnings: [String]) -> [UInt8] {
        let keys = WrittenElements(statuses)
        var json = JSONWriter(capacity: 1 << 16)
        json.object { document in
            document.member("interrupted_runs") { runs in
                runs.array(interrupted) { json, run in
                    json.object { object in
                        object.member("key", run.key)
                        object.member("message", InterruptedRuns.describe(run))
                        object.member("run", run.id)
                        object.member("started", DateFormatting.iso8601(run.started))
                    }
                }
            }
            document.member("keys", keys)
            document.member("version", 1)
            document.member("warnings", warnings)
        }
        json.raw([0x0A])
        return json.bytes
    }

    private static func render(_ statuses: [KeyStatus], console: Console, quiet: Bool, manualKeys: Set<String>, now: Date) {
        for status in statuses {
            var headline = "\(Style.bold(status.key, console.colorOut))  "
            if let current = status.current {
                headline += "generation \(current.id) (\(current.fingerprint)), \(DateFormatting.age(Double(status.ageSeconds ?? 0))) old"
                if let next = status.nextDue { headline += ", next due \(DateFormatting.iso8601(next))" }
            } else {
                headline += "never rotated by rotor"
            }
            if status.overdue { headline += "  " + Style.red("OVERDUE", console.colorOut) }
            console.out(headline)
            if let failed = status.failedRotations {
                console.out("  " + Style.yellow("failing: ", console.colorOut) + failed.sentence)
            }
            if let pending = status.pendingDeletion {
                let waitsForAPerson = manualKeys.contains(status.key) && (pending.pendingDeletionAt.map { $0 <= now } ?? true)
                console.out("  pending deletion: \(pending.id) (\(pending.fingerprint))" + (pending.pendingDeletionAt.map { " after \(DateFormatting.iso8601($0))" } ?? "")
                            + (waitsForAPerson ? " — waits for a person: delete it in the console, then 'rotor confirm \(status.key)'" : ""))
            }
            for target in status.targets {
                let word = target.state == .inSync ? Style.green(target.state.rawValue, console.colorOut) : Style.yellow(target.state.rawValue, console.colorOut)
                console.out("  \(target.consumer): \(target.target)  \(word)" + (target.reason.map { " (\($0))" } ?? ""))
            }
        }
        let drifted = statuses.flatMap(\.targets).filter { $0.state != .inSync }.count
        let overdue = statuses.filter(\.overdue).count
        if quiet, drifted + overdue == 0 { return }
        console.out(drifted + overdue == 0 ? "all targets in sync; no key overdue" : "\(drifted) target\(drifted == 1 ? "" : "s") not in sync, \(overdue) key\(overdue == 1 ? "" : "s") overdue")
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async -> T) async -> [T] {
        var results: [T] = []
        for element in self { results.append(await transform(element)) }
        return results
    }
}

extension StatusCommand.KeyStatus: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { key in
            key.member("age_seconds", ageSeconds)
            key.member("current", current)
            key.member("failed_rotations", failedRotations)
            key.member("key", self.key)
            key.member("next_due", nextDue.map(DateFormatting.iso8601))
            key.member("overdue", overdue)
            key.member("pending_deletion", pendingDeletion)
            key.member("targets") { $0.array(targets) { $1.write(to: &$0) } }
        }
    }
}

extension StatusCommand.TargetStatus: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { target in
            target.member("consumer", consumer)
            target.member("fingerprint", fingerprint)
            target.member("reason", reason)
            target.member("state", state.rawValue)
            target.member("target", self.target)
            target.member("type", type)
        }
    }
}

extension StatusCommand.FailedRotations: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { object in
            object.member("count", count)
            object.member("last", DateFormatting.iso8601(last))
            object.member("retry_at", DateFormatting.iso8601(retryAt))
            object.member("sentence", sentence)
        }
    }
}
