import Foundation

/// The key's `scan:` paths (and `--scan`): a rotation never deletes a key that something
/// no target declares still uses.
extension RotationRun {
    /// Where this run looks: the key's `scan:` paths, then `--scan`.
    var scanPaths: [String] {
        var seen = Set<String>()
        return (key.scan + options.scanPaths).filter { seen.insert($0).inserted }
    }

    /// Before anything is created: a copy of the value the targets hold now, in a file of
    /// the scan paths that no target declares, stops the run (that copy would stop working
    /// when the old generation is deleted). So does a file there that could not be read. An
    /// emergency goes on (the key leaked): its report lists the copies left afterwards.
    func scanForUndeclaredCopies() throws {
        let paths = scanPaths
        guard !paths.isEmpty, !options.emergency else { return }
        guard !heldSecrets.isEmpty else {
            note(.preflight, "scan: no target holds a value yet, nothing to look for", .ok)
            return
        }
        let scan = ManagedKeyScan(key: keyName, values: heldSecrets, generationID: old?.id, consumers: consumers)
        let findings: [ScanFinding], tally: ScanTally
        do {
            (findings, tally) = try scan.findings(in: paths, skipping: scanSkipping)
        } catch {
            throw try refuse("scan: \(error)")
        }
        let undeclared = findings.filter { !$0.declared }
        if !undeclared.isEmpty {
            let places = undeclared.prefix(10).map(Self.place).joined(separator: ", ") + (undeclared.count > 10 ? " and \(undeclared.count - 10) more" : "")
            throw try refuse("scan: \(undeclared.count) undeclared cop\(undeclared.count == 1 ? "y" : "ies") of the key's value in use (\(places)) would stop working when it is deleted; declare \(undeclared.count == 1 ? "it" : "them") as targets or delete \(undeclared.count == 1 ? "it" : "them") ('rotor scan \(paths.map(ShellQuote.quote).joined(separator: " "))' prints the consumer entries to add)")
        }
        if tally.unreadableCount > 0 {
            throw try refuse("scan: \(tally.unreadableCount) file\(tally.unreadableCount == 1 ? "" : "s") or folder\(tally.unreadableCount == 1 ? "" : "s") could not be read (\(tally.unreadable.prefix(5).joined(separator: ", "))), so a copy there would go unseen; make them readable or narrow 'scan:'")
        }
        note(.preflight, "scan: \(tally.files) file\(tally.files == 1 ? "" : "s") looked through, no undeclared copy", .ok)
    }

    /// After an emergency: every copy of what the targets held (the leaked generation) still
    /// in the scan paths; nil when there are none to look through.
    func leakedCopies() -> [RotationReport.LeakedCopy]? {
        let paths = scanPaths
        guard !paths.isEmpty else { return nil }
        let leaked = heldSecrets.filter { $0.fingerprint != newGeneration?.secret.fingerprint }
        guard !leaked.isEmpty else { return [] }
        let scan = ManagedKeyScan(key: keyName, values: leaked, generationID: old?.id, consumers: consumers)
        guard let (findings, _) = try? scan.findings(in: paths, skipping: scanSkipping) else { return nil }
        return findings.map { RotationReport.LeakedCopy(path: $0.path, line: $0.line, declared: $0.declared) }
    }

    private var scanSkipping: Set<FileID> {
        Set([FileID.of((engine.backupsRoot as NSString).deletingLastPathComponent)].compactMap { $0 })
    }

    private static func place(_ finding: ScanFinding) -> String {
        let holder = finding.target.flatMap { $0["var"] ?? $0["pointer"] ?? $0["path"] ?? $0["key"] }
        return "\(ControlCharacters.escapeLine(finding.path)):\(finding.line)" + (holder.map { " " + ControlCharacters.escapeLine($0) } ?? "")
    }

    private func refuse(_ reason: String) throws -> Stop {
        try journal.record(.preflight, .failed, reason)
        note(.preflight, reason, .failed)
        return Stop(outcome: .failed, message: "preflight failed: \(reason); nothing was created or changed")
    }
}
