import Foundation

extension RotationEngine {
    /// Deletes a previous generation whose time has come (`rotor run`): when its grace
    /// period has passed, or earlier when the key sets `delete_when_unused_for` and the
    /// provider reports it unused that long. nil when the key has nothing pending.
    ///
    /// `confirmedByPerson` (`rotor confirm`): a person says they deleted a `manual` key's
    /// previous generation in the console; it is recorded (audited as `confirm`) as if
    /// rotor had deleted it, whatever its grace period says.
    public func deletePending(_ keyName: String, now: Date, confirmedByPerson: Bool = false) async throws -> RotationReport? {
        guard let state = try store.keyState(keyName), let current = state.current, let previous = state.previous,
              let due = previous.pendingDeletionAt, let key = configuration.key(named: keyName)
        else { return nil }
        let provider: ResolvedProvider
        do { (_, provider) = try resolve(keyName) } catch { return nil }
        var reason = confirmedByPerson ? "a person confirmed deleting it" : "its grace period ended \(DateFormatting.iso8601(due))"
        if due > now, !confirmedByPerson {
            guard let unusedFor = key.deleteWhenUnusedFor else { return nil }
            let listed: [ListedGeneration]?
            do throws(ProviderError) { listed = try await provider.implementation.list(values: provider.values(at: now), directory: provider.directory) } catch {
                progress("\(keyName): cannot list the provider to see whether \(previous.id) is still used: \(error.message)")
                return nil
            }
            guard let entry = listed?.first(where: { $0.id == previous.id }) else { return nil }
            // No use reported (a database keeps no record of past logins): the old generation
            // was in use until consumers moved, when its grace period began — or later, when
            // an earlier run saw it in use.
            let lastUse = entry.inUseNow ? now
                : max(entry.lastUsed ?? max(previous.created, due.addingTimeInterval(-key.grace.timeInterval)), previous.lastSeenInUse ?? .distantPast)
            guard now.timeIntervalSince(lastUse) >= unusedFor.timeInterval else {
                let waiting = RotationReport(key: keyName, outcome: .inProgress,
                                             message: "old key \(previous.id) still in use (last used \(DateFormatting.iso8601(lastUse))): deleted once unused for \(unusedFor), at the latest \(DateFormatting.iso8601(due))",
                                             newGeneration: current, oldGeneration: previous)
                guard entry.inUseNow else { return waiting }
                // Remembered under the key's lock (found by an operator: a session seen at one
                // run was forgotten by the next, which deleted the role minutes later).
                return await exclusiveRun(of: keyName, runID: Self.makeRunID(clock()), action: .deletePending, report: waiting, record: nil,
                                          skip: {
                                              guard var latest = try store.keyState(keyName), latest.previous?.id == previous.id else { return waiting }
                                              latest.previous?.lastSeenInUse = now
                                              try store.saveKeyState(latest, for: keyName)
                                              return waiting
                                          }, refused: { _ in waiting }) { _ in waiting }
            }
            reason = "unused since \(DateFormatting.iso8601(lastUse)) (\(unusedFor) or more)"
        }
        if provider.spec.isManual, !confirmedByPerson, !manualInput.confirmDeletion {
            // Only a person deletes it: said at every run (exit 3), recorded only once they
            // confirm — not a run and an audit entry every 15 minutes for months.
            var waiting = RotationReport(key: keyName, outcome: .needsPerson, newGeneration: current, oldGeneration: previous)
            waiting.message = "generation \(previous.id) waits for a person to delete it (its grace period is over)"
            waiting.left.append(PendingAction(.confirmDeletion, "delete \(ManualProvider.describe(previous.id)) in the console, then run 'rotor confirm \(keyName)'"))
            return waiting
        }
        let runID = Self.makeRunID(clock())
        let started = RotationReport(key: keyName, runID: runID, newGeneration: current, oldGeneration: previous)
        return await exclusiveRun(of: keyName, runID: runID, action: confirmedByPerson ? .confirm : .deletePending, report: started,
                                  record: .starting(id: runID, key: keyName, at: clock(), emergency: false)) { journal in
            var report = started
            // Read before the deletion removes the backups that hold it: for confirm-revoked,
            // and so that a vendor echoing either value is redacted (every Secret is known).
            let oldSecret = try secretInBackups(of: previous, key: keyName)
            let inUse = await secretInTargets(of: current, key: keyName).map { (id: current.id, secret: $0) }
            /// The state without the previous generation, its backups gone, the report completed.
            func recordDeleted() throws {
                try store.saveKeyState(KeyState(current: current, previous: nil), for: keyName)
                try removeBackupsOfFinishedRuns(of: keyName)
                report.outcome = .completed
                report.message = "deleted generation \(previous.id): \(reason)"
                report.steps.append(PlanStep(step: .delete, detail: report.message, status: .ok))
            }
            if confirmedByPerson {
                // A person says it is deleted: rotor checks first, and when the old key still
                // answers it records nothing — the reminder stays (found by an attacker: it
                // was dropped, and nothing tracked the live key any more).
                let revocation = try await confirmRevoked(previous, secret: oldSecret, current: inUse, key: key, journal: journal)
                report.add(revocation)
                if revocation.status == .stillActive {
                    report.outcome = .needsPerson
                    report.message = "generation \(previous.id) still answers its verify checks: it is not deleted at the provider yet; nothing was recorded — delete it there, then confirm again"
                    report.left.append(PendingAction(.confirmDeletion, "delete \(ManualProvider.describe(previous.id)) in the console, then run 'rotor confirm \(keyName)'"))
                    return report
                }
                try recordDeleted()
                return report
            }
            if let error = try await provider.delete(.old(previous, because: "delete generation \(previous.id): grace period over"), journal: journal, at: now) {
                report.outcome = .needsPerson
                report.message = "deleting generation \(previous.id) (grace period over) failed: \(error.message); the next run retries"
                report.left.append(PendingAction(.deleteGeneration, "generation \(previous.id) is still at the provider"))
                return report
            }
            try recordDeleted()
            report.add(try await confirmRevoked(previous, secret: oldSecret, current: inUse, key: key, journal: journal))
            report.escalateIfOldKeyAnswers(provider: provider.name)
            return report
        }
    }
}
