import Foundation

/// `rotor adopt KEY... | --all [--id ID] [--json]`: record the generation each key's
/// targets hold now as its current one (onboarding: the first rotation then counts from
/// today, waits for its window, and deletes the original key).
public enum AdoptCommand {
    public struct Options: Sendable {
        public var keys: [String]
        public var all: Bool
        public var id: String?
        public var json: Bool

        public init(keys: [String] = [], all: Bool = false, id: String? = nil, json: Bool = false) {
            self.keys = keys
            self.all = all
            self.id = id
            self.json = json
        }
    }

    public static func run(_ options: Options, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard step.keysExist(options.keys, in: configuration) else { return .usage }
        let keys = options.all ? configuration.keys.map(\.name.value) : options.keys
        let engine: RotationEngine
        do { engine = try EngineSetup.make(configuration, global: global, console: console, loader: step.loader) } catch { return error }
        guard let recovered = await EngineSetup.recoverFirst(engine, console: console, json: options.json) else { return .needsPerson }
        var reports: [RotationReport] = []
        var skipped: [RotationReport] = []
        for key in keys {
            let report = await engine.adopt(key, id: options.id, now: global.clock())
            // With --all, a key whose targets hold nothing yet is not an error: its first
            // rotation makes its first generation.
            if options.all, report.notDue != nil { skipped.append(report) } else { reports.append(report) }
        }
        if !options.json, !global.quiet {
            for report in skipped { console.out("\(report.key): skipped — \(report.notDue ?? "")") }
        }
        return max(recovered, ReportView(console: console, quiet: global.quiet).show(reports, json: options.json))
    }
}
