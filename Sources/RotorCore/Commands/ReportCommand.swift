import Foundation

/// `rotor report --html FILE`: the fleet on one self-contained page (`FleetReport`,
/// `ReportPage`). Reads what `status` and `history --verify` read — every target, so an
/// exec target's `read` command runs — and changes nothing but FILE (`-`: stdout).
public enum ReportCommand {
    public struct Options: Sendable {
        public var htmlPath: String
        /// How many of the newest runs the page shows with their journals.
        public var runs: Int

        public init(htmlPath: String, runs: Int = 20) {
            self.htmlPath = htmlPath
            self.runs = runs
        }
    }

    public static func run(_ options: Options, global: GlobalOptions, console: Console) async -> ExitStatus {
        guard options.runs >= 0 else {
            console.err("error: --runs must be 0 or more")
            return .usage
        }
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard let store = step.existingStore() else { return .failure }
        let loader = step.loader
        let report: FleetReport
        do {
            report = try await FleetReport.gather(configuration: configuration, store: store, runLimit: options.runs, now: global.clock(),
                                                  displayPath: { loader.displayPath($0) })
        } catch {
            console.err("error: cannot read the state store: \(error)")
            return .failure
        }
        let page = ReportPage.render(report)
        if options.htmlPath == "-" {
            console.writeOut(page)
            return .success
        }
        let path = loader.absolute(options.htmlPath)
        do {
            try AtomicFile.write(Array(page.utf8), to: path, newFileMode: 0o644)
        } catch {
            console.err("error: \(error)")
            return .failure
        }
        if !global.quiet {
            let overdue = report.overdueCount, drifted = report.driftedCount
            var line = "wrote \(options.htmlPath): \(report.keys.count) key\(report.keys.count == 1 ? "" : "s"), "
                + "\(overdue) overdue, \(drifted) target\(drifted == 1 ? "" : "s") not in sync, audit log "
                + (report.audit.problem == nil ? "intact" : "BROKEN")
            line = ControlCharacters.escapeLine(line)
            console.err(line)
        }
        return .success
    }
}
