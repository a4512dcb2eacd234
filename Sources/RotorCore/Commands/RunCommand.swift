import Foundation

/// `rotor run [--dry-run] [--json]`: the cron/CI entry. Recovers interrupted runs, rotates
/// every key that is due (inside its window), deletes previous generations whose grace
/// period has passed. One failing key does not stop the others.
public enum RunCommand {
    public struct Options: Sendable {
        public var dryRun: Bool
        public var json: Bool
        public var metricsFile: String?
        /// `--scan PATH` (absolute): as every rotated key's own `scan:` paths.
        public var scanPaths: [String]
        /// `--parallel-keys N`: keys rotated at once.
        public var parallelKeys = RotationEngine.defaultParallelKeys

        public init(dryRun: Bool = false, json: Bool = false, metricsFile: String? = nil, scanPaths: [String] = []) {
            self.scanPaths = scanPaths
            self.dryRun = dryRun
            self.json = json
            self.metricsFile = metricsFile
        }
    }

    public static func run(_ options: Options, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        let now = global.clock()
        if options.dryRun {
            // As the run itself: no store, no run (say so now, not at the real run).
            guard let store = step.existingStore() else { return .failure }
            guard store != nil else {
                EngineSetup.noStore(global, console: console)
                return .failure
            }
            guard let (states, _, streaks) = step.existingStatesAndInterruptedRuns(keys: []) else { return .failure }
            let loader = step.loader
            var input = PlanningInput(configuration: configuration, states: states, now: now, displayPath: { loader.displayPath($0) })
            input.failureStreaks = streaks
            input.backoffHolds = true  // as the run itself would
            let plan = PlanCommand.dryRun(input, displayPath: { loader.displayPath($0) }, scanPaths: options.scanPaths, skipping: ScanCommand.stateFiles(global, ifScanning: configuration, extra: options.scanPaths))
            console.writeOut(options.json ? PlanJSONRenderer.render(plan) : PlanTextRenderer(colored: console.colorOut).render(plan))
            for (key, state) in states.sorted(by: { $0.key < $1.key }) {
                if let previous = state.previous, let due = previous.pendingDeletionAt, due <= now, !options.json {
                    console.out("\(key): would delete generation \(previous.id) (grace period ended \(DateFormatting.iso8601(due)))")
                }
            }
            return PlanSummary(plan).blockers > 0 ? .failure : .success
        }
        let engine: RotationEngine
        do { engine = try EngineSetup.make(configuration, global: global, console: console, loader: step.loader, existingStoreOnly: true) } catch { return error }
        guard let recovered = await EngineSetup.recoverFirst(engine, console: console, json: options.json) else { return .needsPerson }
        let reports: [ScheduledKeyReport]
        do { reports = try await engine.runScheduled(now: now, scanPaths: options.scanPaths, parallelKeys: options.parallelKeys) } catch {
            console.err("error: cannot read the key states (\(error)); nothing was rotated")
            return .needsPerson
        }
        let status = max(recovered, ReportView(console: console, quiet: global.quiet).show(reports, json: options.json))
        if let path = options.metricsFile {
            do {
                let states = try engine.store.keyStates()
                var outcomes: [String: RunOutcome] = [:]
                for report in reports {
                    for outcome in [report.rotation?.outcome, report.deletion?.outcome].compactMap({ $0 }) {
                        outcomes[report.key] = outcomes[report.key].map { $0.worst(outcome) } ?? outcome
                    }
                }
                let metrics = Metrics.render(configuration: configuration, states: states, runs: try engine.store.runs(), outcomes: outcomes,
                                             drifted: TargetClassifier.driftCounts(configuration, states: states),
                                             auditHead: try engine.store.auditLog().last, now: global.clock())
                try AtomicFile.write(Array(metrics.utf8), to: path, newFileMode: 0o644)
            } catch {
                console.err("warning: cannot write the metrics file: \(error)")
            }
        }
        return status
    }
}
