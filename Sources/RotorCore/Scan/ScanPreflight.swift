import Foundation

/// A rotation's `scan:` check, shared by preflight and by `plan` and dry runs (which must
/// refuse what preflight will): an undeclared copy of the value the key's targets hold, in
/// the scan paths, would stop working when the old generation is deleted.
enum ScanPreflight {
    struct Outcome {
        /// Why the rotation must not go ahead; nil when it may.
        var refusal: String?
        var files: Int
    }

    static func check(key: String, needles: [ScanNeedle], consumers: [ConsumerSpec], paths: [String], skipping: Set<FileID>) -> Outcome {
        let scan = ManagedKeyScan(key: key, needles: needles, consumers: consumers)
        let (findings, tally) = scan.findings(in: paths, skipping: skipping)
        if tally.interrupted { return Outcome(refusal: "scan: stopped by a signal", files: tally.files) }
        let undeclared = findings.filter { !$0.declared }
        let command = "'rotor scan \(paths.map { ShellQuote.quote(shown($0)) }.joined(separator: " "))', with this command's --config and --state,"
        if !undeclared.isEmpty {
            let places = undeclared.prefix(10).map(place).joined(separator: ", ") + (undeclared.count > 10 ? " and \(undeclared.count - 10) more" : "")
            let them = undeclared.count == 1 ? "it" : "them"
            return Outcome(refusal: "scan: \(undeclared.count) undeclared cop\(undeclared.count == 1 ? "y" : "ies") of the key's value in use (\(places)) would stop working when it is deleted; declare \(them) as targets or delete \(them) (\(command) prints the consumer entries to add)",
                           files: tally.files)
        }
        if tally.unreadableCount > 0 {
            return Outcome(refusal: "scan: \(tally.unreadableCount) file\(tally.unreadableCount == 1 ? "" : "s") or folder\(tally.unreadableCount == 1 ? "" : "s") could not be read (\(tally.unreadable.prefix(5).joined(separator: ", "))), so a copy there would go unseen; make them readable or narrow 'scan:'",
                           files: tally.files)
        }
        return Outcome(refusal: nil, files: tally.files)
    }

    /// Why these values cannot be looked for (a value that spans lines: a copy is never
    /// found across a line ending), or nil.
    static func unsearchable(_ values: [Secret]) -> String? {
        guard values.contains(where: { $0.reveal().utf8.contains(0x0A) || $0.reveal().utf8.contains(0x0D) }) else { return nil }
        return "scan: the key's value spans lines (a PEM key?), and a copy is never found across a line ending, so its copies cannot be looked for; take 'scan:' away for this key"
    }

    /// What the key's file targets hold now (`plan` reads no exec target).
    static func heldValues(_ consumers: [ConsumerSpec]) -> [Secret] {
        var held: [Secret] = []
        for consumer in consumers {
            for target in consumer.targets {
                guard let path = target.filePath, let format = target.fileFormat,
                      case .success(let bytes) = FileTargetReader.read(path), case .success(let text) = format.read(bytes),
                      let value = target.value.extract(from: text)?[.secret], !value.isEmpty else { continue }
                let secret = Secret(value)
                if !held.contains(secret) { held.append(secret) }
            }
        }
        return held
    }

    /// rotor's own state, never a copy: the store's local files and the backup folder of
    /// each run it has (`<backupsRoot>/<run>/`) — not the folders they are in, which may be
    /// the fleet's own (found by attackers: `--state sqlite:state.db` hid the whole tree,
    /// then a project's own `backups/` beside it).
    static func stateFiles(store: (any StateStore)?, localFiles: [String] = [], backupsRoot: String) -> Set<FileID> {
        let runs = (try? store?.runs()) ?? []
        return Set(((store?.localFiles ?? localFiles) + runs.map { backupsRoot + "/" + $0.id }).compactMap(FileID.of))
    }

    /// The key's `scan:` paths, then `extra` (`--scan`), each once.
    static func paths(of key: KeyPolicy, extra: [String]) -> [String] {
        var seen = Set<String>()
        return (key.scan + extra).filter { seen.insert($0).inserted }
    }

    /// A path under the current folder as relative to it (as `plan` shows targets).
    private static func shown(_ path: String) -> String {
        ConfigurationLoader(workingDirectory: FileManager.default.currentDirectoryPath).displayPath(path)
    }

    private static func place(_ finding: ScanFinding) -> String {
        let holder = finding.target.flatMap { $0["var"] ?? $0["pointer"] ?? $0["path"] ?? $0["key"] }
        return "\(ControlCharacters.escapeLine(shown(finding.path))):\(finding.line)" + (holder.map { " " + ControlCharacters.escapeLine($0) } ?? "")
    }
}
