import Foundation

/// `rotor sync [KEY...] [--dry-run]`: write the current generation into drifted targets.
public enum SyncCommand {
    public static func run(keys: [String], dryRun: Bool, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard step.keysExist(keys, in: configuration) else { return .usage }
        let engine: RotationEngine
        do { engine = try EngineSetup.make(configuration, global: global, console: console, loader: step.loader) } catch { return error }
        var reports: [RotationReport] = []
        for key in keys.isEmpty ? configuration.keys.map(\.name.value) : keys {
            reports.append(await engine.sync(key, dryRun: dryRun, now: global.clock()))
        }
        return ReportView(console: console, quiet: global.quiet).show(reports, json: false)
    }
}
