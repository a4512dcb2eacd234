import Foundation

/// `rotor plan [KEY...] [--json] [--detailed-exitcode]`: what rotor would do, changing nothing.
public enum PlanCommand {
    public struct Options: Sendable {
        public var keys: [String]
        public var json: Bool
        public var detailedExitCode: Bool
        public var now: Date
        /// `--out PLAN`: also save the plan for `rotor apply`.
        public var out: String?

        public init(keys: [String] = [], json: Bool = false, detailedExitCode: Bool = false, now: Date = GlobalOptions.environmentClock(), out: String? = nil) {
            self.keys = keys
            self.json = json
            self.detailedExitCode = detailedExitCode
            self.now = now
            self.out = out
        }
    }

    public static func run(_ options: Options, global: GlobalOptions, console: Console) -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, loaded) = step.load() else { return .failure }
        guard step.keysExist(options.keys, in: configuration) else { return .usage }
        let loader = step.loader
        guard let states = step.existingKeyStates() else { return .failure }
        let inspected = inspect(selectedTargets(configuration, keys: options.keys), displayPath: { loader.displayPath($0) })
        var input = PlanningInput(
            configuration: configuration,
            states: states,
            observations: inspected.observations,
            now: options.now,
            selectedKeys: options.keys,
            displayPath: { loader.displayPath($0) })
        input.writeProblems = inspected.writeProblems
        let plan = Planner.plan(input)
        let warnings = inspected.warnings
        let summary = PlanSummary(plan)
        let out = options.json ? PlanJSONRenderer.bytes(plan, summary: summary, warnings: warnings) : Array(PlanTextRenderer(colored: console.colorOut).render(plan).utf8)
        console.stdout(out)
        if !options.json { warnings.forEach { console.warn($0) } }
        if let out = options.out {
            let saved = SavedPlan(plan: plan, configuration: configuration, sources: loaded.sources)
            do {
                try AtomicFile.write(Array(JSONOutput.encode(saved).utf8), to: loader.absolute(out), newFileMode: 0o644)
                if !global.quiet { console.err("plan saved to \(out); run it with: rotor apply \(out)") }
            } catch {
                console.err("error: cannot save the plan: \(error)")
                return .failure
            }
        }
        KeptUntilExit.keep(states, inspected, plan, out)  // the configuration is kept by `ConfigurationStep`
        if summary.blockers > 0 { return .failure }
        return options.detailedExitCode && summary.due > 0 ? .pending : .success
    }

    /// Reads every target of the selected keys, read-only, on every core.
    static func observe(_ configuration: Configuration, keys: [String]) -> [TargetID: TargetObservation] {
        let targets = selectedTargets(configuration, keys: keys)
        let inspector = TargetInspector()
        let observations = targets.parallelMap { inspector.observe($0.target) }
        return Dictionary(zip(targets.lazy.map(\.id), observations), uniquingKeysWith: { first, _ in first })
    }

    /// What `plan` learns from one look at each target, on every core: what it holds, which
    /// files rotor could not replace, and the warnings for files every user can read (as
    /// `TargetExposure.warnings` words them: each file once, in configuration order).
    private static func inspect(_ targets: [SelectedTarget], displayPath: @Sendable (String) -> String)
        -> (observations: [TargetID: TargetObservation], writeProblems: [TargetID: String], warnings: [String]) {
        let inspector = TargetInspector()
        let inspections = targets.parallelMap { selected in
            let inspection = inspector.inspect(selected.target)
            // The message is made here, on every core; most targets have none.
            let warning = inspection.worldReadableMode.flatMap { mode in
                selected.target.filePath.map { TargetExposure.warning(shownPath: displayPath($0), key: selected.key, mode: mode) }
            }
            return (inspection, warning)
        }
        var observations: [TargetID: TargetObservation] = [:]
        var writeProblems: [TargetID: String] = [:]
        var warnings: [String] = []
        var warned = Set<String>(minimumCapacity: targets.count)
        observations.reserveCapacity(targets.count)
        for (selected, (inspection, warning)) in zip(targets, inspections) {
            if observations[selected.id] == nil { observations[selected.id] = inspection.observation }
            if let problem = inspection.writeProblem, writeProblems[selected.id] == nil { writeProblems[selected.id] = problem }
            if let warning, let path = selected.target.filePath, warned.insert(path).inserted { warnings.append(warning) }
        }
        return (observations, writeProblems, warnings)
    }

    private struct SelectedTarget: Sendable {
        var id: TargetID
        var target: TargetSpec
        /// The key its consumer uses.
        var key: String
    }

    /// Every target of the consumers of `keys` (all keys when empty).
    private static func selectedTargets(_ configuration: Configuration, keys: [String]) -> [SelectedTarget] {
        let selected = Set(keys)
        var targets: [SelectedTarget] = []
        for consumer in configuration.consumers where selected.isEmpty || selected.contains(consumer.uses.value) {
            for (index, target) in consumer.targets.enumerated() {
                targets.append(SelectedTarget(id: TargetID(consumer: consumer.name.value, index: index), target: target, key: consumer.uses.value))
            }
        }
        return targets
    }
}
