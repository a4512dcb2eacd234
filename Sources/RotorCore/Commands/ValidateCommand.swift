/// `rotor validate`: check every file; print nothing but problems and a summary line.
public enum ValidateCommand {
    public static func run(_ options: GlobalOptions, console: Console) -> ExitStatus {
        guard let (configuration, result) = ConfigurationStep(options: options, console: console).load() else { return .failure }
        let warnings = result.diagnostics.all.count
        if !options.quiet {
            console.out("valid: \(configuration.files.count) file\(configuration.files.count == 1 ? "" : "s"), "
                + "\(configuration.providers.count) provider\(configuration.providers.count == 1 ? "" : "s"), "
                + "\(configuration.keys.count) key\(configuration.keys.count == 1 ? "" : "s"), "
                + "\(configuration.consumers.count) consumer\(configuration.consumers.count == 1 ? "" : "s"), "
                + "\(configuration.targetCount) target\(configuration.targetCount == 1 ? "" : "s")"
                + (warnings > 0 ? " (\(warnings) warning\(warnings == 1 ? "" : "s"))" : ""))
        }
        return .success
    }
}
