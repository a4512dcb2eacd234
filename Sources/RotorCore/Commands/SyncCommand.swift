import Foundation

/// `rotor sync [KEY...] [--dry-run]`: write the current generation into drifted targets.
public enum SyncCommand {
    public static func run(keys: [String], dryRun: Bool, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard step.keysExist(keys, in: configuration) else { return .usage }
        let engine: RotationEngine
        do { engine = try EngineSetup.make(configuration, global: global, console: console, loader: step.loader) } catch { return error }
        let interrupted: [RunRecord]
        do { interrupted = InterruptedRuns.of(keys, in: try engine.store.runs()) } catch {
            console.err("error: cannot read the runs in the state store (\(error)); nothing was changed")
            return .needsPerson
        }
        var reports: [RotationReport] = []
        for key in keys.isEmpty ? configuration.keys.map(\.name.value) : keys {
            // Writing the state's generation into targets an interrupted run was switching
            // would undo (or tangle) it: recovery decides which generation they keep.
            if let run = interrupted.first(where: { $0.key == key }) {
                var report = RotationReport(key: key, runID: run.id, outcome: .needsPerson)
                report.message = InterruptedRuns.describe(run) + "; sync changed nothing for '\(key)'"
                report.left.append(PendingAction(.recoverRun, "run 'rotor recover', then 'rotor sync \(key)' if targets still drift"))
                reports.append(report)
                continue
            }
            reports.append(await engine.sync(key, dryRun: dryRun, now: global.clock()))
        }
        return ReportView(console: console, quiet: global.quiet).show(reports, json: false)
    }
}
