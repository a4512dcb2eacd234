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
        guard !options.htmlPath.isEmpty else {
            console.err("error: --html needs a file name ('-' writes the page to standard output)")
            return .usage
        }
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        let loader = step.loader
        // Where the page goes is checked before anything is read: a refused FILE costs nothing.
        var file: PageFile?
        if options.htmlPath != "-" {
            do {
                let joined = options.htmlPath.hasPrefix("/") ? options.htmlPath : global.workingDirectory + "/" + options.htmlPath
                file = try PageFile(shown: options.htmlPath, joined: joined, configuration: configuration,
                                    configurationFiles: configuration.files.map { loader.absolute($0) },
                                    stateFiles: StateStoreURL.sqliteFiles(global.stateURL, workingDirectory: global.workingDirectory))
            } catch {
                console.err("error: \(error)")
                return .failure
            }
        }
        guard let store = step.existingStore() else { return .failure }
        var report: FleetReport
        do {
            report = try await FleetReport.gather(configuration: configuration, store: store, runLimit: options.runs, now: global.clock(),
                                                  displayPath: { loader.displayPath($0) })
            report.source.state = StateStoreURL.redacted(global.stateURL ?? StateStoreURL.defaultURL)
        } catch {
            console.err("error: cannot read the state store: \(error)")
            return .failure
        }
        let page = ReportPage.render(report)
        if let file {
            do {
                try file.write(page)
            } catch {
                console.err("error: \(error)")
                return .failure
            }
        } else if let problem = console.stdoutWhole(Array(page.utf8)) {
            console.err("error: the page was not written whole to standard output: \(problem)")
            return .failure
        }
        if !global.quiet {
            let overdue = report.overdueCount, drifted = report.driftedCount
            let written = options.htmlPath == "-" ? "wrote the page to standard output" : "wrote \(options.htmlPath)"
            console.err(ControlCharacters.escapeLine("\(written): \(report.keys.count) key\(report.keys.count == 1 ? "" : "s"), "
                + "\(overdue) overdue, \(drifted) target\(drifted == 1 ? "" : "s") not in sync, audit log "
                + (report.audit.problem == nil ? "intact" : "BROKEN")
                + (report.source.stateExists ? "" : "; no state store at \(report.source.state) yet: every key shows as never rotated")))
        }
        return .success
    }
}
