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

        public init(keys: [String], emergency: Bool = false, revokeFirst: Bool = false, dryRun: Bool = false, parallel: Int = 8, json: Bool = false,
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
        let loader = step.loader
        if options.dryRun {
            guard let states = step.existingKeyStates() else { return .failure }
            let plan = Planner.plan(PlanningInput(
                configuration: configuration, states: states,
                observations: PlanCommand.observe(configuration, keys: options.keys), now: global.clock(), selectedKeys: options.keys,
                force: true, emergency: options.emergency, revokeFirst: options.revokeFirst, displayPath: { loader.displayPath($0) }))
            console.writeOut(options.json ? PlanJSONRenderer.render(plan) : PlanTextRenderer(colored: console.colorOut).render(plan))
            return PlanSummary(plan).blockers > 0 ? .failure : .success
        }
        let manualInput = ManualInput(secretSource: options.secretSource, confirmDeletion: options.yes, tell: { console.writeErr($0.hasSuffix(": ") ? $0 : $0 + "\n") })
        guard let engine = EngineSetup.make(configuration, global: global, console: console, loader: loader, manualInput: manualInput) else { return .failure }
        // Recovery reports are progress here: with --json they must not mix into stdout.
        var recoveryConsole = console
        if options.json { recoveryConsole.stdout = console.stderr }
        var status = EngineSetup.report(await engine.recover(), console: recoveryConsole, json: false, recovery: true)
        var reports: [RotationReport] = []
        for key in options.keys {
            let report = await engine.rotate(key, options: RotationOptions(emergency: options.emergency, revokeFirst: options.revokeFirst, parallel: options.parallel))
            reports.append(report)
        }
        status = max(status, EngineSetup.report(reports, console: console, json: options.json))
        return status
    }
}

/// `rotor recover`: finish or undo interrupted runs.
public enum RecoverCommand {
    public static func run(global: GlobalOptions, json: Bool, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard let engine = EngineSetup.make(configuration, global: global, console: console, loader: step.loader) else { return .failure }
        let reports = await engine.recover()
        if reports.isEmpty, !json {
            if !global.quiet { console.out("nothing to recover") }
            return .success
        }
        return EngineSetup.report(reports, console: console, json: json, recovery: true)
    }
}

/// `rotor rollback RUN`: undo a completed run whose old generation still exists.
public enum RollbackCommand {
    public static func run(runID: String, global: GlobalOptions, json: Bool, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard let engine = EngineSetup.make(configuration, global: global, console: console, loader: step.loader) else { return .failure }
        return EngineSetup.report([await engine.rollback(runID: runID)], console: console, json: json)
    }
}

/// `rotor sync [KEY...] [--dry-run]`: write the current generation into drifted targets.
public enum SyncCommand {
    public static func run(keys: [String], dryRun: Bool, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard step.keysExist(keys, in: configuration) else { return .usage }
        guard let engine = EngineSetup.make(configuration, global: global, console: console, loader: step.loader) else { return .failure }
        var reports: [RotationReport] = []
        for key in keys.isEmpty ? configuration.keys.map(\.name.value) : keys {
            reports.append(await engine.sync(key, dryRun: dryRun, now: global.clock()))
        }
        return EngineSetup.report(reports, console: console, json: false)
    }
}

/// Builds the engine for a command, and prints its reports.
enum EngineSetup {
    static func make(_ configuration: Configuration, global: GlobalOptions, console: Console, loader: ConfigurationLoader,
                     manualInput: ManualInput = ManualInput()) -> RotationEngine? {
        let opened: StateStoreURL.Opened
        do {
            guard let store = try StateStoreURL.open(global.stateURL, workingDirectory: global.workingDirectory) else { return nil }
            opened = store
        } catch {
            console.err("error: \(error)")
            return nil
        }
        let quiet = global.quiet
        // On a terminal, many targets make one redrawn counter line rather than a line each.
        let redraw = console.errIsTerminal
        return RotationEngine(configuration: configuration, store: opened.store, backupsRoot: opened.stateFolder + "/backups",
                              progress: { line in if !quiet { console.err(line) } },
                              targetProgress: { done, total, line in
                                  guard !quiet else { return }
                                  guard redraw, total > 10 else { return console.err(line) }
                                  console.writeErr("\r\u{1B}[K  updated \(done)/\(total) targets" + (done == total ? "\n" : ""))
                              },
                              clock: global.clock,
                              displayPath: { loader.displayPath($0) },
                              manualInput: manualInput)
    }

    /// Prints reports (a line each, or JSON) and returns the exit status they call for.
    /// `recovery`: the reports are of interrupted runs, finished either way (see `recoveryExitStatus`).
    static func report(_ reports: [RotationReport], console: Console, json: Bool, recovery: Bool = false) -> ExitStatus {
        if json {
            console.writeOut(JSONOutput.encode(ReportDocument(version: 1, keys: reports)))
        } else {
            for report in reports {
                let word = switch report.outcome {
                case .completed: Style.green("completed", console.colorOut)
                case .rolledBack: Style.yellow("rolled back", console.colorOut)
                case .failed: Style.red("failed", console.colorOut)
                case .needsPerson: Style.red("NEEDS A PERSON", console.colorOut)
                case .inProgress: Style.yellow("in progress", console.colorOut)
                }
                console.out("\(report.key): \(word) — \(report.message)")
                if report.emergency {
                    // An incident wants every consumer accounted for.
                    for (consumer, state, detail) in report.consumerOutcomes {
                        console.out("  \(consumer): \(state)" + (detail.map { " — \($0)" } ?? ""))
                    }
                }
                for item in report.left { console.out("  left to do: \(item)") }
            }
        }
        return reports.map { recovery ? $0.recoveryExitStatus : $0.exitStatus }.max() ?? .success
    }

    struct ReportDocument: Encodable {
        var version: Int
        var keys: [RotationReport]
    }
}

extension ExitStatus: Comparable {
    /// Severity, for combining the outcomes of several keys: needs-person > failure > pending > success.
    private var severity: Int {
        switch self {
        case .success: 0
        case .pending: 1
        case .failure: 2
        case .needsPerson: 3
        case .usage: 4
        }
    }

    public static func < (lhs: ExitStatus, rhs: ExitStatus) -> Bool { lhs.severity < rhs.severity }
}
