import Foundation

/// The key's `scan:` paths (and `--scan`): a rotation never deletes a key that something
/// no target declares still uses (`ScanPreflight`).
extension RotationRun {
    var scanPaths: [String] { ScanPreflight.paths(of: key, extra: options.scanPaths) }

    /// Before anything is created: a copy of the value in use, in a file of the scan paths
    /// that no target declares, stops the run. So does a file there that could not be read,
    /// and a value that cannot be looked for. An emergency goes on (the key leaked): its
    /// report lists the copies left afterwards.
    func scanForUndeclaredCopies() throws {
        let paths = scanPaths
        guard !paths.isEmpty, !options.emergency else { return }
        let needles: [ScanNeedle]
        switch needlesInUse(as: .current) {
        case .failure(let refusal): throw try refuse(refusal.reason)
        case .success(let found): needles = found
        }
        guard !needles.isEmpty else {
            note(.preflight, "scan: nothing is deployed yet, nothing to look for", .ok)
            return
        }
        let outcome = ScanPreflight.check(key: keyName, needles: needles, consumers: consumers, paths: paths, skipping: scanSkipping)
        if let refusal = outcome.refusal { throw try refuse(refusal) }
        note(.preflight, "scan: \(outcome.files) file\(outcome.files == 1 ? "" : "s") looked through, no undeclared copy", .ok)
    }

    /// After an emergency: every copy of what was in use (the leaked generation) still in the
    /// scan paths, and what could not be read; nil when there are none to look through.
    func leakedCopies() -> (copies: [RotationReport.LeakedCopy], unread: [String])? {
        let paths = scanPaths
        guard !paths.isEmpty else { return nil }
        guard case .success(let needles) = needlesInUse(as: .previous) else { return ([], ["the leaked key's value cannot be looked for (it spans lines, or rotor has no record of its shape)"]) }
        let leaked = needles.filter { $0.fingerprint != newGeneration?.secret.fingerprint }
        guard !leaked.isEmpty else { return ([], []) }
        let (findings, tally) = ManagedKeyScan(key: keyName, needles: leaked, consumers: consumers).findings(in: paths, skipping: scanSkipping)
        let unread = tally.unreadable + (tally.unreadableCount > tally.unreadable.count ? ["… and \(tally.unreadableCount - tally.unreadable.count) more"] : [])
            + (tally.interrupted ? ["the scan was stopped by a signal"] : [])
        return (findings.map { RotationReport.LeakedCopy(path: $0.path, line: $0.line, declared: $0.declared) }, unread)
    }

    private struct Unsearchable: Error {
        var reason: String
    }

    /// What the targets held when the run began, by value, and the old generation (the one
    /// this run deletes) by fingerprint when no target holds it — an exec target without
    /// `read`, a value pasted by hand into every file (found by an attacker: the deleted
    /// generation was not looked for) — with the shape the audit log recorded for it and
    /// those of the values held.
    private func needlesInUse(as generation: ScanNeedle.Generation) -> Result<[ScanNeedle], Unsearchable> {
        if let refusal = ScanPreflight.unsearchable(heldSecrets) { return .failure(Unsearchable(reason: refusal)) }
        var needles = heldSecrets.map { ScanNeedle(key: keyName, generation: generation, generationID: old?.id, value: $0) }
        if let old, !heldSecrets.contains(where: { $0.fingerprint == old.fingerprint }) {
            let recorded = (try? engine.store.auditLog()).map { ManagedKeyScan.recordedGenerations(of: keyName, in: $0).shapes[old.fingerprint] ?? [] } ?? []
            let shapes = Set(recorded + heldSecrets.map { ValueShape(of: Array($0.reveal().utf8)).widened(by: "-_+/=") })
            guard !shapes.isEmpty else {
                return .failure(Unsearchable(reason: "scan: no target rotor can read holds the key's value, and rotor has no record of its length and characters, so its copies cannot be looked for; give an exec target a 'read' command, or take 'scan:' away"))
            }
            needles.append(ScanNeedle(key: keyName, generation: generation, generationID: old.id, fingerprint: old.fingerprint, shapes: Array(shapes)))
        }
        return .success(needles)
    }

    /// rotor's own state: the backups of runs (this one's too) and the database's files.
    private var scanSkipping: Set<FileID> {
        ScanPreflight.stateFiles(store: engine.store, backupsRoot: engine.backupsRoot)
    }

    private func refuse(_ reason: String) throws -> Stop {
        try journal.record(.preflight, .failed, reason)
        note(.preflight, reason, .failed)
        return Stop(outcome: .failed, message: "preflight failed: \(reason); nothing was created or changed")
    }
}
