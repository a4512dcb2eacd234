import Foundation

extension RotationEngine {
    /// Undoes a completed run whose old generation still exists (kept by `grace`): every
    /// target it wrote is restored from the run's backups, consumers are reloaded and
    /// health-checked, the state points at the old generation again, and the run's new
    /// generation is deleted.
    public func rollback(runID: String) async -> RotationReport {
        var report = RotationReport(key: "", runID: runID)
        let run: RunRecord, history: RunHistory, old: GenerationRecord, provider: ResolvedProvider
        do {
            (run, history, old, provider) = try rollbackPrerequisites(runID, report: &report)
        } catch {
            report.message = error.description
            return report
        }
        guard let new = history.new else { return report }
        let started = report
        return await exclusiveRun(of: run.key, runID: runID, action: .rollback, report: started, record: nil) { journal in
            var report = started
            // The run is unfinished again while it is undone: a crash from here on is
            // finished by recovery, which the intent tells to roll back.
            try store.reopenRun(runID)
            try journal.record(.rollback, .intent, "undo run \(runID): back to \(old.id)")
            var touched: [TouchedTarget] = []
            var consumers: [ConsumerSpec] = []
            for write in history.writes {
                let operation: TargetOperation
                do { operation = try configuredOperation(for: write) } catch {
                    report.left.append(PendingAction(.restoreTarget, "\(write.target): \(error)"))
                    continue
                }
                guard write.backup.map({ isBackup($0, of: runID) }) ?? true else {
                    report.left.append(PendingAction(.restoreTarget, "\(write.target): the journal's backup is not in run \(runID)'s backup folder; restore it by hand"))
                    continue
                }
                touched.append(TouchedTarget(operation: operation, backup: write.backup))
                let consumer = operation.consumer
                if !consumers.contains(where: { $0.name == consumer.name }) { consumers.append(consumer) }
            }
            let restored = await rollBack(touched, consumers: consumers, journal: journal, context: [.id: old.id])
            if let error = restored.storeError { throw error }
            report.steps += restored.steps
            report.left += restored.left
            try store.saveKeyState(KeyState(current: GenerationRecord(id: old.id, fingerprint: old.fingerprint, created: old.created), previous: nil), for: run.key)
            if let error = try await provider.delete(.new(id: new.id, because: "delete generation"), journal: journal, at: clock()) {
                report.left.append(PendingAction(.deleteGeneration, "delete generation \(new.id) at provider '\(provider.name)': \(error.message)"))
            }
            try store.finishRun(runID, outcome: report.left.isEmpty ? .rolledBack : .needsPerson, at: clock())
            try journal.record(.rollback, report.left.isEmpty ? .done : .failed, report.left.isEmpty ? "run undone" : report.left.map(\.text).joined(separator: "; "))
            if report.left.isEmpty { removeBackups(runID) }
            // A rollback that was asked for and done is a success.
            report.outcome = report.left.isEmpty ? .completed : .needsPerson
            report.message = report.left.isEmpty
                ? "run \(runID) undone: every consumer is back on \(old.id); generation \(new.id) deleted"
                : "run \(runID) partly undone: " + report.left.map(\.text).joined(separator: "; ")
            return report
        }
    }

    struct RollbackRefusal: Error, CustomStringConvertible {
        var description: String
    }

    /// The run to undo, its history, the old generation it goes back to and the provider
    /// that deletes its new one; or why it cannot be undone (nothing was changed).
    private func rollbackPrerequisites(_ runID: String, report: inout RotationReport) throws(RollbackRefusal)
        -> (RunRecord, RunHistory, GenerationRecord, ResolvedProvider) {
        func refuse(_ message: String) -> RollbackRefusal { RollbackRefusal(description: message) }
        let found: RunRecord?
        do { found = try store.run(runID) } catch { throw refuse("cannot read run \(runID) from the state store: \(error)") }
        guard let run = found else { throw refuse("no run '\(runID)' in the state store; 'rotor history' lists runs") }
        report.key = run.key
        guard run.outcome == .completed else {
            throw refuse("run \(runID) ended \(run.outcome?.rawValue ?? "unfinished"), not completed: nothing to undo (use 'rotor recover' for an unfinished run)")
        }
        let history: RunHistory, state: KeyState?
        do {
            history = try RunHistory.checked(try store.journal(of: runID), runID: runID)
            state = try store.keyState(run.key)
        } catch {
            throw refuse("cannot read run \(runID) from the state store: \(error)")
        }
        guard let new = history.new, state?.current?.id == new.id else {
            throw refuse("run \(runID) is not the latest rotation of '\(run.key)': only the latest run can be rolled back")
        }
        guard let old = state?.previous else {
            throw refuse("the old generation of run \(runID) no longer exists (grace period over, or it was revoked): rotor cannot restore it; rotate '\(run.key)' again instead")
        }
        report.newGeneration = new
        report.oldGeneration = old
        guard FileManager.default.fileExists(atPath: backupFolder(runID)) else {
            throw refuse("the backups of run \(runID) are gone: rotor cannot restore the old values; rotate '\(run.key)' again instead")
        }
        do {
            let (_, provider) = try resolve(run.key)
            return (run, history, old, provider)
        } catch {
            throw refuse("key '\(run.key)' or its provider is no longer configured (\(error))")
        }
    }
}
