import Foundation

/// Everything the planner looks at. Reading files and the state store happens before,
/// so planning itself is a pure function of this value (`plan` alone has targets read
/// during planning, on the core that plans each key: `Planner.plan(_:inspect:)`).
public struct PlanningInput: Sendable {
    public var configuration: Configuration
    public var states: [String: KeyState]
    /// What each target holds now, by `TargetID`.
    public var observations: [TargetID: TargetObservation]
    /// Why rotor could not write a target file, by `TargetID` (see `TargetAccess`).
    public var writeProblems: [TargetID: String] = [:]
    public var now: Date
    /// Only these keys (all when empty).
    public var selectedKeys: [String]
    /// Rotate the selected keys whether due or not (`rotor rotate`).
    public var force: Bool
    public var emergency: Bool
    public var revokeFirst: Bool
    /// Turns absolute paths into what the user should see.
    public var displayPath: @Sendable (String) -> String
    /// What preflight would refuse for a due key, as far as a look without the provider can
    /// tell (commands on PATH, token variables: `PreflightChecks.forPlan`); nil: not looked.
    public var preflightProblems: (@Sendable (KeyPolicy, ProviderSpec, [ConsumerSpec]) -> [String])?
    /// Each key's failed rotations in a row (`FailureStreak.streaks`): a scheduled
    /// rotation waits out its backoff.
    public var failureStreaks: [String: FailureStreak] = [:]
    /// The backoff holds a failing key back (`rotor run` and its dry run); else it is only said.
    public var backoffHolds = false

    public init(configuration: Configuration, states: [String: KeyState] = [:], observations: [TargetID: TargetObservation] = [:],
                now: Date, selectedKeys: [String] = [], force: Bool = false, emergency: Bool = false, revokeFirst: Bool = false,
                displayPath: @escaping @Sendable (String) -> String = { $0 }) {
        self.configuration = configuration
        self.states = states
        self.observations = observations
        self.now = now
        self.selectedKeys = selectedKeys
        self.force = force
        self.emergency = emergency
        self.revokeFirst = revokeFirst
        self.displayPath = displayPath
    }
}

/// Identifies one target: its consumer and its position among the consumer's targets.
public struct TargetID: Hashable, Sendable {
    public var consumer: String
    public var index: Int

    public init(consumer: String, index: Int) {
        self.consumer = consumer
        self.index = index
    }
}

/// (configuration, state, now) → plan.
public enum Planner {
    public static func plan(_ input: PlanningInput) -> Plan {
        plan(input, inspect: nil).plan
    }

    /// What `inspect` found at one planned key's targets: its consumers' positions in the
    /// configuration, and an inspection per target of those consumers, in order.
    struct KeyInspections: Sendable {
        var consumerPositions: [Int]
        var inspections: [TargetInspection]
    }

    /// Plans every selected key on every core. With `inspect`, the core that plans a key
    /// first looks at each of its targets (due or not) and plans from what it found, in
    /// place of `input.observations` and `writeProblems`: how `plan` reads 10,000 targets
    /// with no fleet-wide pass, barrier or dictionary between reading and planning.
    static func plan(_ input: PlanningInput, inspect: (@Sendable (_ target: TargetSpec, _ consumer: ConsumerSpec) -> TargetInspection)?)
        -> (plan: Plan, inspections: [KeyInspections]) {
        let selected = Set(input.selectedKeys)
        let positionsByKey = input.configuration.consumerPositionsByKey()
        let providers = Dictionary(input.configuration.providers.map { ($0.name.value, $0) }, uniquingKeysWith: { first, _ in first })
        let dated = TemplateValues.dated(input.now)
        // Keys are planned independently, so on every core.
        let keys = input.configuration.keys
            .filter { selected.isEmpty || selected.contains($0.name.value) }
            .parallelMap { key -> (KeyPlan, KeyInspections)? in
                guard let provider = providers[key.provider.value] else { return nil }
                let positions = positionsByKey[key.name.value] ?? []
                let consumers = positions.map { input.configuration.consumers[$0] }
                let inspections = inspect.map { inspect in
                    consumers.flatMap { consumer in consumer.targets.map { inspect($0, consumer) } }
                }
                let plan = planKey(key, provider: provider, consumers: consumers, input: input, inspections: inspections, dated: dated)
                return (plan, KeyInspections(consumerPositions: positions, inspections: inspections ?? []))
            }
            .compactMap { $0 }
        return (Plan(generatedAt: input.now, keys: keys.map(\.0)), keys.map(\.1))
    }

    /// `inspections`: one per target of `consumers`, in order; without them, what each
    /// target holds comes from `input`.
    /// `dated`: `TemplateValues.dated(input.now)`, when the caller made it for every key.
    static func planKey(_ key: KeyPolicy, provider: ProviderSpec, consumers: [ConsumerSpec], input: PlanningInput,
                        inspections: [TargetInspection]? = nil, dated: [Placeholder: String]? = nil) -> KeyPlan {
        let state = input.states[key.name.value] ?? KeyState()
        let schedule = Schedule.evaluate(key, state: state, now: input.now, force: input.force, emergency: input.emergency,
                                         streak: input.failureStreaks[key.name.value], backoffHolds: input.backoffHolds)
        var plan = KeyPlan(
            key: key.name.value, provider: provider.name.value, providerType: provider.typeName,
            due: schedule.due, reason: schedule.reason, emergency: input.emergency, current: state.current,
            nextDue: schedule.nextDue, blockers: [], steps: [])
        guard schedule.due else { return plan }
        plan.needsPerson = provider.isManual
        plan.canary = consumers.first?.name.value
        // At a vendor the run appends its own suffix (unique per attempt): shown as <run>.
        let generationName = key.generationName.render(TemplateValues.context(key: key.name.value, dated: dated ?? TemplateValues.dated(input.now)))
            + (provider.reachesAVendor ? "-<run>" : "")
        plan.blockers += input.preflightProblems?(key, provider, consumers) ?? []
        var steps: [PlanStep] = []
        // Files counted once each; only a file several targets write can come twice.
        var sharedFiles = Set<String>()
        var fileCount = 0
        var commands = 0
        var targetCount = 0
        for index in consumers.indices {  // by index: `for consumer in` copies each consumer
            for target in consumers[index].targets {
                targetCount += 1
                guard let path = target.filePath else { continue }
                if input.configuration.filesWithSeveralTargets?.contains(path) ?? true {
                    if sharedFiles.insert(path).inserted { fileCount += 1 }
                } else {
                    fileCount += 1
                }
            }
            commands += (consumers[index].reload == nil ? 0 : 1) + (consumers[index].health.map { if case .exec = $0 { 1 } else { 0 } } ?? 0)
        }
        steps.reserveCapacity(targetCount + 2 * consumers.count + key.verify.count + 5)
        steps.append(PlanStep(step: .preflight, detail:
            "check \(count(targetCount, "target")) in \(count(fileCount, "file")), \(count(commands, "command")) and the provider's requirements"
            + (key.scan.isEmpty ? "" : ", and look through \(key.scan.map { ControlCharacters.escapeLine($0) }.joined(separator: ", ")) for undeclared copies of the key's value (scan:)")
            + "; stop before anything is created if one fails"))
        let revokeStep = steps.count
        if input.revokeFirst, let current = state.current {
            steps.append(PlanStep(step: .delete, detail: "REVOKE FIRST: delete the current generation \(current.id) (\(current.fingerprint)) before consumers are updated; consumers fail until updated, and rollback cannot restore it"))
        }
        steps.append(PlanStep(step: .create, detail: StepDescriptions.create(provider, generationName: generationName, current: state.current)))
        if provider.logsInItself {
            steps.append(PlanStep(step: .verifyKey, detail: "log in as the role with its new password: the server must accept it"))
        } else if key.verify.isEmpty {
            steps.append(PlanStep(step: .verifyKey, detail: "no verify checks in the policy: the new generation is not tried before consumers get it"))
        }
        for check in key.verify {
            steps.append(PlanStep(step: .verifyKey, detail: StepDescriptions.check(check)))
        }
        var position = 0  // of the target among all of `consumers`' targets
        var unknownHeld: [String] = []  // with --revoke-first: what targets hold that rotor did not issue
        for consumer in consumers {
            for (index, target) in consumer.targets.enumerated() {
                defer { position += 1 }
                let observation: TargetObservation?, writeProblem: String?
                if let inspections {
                    (observation, writeProblem) = (inspections[position].observation, inspections[position].writeProblem)
                } else {
                    let id = TargetID(consumer: consumer.name.value, index: index)
                    (observation, writeProblem) = (input.observations[id], input.writeProblems.isEmpty ? nil : input.writeProblems[id])
                }
                let label = StepDescriptions.targetLabel(target, displayPath: input.displayPath)
                if let observation, let blocker = blocker(for: target, observation: observation, label: label) {
                    plan.blockers.append("\(consumer.name.value): \(blocker)")
                } else if let problem = writeProblem {
                    plan.blockers.append("\(consumer.name.value): \(label): \(problem)")
                }
                if input.revokeFirst, target.value == .secretOnly, let held = observation?.fingerprint,
                   held != state.current?.fingerprint, held != state.previous?.fingerprint, !unknownHeld.contains(held) {
                    unknownHeld.append(held)
                }
                steps.append(PlanStep(step: .update, consumer: consumer.name.value, target: label, targetType: target.typeName,
                                      current: observation.map { $0.fingerprint ?? $0.state }, detail: StepDescriptions.update(target, label: label)))
            }
            if let reload = consumer.reload {
                steps.append(PlanStep(step: .reload, consumer: consumer.name.value, detail: "run " + StepDescriptions.argv(reload)))
            }
            if let health = consumer.health {
                steps.append(PlanStep(step: .health, consumer: consumer.name.value, detail: StepDescriptions.check(health)))
            }
        }
        if !unknownHeld.isEmpty, steps.indices.contains(revokeStep), steps[revokeStep].step == .delete {
            steps[revokeStep].detail += " — WARNING: the targets hold a key rotor did not issue (\(unknownHeld.joined(separator: ", "))): revoke-first cannot revoke it; revoke it at the provider by hand"
        }
        steps.append(PlanStep(step: .verify, detail: consumers.isEmpty
            ? "no consumers use this key"
            : "every target of \(count(consumers.count, "consumer")) reads back the new generation and every health check passes; otherwise all are rolled back"))
        if !input.revokeFirst {
            steps.append(PlanStep(step: .delete, detail: StepDescriptions.delete(key, provider: provider, state: state, emergency: input.emergency)))
        }
        if let old = state.current, !Self.isGenerated(provider) {
            steps.append(PlanStep(step: .confirmRevoked, detail: StepDescriptions.confirmRevoked(key, provider: provider, old: old, deletedNow: input.revokeFirst || input.emergency || key.grace.seconds == 0)))
        }
        plan.steps = steps
        return plan
    }

    /// What preflight will refuse for this target, seen read-only now.
    static func blocker(for target: TargetSpec, observation: TargetObservation, label: String) -> String? {
        switch observation {
        case .present, .notRead: return nil
        case .unreadable(let reason): return "\(label) is unreadable: \(reason)"
        case .fileMissing:
            return "\(label): \(TargetObservation.fileMissingReason)\(TargetObservation.createFileHint(target))"
        case .missing:
            if target.create { return nil }
            return "\(label): \(observation.reason ?? "") (set create: true on the target to add it)"
        }
    }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// rotor minted it: nothing exists anywhere to be revoked.
    private static func isGenerated(_ provider: ProviderSpec) -> Bool {
        if case .generate = provider.kind { return true }
        return false
    }
}
