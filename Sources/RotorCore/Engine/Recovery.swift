import Foundation

extension RotationEngine {
    /// Finishes or undoes every interrupted run (`rotor recover`, also run before `rotate`
    /// and `run`). A run is rolled forward when its journal says every consumer had
    /// verified the new generation, else rolled back from its backups.
    public func recover() async -> [RotationReport] {
        guard let runs = try? store.runs() else { return [] }
        var reports: [RotationReport] = []
        for run in runs where run.finished == nil {
            reports.append(await recover(run))
        }
        return reports
    }

    private func recover(_ run: RunRecord) async -> RotationReport {
        var report = RotationReport(key: run.key, runID: run.id, outcome: .needsPerson, emergency: run.emergency,
                                    message: "", newGeneration: nil, oldGeneration: nil, steps: [], left: [])
        let owner = LockOwner.current(runID: run.id)
        let attempt = try? store.acquireLock(key: run.key, owner: owner, lease: 900, now: clock(), canTakeOver: Self.ownerIsGone)
        guard attempt == .acquired else {
            report.outcome = .inProgress
            report.message = "run \(run.id) of '\(run.key)' is still in progress (its process holds the lock); left alone"
            return report
        }
        defer { try? store.releaseLock(key: run.key, owner: owner) }
        do {
            let entries = try store.journal(of: run.id)
            let journal = Journal(store: store, runID: run.id, clock: clock)
            report.newGeneration = entries.last { $0.step == "create" && $0.phase == .done }.flatMap { Self.record(from: $0.data, prefix: "new") }
            report.oldGeneration = entries.first { $0.step == "start" }.flatMap { Self.record(from: $0.data, prefix: "old") }
            try journal.record("recover", .info, "recovery by pid \(ProcessInfo.processInfo.processIdentifier)")
            // A write cut off by the crash may have left a temporary file holding the new secret.
            for entry in entries where entry.step == "update" && entry.phase == .intent {
                if let path = entry.data["path"] { AtomicFile.removeStrayTemporaries(for: path) }
            }
            if entries.contains(where: { $0.step == "verify" && $0.phase == .done }) {
                try await rollForward(run, entries: entries, journal: journal, report: &report)
            } else {
                try await rollBack(run, entries: entries, journal: journal, report: &report)
            }
            try store.finishRun(run.id, outcome: report.outcome, at: clock())
            audit(report, action: "recover")
        } catch {
            report.message = "recovery of run \(run.id) stopped: the state store failed (\(error))"
        }
        progress("\(run.key): \(report.message)")
        return report
    }

    /// Every consumer had verified the new generation: record it, and delete the old one if due.
    private func rollForward(_ run: RunRecord, entries: [JournalEntry], journal: Journal, report: inout RotationReport) async throws {
        guard let new = report.newGeneration else {
            report.message = "run \(run.id) verified consumers but its journal has no new generation; check the state by hand"
            return
        }
        let key = configuration.key(named: run.key)
        let grace = run.emergency ? 0 : key?.grace.timeInterval ?? 0
        var previous = report.oldGeneration
        previous?.pendingDeletionAt = new.created.addingTimeInterval(grace)
        if entries.contains(where: { $0.step == "revoke" && $0.phase == .done }) { previous = nil }
        if !entries.contains(where: { $0.step == "commit" }) {
            try store.saveKeyState(KeyState(current: new, previous: previous), for: run.key)
            try journal.record("commit", .done, "state: current \(new.id) (recovered)")
        }
        report.outcome = .completed
        report.message = "run \(run.id) rolled forward: every consumer had verified \(new.id)"
        guard let old = previous, grace == 0, !entries.contains(where: { $0.step == "delete" && $0.phase == .done }) else {
            removeBackups(run.id)
            return
        }
        guard let key, let spec = configuration.provider(named: key.provider.value), let provider = spec.makeProvider(runner: runner, manualInput: manualInput) else {
            report.outcome = .needsPerson
            report.left.append("delete old generation \(old.id) of '\(run.key)' at its provider")
            return
        }
        try journal.record("delete", .intent, "delete old generation \(old.id)", data: Self.data(old, prefix: "old"))
        do throws(ProviderError) {
            try await provider.delete(id: old.id, values: TemplateValues.context(key: run.key, now: clock()), directory: spec.directory)
        } catch {
            try journal.record("delete", .failed, error.message)
            report.outcome = .needsPerson
            report.left.append("old generation \(old.id) is still at the provider; 'rotor run' retries its deletion")
            return
        }
        try journal.record("delete", .done, "old generation \(old.id) deleted")
        try store.saveKeyState(KeyState(current: new, previous: nil), for: run.key)
        report.message += "; old generation \(old.id) deleted"
        removeBackups(run.id)
    }

    /// Not every consumer had verified: put every touched target back and delete the new generation.
    private func rollBack(_ run: RunRecord, entries: [JournalEntry], journal: Journal, report: inout RotationReport) async throws {
        let restored = Set(entries.filter { $0.step == "restore" && $0.phase == .done }.compactMap(\.target))
        var touchedConsumers: [String] = []
        for entry in entries.reversed() where entry.step == "update" && entry.phase == .intent {
            guard let target = entry.target, !restored.contains(target) else { continue }
            if let consumer = entry.consumer, !touchedConsumers.contains(consumer) { touchedConsumers.append(consumer) }
            guard let backup = entry.data["backup"], !backup.isEmpty else {
                report.left.append("\(target) could not be restored (no backup): put the old value back by hand")
                continue
            }
            do {
                try journal.record("restore", .intent, consumer: entry.consumer, target: target, "restore from backup", data: ["backup": backup])
                try await restore(entry, backup: backup)
                try journal.record("restore", .done, consumer: entry.consumer, target: target, "restored")
                report.steps.append(PlanStep(step: .update, consumer: entry.consumer, target: target, detail: "restored to the old generation", status: "rolled-back"))
            } catch {
                report.left.append("\(target): restore failed: \(error)")
            }
        }
        for name in touchedConsumers.reversed() {
            guard let consumer = configuration.consumers.first(where: { $0.name.value == name }) else { continue }
            if let problem = await reloadAndCheck(consumer, values: [:], journal: journal, steps: &report.steps) {
                report.left.append("after rollback, \(problem)")
            }
        }
        try await deleteUnwantedGeneration(run, entries: entries, journal: journal, report: &report)
        report.outcome = report.left.isEmpty ? .rolledBack : .needsPerson
        report.message = "run \(run.id) rolled back: " + (report.left.isEmpty ? "every consumer is on the old generation" : report.left.joined(separator: "; "))
        if report.left.isEmpty { removeBackups(run.id) }
    }

    /// Restores one target: by path for files (the configuration may have changed since),
    /// through its command for exec targets.
    private func restore(_ entry: JournalEntry, backup: String) async throws {
        if let path = entry.data["path"] {
            guard let data = FileManager.default.contents(atPath: backup) else { throw TargetEditError("its backup \(backup) is missing") }
            if FileManager.default.contents(atPath: path) == data { return }
            do { try AtomicFile.write([UInt8](data), to: path) } catch { throw TargetEditError(error.reason) }
            return
        }
        guard let name = entry.consumer, let index = entry.data["index"].flatMap(Int.init),
              let consumer = configuration.consumers.first(where: { $0.name.value == name }), consumer.targets.indices.contains(index)
        else { throw TargetEditError("its consumer is no longer in the configuration") }
        let operation = TargetOperation(consumer: consumer, index: index, spec: consumer.targets[index], label: entry.target ?? "", runner: runner)
        try await operation.restore(from: backup)
    }

    /// Deletes the run's new generation: by its journalled id, or — when rotor died before
    /// recording it — by finding it in the provider's list by name.
    private func deleteUnwantedGeneration(_ run: RunRecord, entries: [JournalEntry], journal: Journal, report: inout RotationReport) async throws {
        guard entries.contains(where: { $0.step == "create" && $0.phase == .intent }),
              !entries.contains(where: { $0.step == "delete-new" && $0.phase == .done })
        else { return }
        if entries.contains(where: { $0.step == "create" && $0.phase == .failed && $0.data["may_have_created"] == "false" }) { return }
        guard let key = configuration.key(named: run.key), let spec = configuration.provider(named: key.provider.value),
              let provider = spec.makeProvider(runner: runner, manualInput: manualInput)
        else {
            report.left.append("the key or its provider is no longer configured: check provider for a generation of run \(run.id)")
            return
        }
        let values = TemplateValues.context(key: run.key, now: clock())
        var id = report.newGeneration?.id
        if id == nil, case .generate = spec.kind { return }  // nothing exists anywhere but in the dead process
        if id == nil {
            let name = entries.first { $0.step == "create" && $0.phase == .intent }?.data["name"] ?? ""
            do throws(ProviderError) {
                guard let listed = try await provider.list(values: values, directory: spec.directory) else {
                    report.left.append("rotor died while creating '\(name)' at provider '\(spec.name.value)' and the provider cannot list: delete that generation there if it exists")
                    return
                }
                // Never a generation the state knows (a same-named older one stays untouched).
                let known = Set([report.oldGeneration?.id].compactMap { $0 } + ((try? store.keyStates()[run.key]).map { [$0.current?.id, $0.previous?.id].compactMap { $0 } } ?? []))
                guard let orphan = listed.last(where: { $0.name == name && !known.contains($0.id) }) else { return }
                id = orphan.id
                try? journal.record("create", .info, "found the unrecorded generation \(orphan.id) named '\(name)'", data: ["new_id": orphan.id])
            } catch {
                report.left.append("cannot list provider '\(spec.name.value)' to find a generation named '\(name)': \(error.message)")
                return
            }
        }
        guard let id else { return }
        try journal.record("delete-new", .intent, "delete the new generation \(id)", data: ["new_id": id])
        do throws(ProviderError) {
            try await provider.delete(id: id, values: values, directory: spec.directory)
        } catch {
            try journal.record("delete-new", .failed, error.message)
            report.left.append("delete the new generation \(id) at provider '\(spec.name.value)': \(error.message)")
            return
        }
        try journal.record("delete-new", .done, "new generation \(id) deleted")
        report.steps.append(PlanStep(step: .delete, detail: "new generation \(id) deleted", status: "ok"))
    }
}
