import Foundation

/// Options every command shares (`--config`, `--state`, `--quiet`…), as plain values.
public struct GlobalOptions: Sendable {
    public var configPaths: [String]
    /// `--state URL`, else `ROTOR_STATE`, else `sqlite:.rotor/state.db`.
    public var stateURL: String?
    public var quiet: Bool
    public var verbose: Bool
    public var workingDirectory: String
    /// The time rotor acts at: `ROTOR_NOW` (ISO 8601) when set — so that schedules, grace
    /// periods and windows can be tested without waiting — else the system clock.
    public var clock: @Sendable () -> Date

    public init(configPaths: [String] = [], stateURL: String? = nil, quiet: Bool = false, verbose: Bool = false,
                workingDirectory: String = FileManager.default.currentDirectoryPath, clock: @escaping @Sendable () -> Date = GlobalOptions.environmentClock) {
        self.configPaths = configPaths
        self.stateURL = stateURL
        self.quiet = quiet
        self.verbose = verbose
        self.workingDirectory = workingDirectory
        self.clock = clock
    }

    /// `ROTOR_NOW` when set, else the time. Called for every journal entry: `getenv`, not
    /// `ProcessInfo.environment` (a dictionary of the whole environment built per call cost
    /// a fleet run 5 % of its CPU), and the text parsed once.
    @Sendable public static func environmentClock() -> Date {
        guard let value = getenv("ROTOR_NOW") else { return Date() }
        let text = String(cString: value)
        if let (parsed, date) = fixedNowLock.withLock({ lastFixedNow }), parsed == text { return date ?? Date() }
        let date = fixedNow(text)
        fixedNowLock.withLock { lastFixedNow = (text, date) }
        return date ?? Date()
    }

    private static let fixedNowLock = NSLock()
    nonisolated(unsafe) private static var lastFixedNow: (text: String, date: Date?)?

    /// `ROTOR_NOW` read strictly: an RFC 3339 time (`2027-01-01T09:30:00Z`, an offset,
    /// fractions), or a date meaning 00:00 UTC (`2027-01-01`); nil for anything else.
    public static func fixedNow(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) ?? ISO8601DateFormatter.withFractions.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        day.timeZone = TimeZone(identifier: "UTC")
        return text.count == 10 ? day.date(from: text) : nil
    }

    /// Why `ROTOR_NOW` cannot be used (a usage error: rotor must not act at a time it
    /// guessed, or at the real time when the caller meant another), or nil.
    public static var fixedNowProblem: String? {
        guard let text = ProcessInfo.processInfo.environment["ROTOR_NOW"], fixedNow(text) == nil else { return nil }
        return "ROTOR_NOW='\(ControlCharacters.escape(text))' is neither an RFC 3339 time (2027-01-01T09:30:00Z) nor a date (2027-01-01, meaning 00:00 UTC); unset it to use the system clock"
    }
}

/// Loads the configuration for a command and reports its diagnostics; nil when invalid.
struct ConfigurationStep {
    let options: GlobalOptions
    let console: Console

    var loader: ConfigurationLoader { ConfigurationLoader(workingDirectory: options.workingDirectory) }

    func load() -> (Configuration, ConfigurationLoadResult)? {
        let result = loader.load(paths: options.configPaths)
        KeptUntilExit.keep(result)
        let renderer = DiagnosticRenderer(sources: result.sources, colored: console.colorErr)
        let shown = result.diagnostics.sorted.filter { $0.severity == .error || !options.quiet }
        if !shown.isEmpty { console.writeErr(renderer.render(shown)) }
        guard !result.diagnostics.hasErrors else {
            let errors = result.diagnostics.errors.count
            let files = Set(result.diagnostics.errors.compactMap(\.location?.file)).count
            console.err("\(errors) error\(errors == 1 ? "" : "s")\(files > 0 ? " in \(files) file\(files == 1 ? "" : "s")" : ""); nothing was changed")
            return nil
        }
        // From here on no command rotor runs can inherit a provider's token, nor the password
        // of a PostgreSQL state store (libpq gets it explicitly: `PostgresConnection`).
        var withheld = result.configuration.tokenVariables
        if options.stateURL.map(PostgresURL.isURI) == true { withheld.insert("PGPASSWORD") }
        // A state URL holding a password, from the environment (found by an attacker).
        if let url = ProcessInfo.processInfo.environment["ROTOR_STATE"], StateStoreURL.redacted(url) != url { withheld.insert("ROTOR_STATE") }
        WithheldEnvironment.withdraw(withheld)
        return (result.configuration, result)
    }

    /// The state store if one exists — `plan`, `status`, `history` and dry runs change
    /// nothing, so they never create it. nil (after saying why) when it cannot be opened.
    func existingStore() -> (any StateStore)?? {
        do {
            return .some(try StateStoreURL.open(options.stateURL, workingDirectory: options.workingDirectory, createIfMissing: false)?.store)
        } catch {
            console.err("error: \(error)")
            return nil
        }
    }

    /// Key states of the existing store (none yet is fine); nil when it cannot be read.
    func existingKeyStates() -> [String: KeyState]? {
        guard let store = existingStore() else { return nil }
        do {
            return try store?.keyStates() ?? [:]
        } catch {
            console.err("error: cannot read the state store: \(error)")
            return nil
        }
    }

    /// False (after saying which and what exists) when a named key is not configured.
    func keysExist(_ names: [String], in configuration: Configuration) -> Bool {
        let known = configuration.keys.map(\.name.value)
        for name in names where !known.contains(name) {
            console.err("error: unknown key '\(name)'\(Suggestion.didYouMean(name, in: known)); keys are: \(known.joined(separator: ", "))")
            return false
        }
        return true
    }
}
