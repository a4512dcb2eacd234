import Foundation

/// The key's `scan:` paths (and `--scan`): a rotation never deletes a key that something
/// no target declares still uses (`ScanPreflight`).
extension RotationRun {
    var scanPaths: [String] { ScanPreflight.paths(of: key, extra: options.scanPaths) }

    /// Before anything is created: a copy of the value the targets hold now, in a file of
    /// the scan paths that no target declares, stops the run. So does a file there that
    /// could not be read. An emergency goes on (the key leaked): its report lists the copies
    /// left afterwards.
    func scanForUndeclaredCopies() throws {
        let paths = scanPaths
        guard !paths.isEmpty, !options.emergency else { return }
        var needles = heldSecrets.map { ScanNeedle(key: keyName, generation: .current, generationID: old?.id, value: $0) }
        if needles.isEmpty {
            // No target rotor can read holds it (an exec target without `read`): looked for by
            // its fingerprint, with the length and characters the audit log recorded.
            guard let old else {
                note(.preflight, "scan: nothing is deployed yet, nothing to look for", .ok)
                return
            }
            let shapes = (try? engine.store.auditLog()).map { ManagedKeyScan.recordedGenerations(of: keyName, in: $0).shapes[old.fingerprint] ?? [] } ?? []
            guard !shapes.isEmpty else {
                let refusal = "scan: no target rotor can read holds the key's value, and rotor has no record of its length and characters, so its copies cannot be looked for; give an exec target a 'read' command, or take 'scan:' away"
                try journal.record(.preflight, .failed, refusal)
                note(.preflight, refusal, .failed)
                throw Stop(outcome: .failed, message: "preflight failed: \(refusal); nothing was created or changed")
            }
            needles = [ScanNeedle(key: keyName, generation: .current, generationID: old.id, fingerprint: old.fingerprint, shapes: shapes)]
        }
        let outcome = ScanPreflight.check(key: keyName, needles: needles, consumers: consumers, paths: paths, skipping: scanSkipping)
        if let refusal = outcome.refusal {
            try journal.record(.preflight, .failed, refusal)
            note(.preflight, refusal, .failed)
            throw Stop(outcome: .failed, message: "preflight failed: \(refusal); nothing was created or changed")
        }
        note(.preflight, "scan: \(outcome.files) file\(outcome.files == 1 ? "" : "s") looked through, no undeclared copy", .ok)
    }

    /// After an emergency: every copy of what the targets held (the leaked generation) still
    /// in the scan paths; nil when there are none to look through.
    func leakedCopies() -> (copies: [RotationReport.LeakedCopy], unread: [String])? {
        let paths = scanPaths
        guard !paths.isEmpty else { return nil }
        let leaked = heldSecrets.filter { $0.fingerprint != newGeneration?.secret.fingerprint }
        guard !leaked.isEmpty else { return ([], []) }
        let scan = ManagedKeyScan(key: keyName, needles: leaked.map { ScanNeedle(key: keyName, generation: .previous, generationID: old?.id, value: $0) },
                                  consumers: consumers)
        let (findings, tally) = scan.findings(in: paths, skipping: scanSkipping)
        let unread = tally.unreadable + (tally.unreadableCount > tally.unreadable.count ? ["… and \(tally.unreadableCount - tally.unreadable.count) more"] : [])
            + (tally.interrupted ? ["the scan was stopped by a signal"] : [])
        return (findings.map { RotationReport.LeakedCopy(path: $0.path, line: $0.line, declared: $0.declared) }, unread)
    }

    /// The backups of runs (this one's too) and the state database's files.
    private var scanSkipping: Set<FileID> {
        Set(([engine.backupsRoot] + engine.store.localFiles).compactMap(FileID.of))
    }
}
