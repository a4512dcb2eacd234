import Foundation

/// `rotor rotate KEY... [--emergency] [--revoke-first] [--dry-run] [--parallel N] [--json]`:
/// rotate now, whatever the schedule. Recovers interrupted runs first.
public enum RotateCommand {
    public struct Options: Sendable {
        public var keys: [String]
        public var emergency: Bool
        public var revokeFirst: Bool
        public var dryRun: Bool
        public var parallel: Int
        public var json: Bool
        /// For `manual` keys: where the new secret comes from, and `--yes`.
        public var secretSource: ManualInput.SecretSource
        public var yes: Bool
        /// `--scan PATH` (absolute): as every rotated key's own `scan:` paths.
        public var scanPaths: [String] = []
        /// `apply`: unattended, so it never starts a state store (as `run`).
        public var existingStoreOnly = false

        public init(keys: [String], emergency: Bool = false, revokeFirst: Bool = false, dryRun: Bool = false, parallel: Int = RotationOptions.defaultParallel, json: Bool = false,
                    secretSource: ManualInput.SecretSource = .standardInput, yes: Bool = false) {
            self.secretSource = secretSource
            self.yes = yes
            self.keys = keys
            self.emergency = emergency
            self.revokeFirst = revokeFirst
            self.dryRun = dryRun
            self.parallel = parallel
            self.json = json
        }
    }

    public static func run(_ options: Options, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard step.keysExist(options.keys, in: configuration) else { return .usage }
        // A person's new secret reaches no command rotor runs (reload, health, exec targets).
        if case .environment(let name) = options.secretSource { WithheldEnvironment.withdraw([name]) }
        let loader = step.loader
        if options.dryRun {
            guard let states = step.existingKeyStates() else { return .failure }
            let plan = PlanCommand.dryRun(PlanningInput(
                configuration: configuration, states: states, now: global.clock(), selectedKeys: options.keys,
                force: true, emergency: options.emergency, revokeFirst: options.revokeFirst, displayPath: { loader.displayPath($0) }),
                displayPath: { loader.displayPath($0) }, scanPaths: options.scanPaths, skipping: ScanCommand.stateFiles(global, ifScanning: configuration, extra: options.scanPaths))
            console.writeOut(options.json ? PlanJSONRenderer.render(plan) : PlanTextRenderer(colored: console.colorOut, parallel: options.parallel).render(plan))
            return PlanSummary(plan).blockers > 0 ? .failure : .success
        }
        let manualInput = ManualInput(secretSource: options.secretSource, confirmDeletion: options.yes, tell: { console.writeErr($0.hasSuffix(": ") ? $0 : $0 + "\n") })
        let engine: RotationEngine
        do {
            engine = try EngineSetup.make(configuration, global: global, console: console, loader: loader, manualInput: manualInput,
                                          existingStoreOnly: options.existingStoreOnly, command: "apply")
        } catch { return error }
        guard var status = await EngineSetup.recoverFirst(engine, console: console, json: options.json) else { return .needsPerson }
        var reports: [RotationReport] = []
        // A key named twice is rotated once, as the dry run plans it (found by an attacker: the
        // second rotation deleted the first one's old generation within its grace period).
        var named = Set<String>()
        for key in options.keys where named.insert(key).inserted {
            var rotation = RotationOptions(emergency: options.emergency, revokeFirst: options.revokeFirst, parallel: options.parallel)
            rotation.scanPaths = options.scanPaths
            let report = await engine.rotate(key, options: rotation)
            reports.append(report)
        }
        status = max(status, ReportView(console: console, quiet: global.quiet).show(reports, json: options.json))
        return status
    }
}
