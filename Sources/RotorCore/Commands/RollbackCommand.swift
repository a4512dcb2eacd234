import Foundation

/// `rotor rollback RUN`: undo a completed run whose old generation still exists.
public enum RollbackCommand {
    public static func run(runID: String, global: GlobalOptions, json: Bool, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        let engine: RotationEngine
        do { engine = try EngineSetup.make(configuration, global: global, console: console, loader: step.loader) } catch { return error }
        // An unknown run is a usage error, as an unknown key is.
        guard (try? engine.store.runs().contains { $0.id == runID }) != false else {
            console.err("error: no run '\(ControlCharacters.escape(runID))' in the state store; 'rotor history' lists the runs")
            return .usage
        }
        return ReportView(console: console, quiet: global.quiet).show([await engine.rollback(runID: runID)], json: json)
    }
}
