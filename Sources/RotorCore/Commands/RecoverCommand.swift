import Foundation

/// `rotor recover`: finish or undo interrupted runs.
public enum RecoverCommand {
    public static func run(global: GlobalOptions, json: Bool, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        let engine: RotationEngine
        // Nothing can be interrupted where no store is: none is made (a mistyped --state
        // must not leave an empty store that a later 'rotor run' would take for the real one).
        do {
            guard let existing = try EngineSetup.makeIfStoreExists(configuration, global: global, console: console, loader: step.loader, create: false) else {
                if !global.quiet && !json { console.out("nothing to recover (no state store there)") }
                return .success
            }
            engine = existing
        } catch { return error }
        let reports: [RotationReport]
        do { reports = try await engine.recover() } catch {
            console.err("error: \(error)")
            return .needsPerson
        }
        if reports.isEmpty, !json {
            if !global.quiet { console.out("nothing to recover") }
            return .success
        }
        return ReportView(console: console, quiet: global.quiet).show(reports, json: json, recovery: true)
    }
}
