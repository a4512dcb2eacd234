import Foundation

/// `rotor scan [PATH...] [--json]`: every copy of a managed key under the paths (default
/// the current folder), declared or not — the current generation by value, every earlier
/// one rotor recorded by fingerprint. Exit 2 when a copy no target declares exists.
public enum ScanCommand {
    public struct Options: Sendable {
        public var paths: [String]
        public var json: Bool

        public init(paths: [String], json: Bool) {
            self.paths = paths
            self.json = json
        }
    }

    public static func run(_ options: Options, global: GlobalOptions, console: Console) -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let (configuration, _) = step.load() else { return .failure }
        guard let store = step.existingStore() else { return .failure }
        let states: [String: KeyState], audit: [AuditEntry]
        do {
            (states, audit) = (try store?.keyStates() ?? [:], try store?.auditLog() ?? [])
        } catch {
            console.err("error: cannot read the state store: \(error)")
            return .failure
        }
        var scan = ManagedKeyScan(configuration: configuration, keys: configuration.keys, states: states, audit: audit)
        if store == nil {
            // Without it, only the values the targets hold now can be looked for.
            scan.warnings.insert("no state store at \(StateStoreURL.redacted(global.stateURL ?? StateStoreURL.defaultURL)): earlier generations are not looked for (rotor keeps their fingerprints there); name the fleet's store with --state", at: 0)
        }
        if !global.quiet { scan.warnings.forEach { console.warn($0) } }
        guard !scan.needles.isEmpty else {
            console.err("error: nothing to look for: no key's value could be read from its targets and rotor recorded no generation (see the warnings); 'rotor status' shows what each target holds")
            return .failure
        }
        let roots = options.paths.isEmpty ? ["."] : options.paths
        let showsProgress = console.errIsTerminal && !global.quiet && !options.json
        let result = scan.findings(in: roots, skipping: stateFiles(global, store: store), progress: showsProgress ? { tally in
            console.writeErr("\r\u{1B}[Kscanning: \(tally.files) files, \(ByteCountText.text(tally.bytes))")
        } : nil)
        if showsProgress { console.writeErr("\r\u{1B}[K") }
        let (findings, tally) = result
        if options.json {
            console.stdout(jsonBytes(findings, tally: tally, warnings: scan.warnings))
        } else {
            render(findings, tally: tally, roots: roots, configuration: configuration, global: global, console: console)
        }
        // An incomplete scan is an error whatever it found (as grep): a copy may be in what it could not read.
        if tally.interrupted {
            console.err("error: stopped by a signal: the scan is incomplete")
            return .failure
        }
        if tally.unreadableCount > 0 { return .failure }
        return findings.contains(where: { !$0.declared }) ? .pending : .success
    }

    /// rotor's own state (`ScanPreflight.stateFiles`) for the store `--state` names.
    static func stateFiles(_ global: GlobalOptions, store: (any StateStore)?? = nil) -> Set<FileID> {
        let url = global.stateURL ?? StateStoreURL.defaultURL
        let files = StateStoreURL.sqliteFiles(url, workingDirectory: global.workingDirectory)
        let folder = files.first.map { ($0 as NSString).deletingLastPathComponent } ?? PathNormalizer.normalize(global.workingDirectory + "/.rotor")
        let opened = store ?? (try? StateStoreURL.open(global.stateURL, workingDirectory: global.workingDirectory, createIfMissing: false))?.store
        return ScanPreflight.stateFiles(store: opened ?? nil, localFiles: files, backupsRoot: folder + "/backups")
    }

    /// `stateFiles`, looked up only when something will be scanned (a key's `scan:`, or
    /// `--scan`): `plan` at fleet scale does not open the store again for nothing.
    static func stateFiles(_ global: GlobalOptions, ifScanning configuration: Configuration, extra: [String] = []) -> Set<FileID> {
        extra.isEmpty && configuration.keys.allSatisfy(\.scan.isEmpty) ? [] : stateFiles(global)
    }

    static func jsonBytes(_ findings: [ScanFinding], tally: ScanTally, warnings: [String]) -> [UInt8] {
        struct Document: Encodable {
            var version = 1
            var findings: [ScanFinding]
            var undeclared: Int
            var scanned: ScanTally
            var warnings: [String]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let document = Document(findings: findings, undeclared: findings.filter { !$0.declared }.count, scanned: tally, warnings: warnings)
        return Array((try? encoder.encode(document)) ?? Data()) + [0x0A]
    }

    private static func render(_ findings: [ScanFinding], tally: ScanTally, roots: [String], configuration: Configuration,
                               global: GlobalOptions, console: Console) {
        let undeclared = findings.filter { !$0.declared }
        let color = console.colorOut
        for finding in findings where !finding.declared || global.verbose {
            let label = finding.declared ? "declared  " : Style.red("UNDECLARED", color)
            console.out("\(label)  \(ControlCharacters.escapeLine(finding.path)):\(finding.line)  \(finding.key)  \(describe(finding))")
        }
        let skipped = tally.skipped.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.replacingOccurrences(of: "_", with: " "))" }
        if !global.quiet || !undeclared.isEmpty {
            console.out("scanned \(tally.files) file\(tally.files == 1 ? "" : "s") (\(ByteCountText.text(tally.bytes))) under \(roots.map(ControlCharacters.escapeLine).joined(separator: ", "))"
                + (skipped.isEmpty ? "" : "; skipped " + skipped.joined(separator: ", "))
                + ": \(findings.count - undeclared.count) declared cop\(findings.count - undeclared.count == 1 ? "y" : "ies"), \(undeclared.count) undeclared")
        }
        if tally.omitted > 0 {
            console.out("(\(tally.omitted) more cop\(tally.omitted == 1 ? "y" : "ies") not listed: at most \(CopyFinder.maxMatches) are listed per file)")
        }
        for line in tally.unreadable { console.err("error: not scanned: \(line)") }
        if tally.unreadableCount > tally.unreadable.count { console.err("error: … and \(tally.unreadableCount - tally.unreadable.count) more not scanned") }
        guard !undeclared.isEmpty else { return }
        console.out("")
        console.out("Each undeclared copy keeps working only until the key is rotated (an earlier generation: already, or soon, deleted).")
        console.out("Delete the copy, or declare it so that every rotation updates it (for an earlier generation, 'rotor sync KEY' then writes the current one):")
        for suggestion in ManifestSuggestion.make(undeclared, configuration: configuration) { console.out(suggestion) }
    }

    private static func describe(_ finding: ScanFinding) -> String {
        var text = finding.generation == .current ? "current generation" : "earlier generation"
        if let id = finding.generationID { text += " " + ControlCharacters.escapeLine(id) }
        if let target = finding.target {
            let holder = target["var"] ?? target["pointer"] ?? target["path"] ?? target["section"].map { "[\($0)] " + (target["key"] ?? "") }
            if let holder { text += " in " + ControlCharacters.escapeLine(holder) }
        }
        return text
    }
}

/// Byte counts as people read them (decimal units, as `ls -h --si` and disk vendors).
enum ByteCountText {
    static func text(_ bytes: Int) -> String {
        switch bytes {
        case ..<1_000: "\(bytes) bytes"
        case ..<1_000_000: String(format: "%.1f kB", Double(bytes) / 1e3)
        case ..<1_000_000_000: String(format: "%.1f MB", Double(bytes) / 1e6)
        default: String(format: "%.2f GB", Double(bytes) / 1e9)
        }
    }
}
