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
        guard !heldSecrets.isEmpty else {
            note(.preflight, "scan: no target holds a value yet, nothing to look for", .ok)
            return
        }
        let outcome = ScanPreflight.check(key: keyName, values: heldSecrets, generationID: old?.id, consumers: consumers, paths: paths, skipping: scanSkipping)
        if let refusal = outcome.refusal {
            try journal.record(.preflight, .failed, refusal)
            note(.preflight, refusal, .failed)
            throw Stop(outcome: .failed, message: "preflight failed: \(refusal); nothing was created or changed")
        }
        note(.preflight, "scan: \(outcome.files) file\(outcome.files == 1 ? "" : "s") looked through, no undeclared copy", .ok)
    }

    /// After an emergency: every copy of what the targets held (the leaked generation) still
    /// in the scan paths; nil when there are none to look through.
    func leakedCopies() -> [RotationReport.LeakedCopy]? {
        let paths = scanPaths
        guard !paths.isEmpty else { return nil }
        let leaked = heldSecrets.filter { $0.fingerprint != newGeneration?.secret.fingerprint }
        guard !leaked.isEmpty else { return [] }
        let scan = ManagedKeyScan(key: keyName, values: leaked, generationID: old?.id, consumers: consumers)
        let (findings, _) = scan.findings(in: paths, skipping: scanSkipping)
        return findings.map { RotationReport.LeakedCopy(path: $0.path, line: $0.line, declared: $0.declared) }
    }

    private var scanSkipping: Set<FileID> {
        Set([FileID.of((engine.backupsRoot as NSString).deletingLastPathComponent)].compactMap { $0 })
    }
}
