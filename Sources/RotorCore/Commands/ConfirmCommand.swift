import Foundation

/// `rotor confirm KEY... [--json]`: a person says they deleted a `manual` key's previous
/// generation in the console. rotor records it (audited as `confirm`), proves the old key
/// dead with the key's verify checks when it can, and `run` stops asking.
public enum ConfirmCommand {
    public static func run(keys: [String], json: Bool, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard step.keysExist(keys, in: configuration) else { return .usage }
        for key in keys where !configuration.isManual(key) {
            console.err("error: '\(key)' is not issued by hand (its provider is not manual): rotor deletes its old generations itself ('rotor run')")
            return .usage
        }
        guard let states = step.existingKeyStates() else { return .failure }
        for key in keys where states[key]?.previous == nil {
            console.err("error: '\(key)' has no old generation waiting to be deleted; nothing to confirm")
            return .failure
        }
        // The person's word stands for the provider's deletion (`deletePending(confirmedByPerson:)`).
        let engine: RotationEngine
        do { engine = try EngineSetup.make(configuration, global: global, console: console, loader: step.loader) } catch { return error }
        guard let recovered = await EngineSetup.recoverFirst(engine, console: console, json: json) else { return .needsPerson }
        var reports: [RotationReport] = []
        for key in keys {
            do {
                if let report = try await engine.deletePending(key, now: global.clock(), confirmedByPerson: true) { reports.append(report) }
            } catch {
                console.err("error: cannot read the state of '\(key)' (\(error)); nothing was recorded")
                return .needsPerson
            }
        }
        return max(recovered, ReportView(console: console, quiet: global.quiet).show(reports, json: json, showEvidence: true))
    }
}
