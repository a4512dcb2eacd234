import Foundation

/// `rotor run [--dry-run] [--json]`: the cron/CI entry. Recovers interrupted runs, rotates
/// every key that is due (inside its window), deletes previous generations whose grace
/// period has passed. One failing key does not stop the others.
public enum RunCommand {
    public struct Options: Sendable {
        public var dryRun: Bool
        public var json: Bool
        public var metricsFile: String?

        public init(dryRun: Bool = false, json: Bool = false, metricsFile: String? = nil) {
            self.dryRun = dryRun
            self.json = json
            self.metricsFile = metricsFile
        }
    }

    /// How one key ended in a run: `due`, `reason` and `steps` as in a plan, plus what happened.
    public struct KeyReport: Sendable, Codable {
        public var key: String
        public var due: Bool
        public var reason: String
        /// nil when the key was not due (nothing was attempted).
        public var outcome: RunOutcome?
        public var run: String?
        public var message: String
        public var steps: [PlanStep]
        public var left: [String]
        /// A previous generation deleted because its grace period ended.
        public var deletion: String?
    }

    public static func run(_ options: Options, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        let now = global.clock()
        if options.dryRun {
            guard let states = step.existingKeyStates() else { return .failure }
            let loader = step.loader
            let plan = Planner.plan(PlanningInput(configuration: configuration, states: states,
                                                  observations: PlanCommand.observe(configuration, keys: []), now: now,
                                                  displayPath: { loader.displayPath($0) }))
            console.writeOut(options.json ? PlanJSONRenderer.render(plan) : PlanTextRenderer(colored: console.colorOut).render(plan))
            for (key, state) in states.sorted(by: { $0.key < $1.key }) {
                if let previous = state.previous, let due = previous.pendingDeletionAt, due <= now, !options.json {
                    console.out("\(key): would delete generation \(previous.id) (grace period ended \(DateFormatting.iso8601(due)))")
                }
            }
            return .success
        }
        guard let engine = EngineSetup.make(configuration, global: global, console: console, loader: step.loader) else { return .failure }
        var recoveryConsole = console
        if options.json { recoveryConsole.stdout = console.stderr }
        var status = EngineSetup.report(await engine.recover(), console: recoveryConsole, json: false, recovery: true)

        let states = (try? engine.store.keyStates()) ?? [:]
        let plan = Planner.plan(PlanningInput(configuration: configuration, states: states, now: now))
        var reports: [KeyReport] = []
        for keyPlan in plan.keys {
            var report = KeyReport(key: keyPlan.key, due: keyPlan.due, reason: keyPlan.reason, outcome: nil, run: nil,
                                   message: keyPlan.due ? "" : "not due: \(keyPlan.reason)", steps: [], left: [])
            if keyPlan.due {
                var rotationOptions = RotationOptions()
                rotationOptions.onlyIfDueAt = now
                let rotation = await engine.rotate(keyPlan.key, options: rotationOptions)
                if let reason = rotation.notDue {
                    report.due = false
                    report.reason = reason
                    report.message = rotation.message
                    reports.append(report)
                    continue
                }
                report.outcome = rotation.outcome
                report.run = rotation.runID
                report.message = rotation.message
                report.steps = rotation.steps
                report.left = rotation.left
                status = max(status, rotation.exitStatus)
            }
            if let deletion = await engine.deletePending(keyPlan.key, now: now) {
                report.deletion = deletion.message
                report.left += deletion.left
                // A deletion that failed leaves a generation behind: a person should know.
                status = max(status, deletion.exitStatus == .failure ? .needsPerson : deletion.exitStatus)
            }
            reports.append(report)
        }
        print(reports, console: console, json: options.json)
        if let path = options.metricsFile {
            let metrics = Metrics.render(configuration: configuration, states: (try? engine.store.keyStates()) ?? [:], runs: (try? engine.store.runs()) ?? [],
                                         drifted: StatusCommand.driftCounts(configuration, states: (try? engine.store.keyStates()) ?? [:]), now: global.clock())
            do { try AtomicFile.write(Array(metrics.utf8), to: path, newFileMode: 0o644) } catch {
                console.err("warning: cannot write the metrics file: \(error)")
            }
        }
        return status
    }

    private static func print(_ reports: [KeyReport], console: Console, json: Bool) {
        if json {
            struct Document: Encodable { var version: Int; var keys: [KeyReport] }
            console.writeOut(JSONOutput.encode(Document(version: 1, keys: reports)))
            return
        }
        for report in reports {
            let word: String = switch report.outcome {
            case nil: Style.dim("skipped", console.colorOut)
            case .completed?: Style.green("rotated", console.colorOut)
            case .rolledBack?: Style.yellow("rolled back", console.colorOut)
            case .failed?: Style.red("failed", console.colorOut)
            case .needsPerson?: Style.red("NEEDS A PERSON", console.colorOut)
            case .inProgress?: Style.yellow("in progress", console.colorOut)
            }
            console.out("\(report.key): \(word) — \(report.message)")
            if let deletion = report.deletion { console.out("  \(deletion)") }
            for item in report.left { console.out("  left to do: \(item)") }
        }
    }
}
