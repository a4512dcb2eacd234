import Foundation

/// Moving every consumer to the new generation, and retiring the old one.
extension RotationRun {
    /// 3. Backs up, writes, reads back, reloads and health-checks every consumer; on the
    /// first failure every touched target is restored and the new generation deleted.
    func updateConsumers(_ generation: NewGeneration) async throws {
        report.canary = consumers.first?.name.value
        report.plannedConsumers = consumers.map(\.name.value)
        let updates = await engine.updateConsumers(consumers, operations: operations, runID: journal.runID, values: values,
                                                   secret: generation.secret, parallel: options.parallel, journal: journal)
        report.steps += updates.steps
        if journal.leaseLost {
            // Another runner holds the key now and recovers this run; touching anything
            // more (a rollback, a reload, a provider call) would race it.
            throw Stop(outcome: .needsPerson, message: "this run lost its lease on '\(keyName)' to another runner and stopped without touching anything further")
        }
        if let error = updates.storeError { throw error }
        // A signal while consumers were updated: whatever the commands did, the run stops here.
        let stopped = Interruption.shared.requested && updates.failures.isEmpty ? "stopped by a signal" : nil
        guard let failure = updates.failures.first ?? stopped else { return }
        let interrupted = Interruption.shared.requested && !failure.hasSuffix("stopped by a signal")
        // The canary failed alone: say that nothing else was touched.
        let untouched = updates.touchedConsumers.count == 1 && consumers.count > 1 && updates.touchedConsumers[0].name == consumers[0].name
            ? " (the canary: \(consumers.count == 2 ? "the other consumer was" : "the other \(consumers.count - 1) consumers were") not touched)" : ""
        let message = Redactor.redact((interrupted ? "stopped by a signal (\(failure))" : failure) + untouched)
        engine.progress("\(keyName): \(message); rolling back")
        let undone = await engine.rollBack(updates.touched, consumers: updates.touchedConsumers, journal: journal,
                                           context: old.map { [.id: $0.id] } ?? [:])
        report.steps += undone.steps
        report.left += undone.left
        try journal.record(.rollback, undone.left.isEmpty ? .done : .failed,
                           undone.left.isEmpty ? "every touched target restored" : undone.left.map(\.text).joined(separator: "; "))
        if let error = undone.storeError { throw error }
        let rolledBack = undone.left.isEmpty ? "every consumer was rolled back to the old generation"
            : undone.left.contains(where: { $0.kind == .restoreTarget }) ? "the rollback could not put everything back: see what is left to do"
            : "every target was put back, but a consumer is still unhealthy: see what is left to do"
        throw try await abandon(generation, because: "\(message); \(rolledBack)", outcome: undone.left.isEmpty ? .rolledBack : .needsPerson)
    }

    /// 4. Verified: the point of no return (recovery rolls forward from here). The state
    /// names the new generation; the old one is pending deletion.
    func commit(_ generation: NewGeneration) throws -> GenerationRecord {
        let record = GenerationRecord(id: generation.id, fingerprint: generation.secret.fingerprint, created: now)
        try journal.record(.verify, .done, "all \(consumers.count) consumers run on \(generation.id)")
        note(.verify, "all \(consumers.count) consumers verified", .ok)
        var previous = old
        previous?.pendingDeletionAt = now.addingTimeInterval(options.emergency ? 0 : key.grace.timeInterval)
        if options.revokeFirst { previous = nil }
        state = KeyState(current: record, previous: previous)
        try engine.store.saveKeyState(state, for: keyName)
        try journal.record(.commit, .done, "state: current \(generation.id)")
        return record
    }

    /// 5. Deletes the old generation at once (grace 0s, or an emergency), or leaves it
    /// pending for `rotor run`. Ends the run.
    func deleteOld(replacedBy new: GenerationRecord) async throws -> RotationReport {
        let rotated = "rotated to \(new.id) (\(new.fingerprint))"
        guard let old, !options.revokeFirst else {
            engine.removeBackups(journal.runID)
            if let old { try await confirmRevoked(old, secret: oldSecret) }
            if let old, !unknownDeployed.isEmpty {
                return ended(.needsPerson, "\(rotated); rotor's generation \(old.id) revoked first, but the DEPLOYED KEY IS UNKNOWN to rotor and still live: revoke it by hand (see left to do)")
            }
            if old == nil, provider.spec.fixedIDs != nil, let before = heldIDs.first, before != new.id {
                // The role consumers used keeps its password until the next rotation sets a new one on it.
                report.left.append(PendingAction(.deleteGeneration, "role \(before), which consumers used before this first rotation, still logs in with its old password: rotor had not recorded it (adopt keys before their first rotation); the next rotation replaces it, or replace it now by hand"))
            }
            return ended(.completed, "\(rotated); \(old == nil ? "no previous generation known to rotor" : "old generation revoked first")")
        }
        guard key.grace.seconds == 0 || options.emergency else {
            return ended(.completed, "\(rotated); old generation \(old.id) kept until \(DateFormatting.iso8601(state.previous?.pendingDeletionAt ?? now)) (grace \(key.grace))")
        }
        if let error = try await provider.delete(.old(old, because: "delete old generation \(old.id)"), journal: journal, at: now) {
            let message = Redactor.redact(error.message)
            note(.delete, message, .failed)
            if provider.spec.isManual {
                report.left.append(PendingAction(.confirmDeletion, "delete \(ManualProvider.describe(old.id)) in the console, then run 'rotor confirm \(keyName)'"))
            } else {
                report.left.append(PendingAction(.deleteGeneration, "old generation \(old.id) is still at the provider; 'rotor run' retries its deletion"))
            }
            // The backups stay while the old generation does, as in a grace period: the run
            // that deletes it reads its value there (confirm-revoked, and the redactor).
            return ended(.needsPerson, "rotated to \(new.id), but deleting the old generation failed: \(message)")
        }
        let byHand = provider.implementation is ManualProvider
        if byHand {
            // A person's --yes is checked before it is recorded (found by an attacker: with the
            // old key still live, the reminder was gone and nothing tracked it): while it
            // answers, it stays pending, waiting for 'rotor confirm'.
            try await confirmRevoked(old, secret: oldSecret)
            if report.revocations.last?.status == .stillActive {
                report.left.append(PendingAction(.confirmDeletion, "delete \(ManualProvider.describe(old.id)) in the console, then run 'rotor confirm \(keyName)'"))
                return ended(.needsPerson, "\(rotated); old generation \(old.id) still answers its verify checks: kept as waiting for a person to delete it")
            }
        }
        state.previous = nil
        try engine.store.saveKeyState(state, for: keyName)
        note(.delete, "old generation \(old.id) deleted", .ok)
        engine.removeBackups(journal.runID)
        // Earlier runs' backups (one a person never restored) hold generations now gone.
        try engine.removeBackupsOfFinishedRuns(of: keyName)
        if !byHand { try await confirmRevoked(old, secret: oldSecret) }
        return ended(.completed, "\(rotated); old generation \(old.id) deleted" + (report.revocations.last?.status == .rejected ? " and its key rejected" : ""))
    }

    func ended(_ outcome: RunOutcome, _ message: String) -> RotationReport {
        report.outcome = outcome
        report.message = message
        // An attempt whose answer was lost and whose key was found and deleted is part of
        // what happened, not only of the journal.
        let cleared = report.steps.filter { $0.step == .delete && $0.status == .ok && $0.detail.hasPrefix("the generation it created anyway") }
        if !cleared.isEmpty, outcome == .completed {
            report.message += " (after \(cleared.count == 1 ? "an attempt" : "\(cleared.count) attempts") whose answer was lost: \(cleared.map(\.detail).joined(separator: "; ")))"
        }
        return report
    }
}
