import Foundation

extension RotationEngine {
    /// Undoes a completed run whose old generation still exists (kept by `grace`): every
    /// target it wrote is restored from the run's backups, consumers are reloaded and
    /// health-checked, the state points at the old generation again, and the run's new
    /// generation is deleted.
    public func rollback(runID: String) async -> RotationReport {
        var report = RotationReport(key: "", runID: runID, outcome: .failed, emergency: false, message: "",
                                    newGeneration: nil, oldGeneration: nil, steps: [], left: [])
        guard let run = try? store.run(runID) else {
            report.message = "no run '\(runID)' in the state store; 'rotor history' lists runs"
            return report
        }
        report.key = run.key
        guard run.outcome == .completed else {
            report.message = "run \(runID) ended \(run.outcome?.rawValue ?? "unfinished"), not completed: nothing to undo (use 'rotor recover' for an unfinished run)"
            return report
        }
        guard let entries = try? store.journal(of: runID),
              let new = entries.last(where: { $0.step == "create" && $0.phase == .done }).flatMap({ Self.record(from: $0.data, prefix: "new") }),
              let state = try? store.keyStates()[run.key], state.current?.id == new.id
        else {
            report.message = "run \(runID) is not the latest rotation of '\(run.key)': only the latest run can be rolled back"
            return report
        }
        guard let old = state.previous else {
            report.message = "the old generation of run \(runID) no longer exists (grace period over, or it was revoked): rotor cannot restore it; rotate '\(run.key)' again instead"
            return report
        }
        report.newGeneration = new
        report.oldGeneration = old
        guard FileManager.default.fileExists(atPath: backupFolder(runID)) else {
            report.message = "the backups of run \(runID) are gone: rotor cannot restore the old values; rotate '\(run.key)' again instead"
            return report
        }
        guard let key = configuration.key(named: run.key), let spec = configuration.provider(named: key.provider.value),
              let provider = spec.makeProvider(runner: runner, manualInput: manualInput)
        else {
            report.message = "key '\(run.key)' or its provider is no longer configured"
            return report
        }
        let started = report
        let locked = await withKeyLock(run.key, runID: runID) { () async -> RotationReport in
            var report = started
            let journal = Journal(store: store, runID: runID, clock: clock)
            do {
                try journal.record("rollback", .intent, "undo run \(runID): back to \(old.id)")
                var touched: [TouchedTarget] = []
                var consumers: [ConsumerSpec] = []
                for entry in entries where entry.step == "update" && entry.phase == .intent {
                    guard let name = entry.consumer, let index = entry.data["index"].flatMap(Int.init),
                          let consumer = configuration.consumers.first(where: { $0.name.value == name }), consumer.targets.indices.contains(index)
                    else {
                        report.left.append("\(entry.target ?? "a target"): its consumer is no longer configured; restore it by hand")
                        continue
                    }
                    let backup = entry.data["backup"].flatMap { $0.isEmpty ? nil : $0 }
                    touched.append(TouchedTarget(operation: TargetOperation(consumer: consumer, index: index, spec: consumer.targets[index],
                                                                            label: entry.target ?? "", runner: runner), backup: backup))
                    if !consumers.contains(where: { $0.name == consumer.name }) { consumers.append(consumer) }
                }
                let restored = await rollBack(touched, consumers: consumers, journal: journal)
                report.steps += restored.steps
                report.left += restored.left
                try store.saveKeyState(KeyState(current: GenerationRecord(id: old.id, fingerprint: old.fingerprint, created: old.created), previous: nil), for: run.key)
                try journal.record("delete-new", .intent, "delete generation \(new.id)", data: ["new_id": new.id])
                var deletionError: ProviderError?
                do throws(ProviderError) {
                    try await provider.delete(id: new.id, values: TemplateValues.context(key: run.key, now: clock()), directory: spec.directory)
                } catch {
                    deletionError = error
                }
                if let deletionError {
                    try journal.record("delete-new", .failed, deletionError.message)
                    report.left.append("delete generation \(new.id) at provider '\(spec.name.value)': \(deletionError.message)")
                } else {
                    try journal.record("delete-new", .done, "generation \(new.id) deleted")
                }
                let outcome: RunOutcome = report.left.isEmpty ? .rolledBack : .needsPerson
                try store.finishRun(runID, outcome: outcome, at: clock())
                try journal.record("rollback", report.left.isEmpty ? .done : .failed, report.left.isEmpty ? "run undone" : report.left.joined(separator: "; "))
                if report.left.isEmpty { removeBackups(runID) }
                // A rollback that was asked for and done is a success.
                report.outcome = report.left.isEmpty ? .completed : .needsPerson
                report.message = report.left.isEmpty
                    ? "run \(runID) undone: every consumer is back on \(old.id); generation \(new.id) deleted"
                    : "run \(runID) partly undone: " + report.left.joined(separator: "; ")
            } catch {
                report.outcome = .needsPerson
                report.message = "the state store failed during the rollback (\(error)); run 'rotor rollback \(runID)' again"
            }
            return report
        }
        return concluded(locked, refused: report, action: "rollback", key: run.key)
    }
}
