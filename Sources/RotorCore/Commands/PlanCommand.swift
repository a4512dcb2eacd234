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
        guard let (states, interrupted, streaks) = step.existingStatesAndInterruptedRuns(keys: options.keys) else { return .failure }
        var input = PlanningInput(configuration: configuration, states: states, now: options.now, selectedKeys: options.keys,
                                  displayPath: { loader.displayPath($0) })
        input.preflightProblems = PreflightChecks.forPlan(skipping: ScanCommand.stateFiles(global, ifScanning: configuration))
        input.failureStreaks = streaks
        let (plan, inspected) = Planner.plan(input, inspect: inspect(displayPath: { loader.displayPath($0) }))
        let warnings = interrupted.map(InterruptedRuns.describe)
            + exposureWarnings(inspected, consumers: configuration.consumers, sharedFiles: configuration.filesWithSeveralTargets)
        let summary = PlanSummary(plan, sharedFiles: configuration.filesWithSeveralTargets.map { Set($0.map(loader.displayPath)) })
        let out = options.json ? PlanJSONRenderer.pieces(plan, summary: summary, warnings: warnings) : [Array(PlanTextRenderer(colored: console.colorOut).render(plan).utf8)]
        out.forEach(console.stdout)
        if !options.json, !global.quiet { warnings.forEach { console.warn($0) } }
        if let out = options.out, summary.blockers > 0 {
            // A plan apply would refuse is not one to review: nothing is saved.
            console.err("plan not saved to \(out): preflight would refuse \(summary.blockers) target\(summary.blockers == 1 ? "" : "s") (see above); fix \(summary.blockers == 1 ? "it" : "them") and plan again")
        } else if let out = options.out {
            let saved = SavedPlan(plan: plan, configuration: configuration, sources: loaded.sources)
            do {
                try AtomicFile.write(Array(JSONOutput.encode(saved).utf8), to: loader.absolute(out), newFileMode: 0o644)
                if !global.quiet { console.err("plan saved to \(out); run it with: rotor apply \(out)") }
            } catch {
                console.err("error: cannot save the plan: \(error)")
                return .failure
            }
        }
        KeptUntilExit.keep(states, inspected, plan, out, summary, warnings)  // the configuration is kept by `ConfigurationStep`
        if summary.blockers > 0 { return .failure }
                // 2 means "apply has work": a due manual key waits for a person, not for apply.
        return options.detailedExitCode && summary.unattended > 0 ? .pending : .success
    }

    /// The plan a dry run shows (`run --dry-run`, `rotate --dry-run`): made as `plan` makes
    /// it — every target looked at, every check preflight can make without the provider.
    static func dryRun(_ input: PlanningInput, displayPath: @escaping @Sendable (String) -> String, scanPaths: [String] = [],
                       skipping: Set<FileID> = []) -> Plan {
        var input = input
        input.preflightProblems = PreflightChecks.forPlan(scanPaths: scanPaths, skipping: skipping, emergency: input.emergency)
        return Planner.plan(input, inspect: inspect(displayPath: displayPath)).plan
    }

    /// Reads every target of the consumers of `keys` (all keys when empty), read-only, on every core.
    /// A target preflight would refuse as root for its folders is not read (as in `plan`):
    /// its folder's owner could point it at a file whose fingerprint they may not see.
    static func observe(_ configuration: Configuration, keys: [String]) -> [TargetID: TargetObservation] {
        let selected = Set(keys)
        var targets: [(id: TargetID, target: TargetSpec, consumer: ConsumerSpec)] = []
        for consumer in configuration.consumers where selected.isEmpty || selected.contains(consumer.uses.value) {
            for (index, target) in consumer.targets.enumerated() {
                targets.append((TargetID(consumer: consumer.name.value, index: index), target, consumer))
            }
        }
        let inspector = TargetInspector()
        let observations = targets.parallelMap { item -> TargetObservation in
            if let path = item.target.filePath, FolderOwnership.refusal(path: path, consumer: item.consumer) != nil {
                return .notRead("refused: its folder is not root's alone")
            }
            return asConsumer(item.consumer) { inspector.observe(item.target) } ?? .unreadable("cannot act as user \(item.consumer.user?.value ?? "")")
        }
        return Dictionary(zip(targets.lazy.map(\.id), observations), uniquingKeysWith: { first, _ in first })
    }

    /// One look at a target, for the planner: what it holds, whether rotor could replace
    /// it, and the warning when every user can read it (made here, on the core that
    /// looked; most targets have none).
    private static func inspect(displayPath: @escaping @Sendable (String) -> String) -> @Sendable (TargetSpec, ConsumerSpec) -> TargetInspection {
        let inspector = TargetInspector()
        return { target, consumer in
            // A target preflight would refuse as root for its folders is not read either:
            // its folder's owner could point it at a file they may not see a fingerprint of.
            if let path = target.filePath, let refusal = FolderOwnership.refusal(path: path, consumer: consumer) {
                var refused = TargetInspection(observation: .notRead("refused: its folder is not root's alone"))
                refused.writeProblem = refusal
                return refused
            }
            guard var inspection = asConsumer(consumer, { inspector.inspect(target) }) else {
                return TargetInspection(observation: .unreadable("cannot act as user \(consumer.user?.value ?? "")"))
            }
            if let mode = inspection.worldReadableMode, let path = target.filePath {
                inspection.exposure = (path, TargetExposure.warning(shownPath: displayPath(path), key: consumer.uses.value, mode: mode))
            }
            return inspection
        }
    }

    /// `body` with this thread's file access as the consumer's `user:`, as preflight reads
    /// (found by an attacker: `plan` read as root showed the fingerprint of a root-only file
    /// the user's link pointed at); as rotor itself when it names none. nil when rotor
    /// cannot act as that user.
    static func asConsumer<T>(_ consumer: ConsumerSpec, _ body: () -> T) -> T? {
        guard let user = consumer.user else { return body() }
        guard let identity = FileIdentity(named: user.value) else { return nil }
        return try? identity.perform(body)
    }

    /// The inspections' warnings as `TargetExposure.warnings` words them: each file once,
    /// in configuration order (the planner went key by key). Only a file that several
    /// targets write (`sharedFiles`; all, when unknown) can come twice.
    private static func exposureWarnings(_ inspected: [Planner.KeyInspections], consumers: [ConsumerSpec], sharedFiles: Set<String>?) -> [String] {
        var byConsumer = [ArraySlice<TargetInspection>?](repeating: nil, count: consumers.count)
        for key in inspected {
            var start = 0
            for position in key.consumerPositions {
                let end = start + consumers[position].targets.count
                byConsumer[position] = key.inspections[start..<end]
                start = end
            }
        }
        var warnings: [String] = []
        var warned = Set<String>()
        for case let inspections? in byConsumer {
            // By index: a `for` over the slice would copy each inspection, strings and all.
            for index in inspections.indices {
                guard let exposure = inspections[index].exposure else { continue }
                if sharedFiles.map({ $0.contains(exposure.path) }) ?? true, !warned.insert(exposure.path).inserted { continue }
                warnings.append(exposure.warning)
            }
        }
        return warnings
    }
}
