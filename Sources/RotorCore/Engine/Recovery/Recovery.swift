import Foundation

extension RotationEngine {
    /// The state store could not say which runs were interrupted: nothing may rotate
    /// until it can (`rotate` and `run` stop with exit 3).
    public struct RecoveryBlocked: Error, CustomStringConvertible {
        public var description: String
    }

    /// Finishes or undoes every interrupted run (`rotor recover`, also run before `rotate`
    /// and `run`). A run is rolled forward when its journal says every consumer had
    /// verified the new generation, else rolled back from its backups.
    public func recover() async throws(RecoveryBlocked) -> [RotationReport] {
        let runs: [RunRecord]
        do { runs = try store.runs() } catch {
            throw RecoveryBlocked(description: "cannot read the runs in the state store (\(error)), so rotor cannot tell whether a run was interrupted; nothing was rotated — run 'rotor recover' once the store is readable")
        }
        // Key states are read by every recovery: one that cannot be read stops recovery
        // before it touches anything (found by an attacker: it restored targets first).
        if runs.contains(where: { $0.finished == nil }) {
            do { _ = try store.keyStates() } catch {
                throw RecoveryBlocked(description: "cannot read the key states in the state store (\(error)), so rotor cannot recover the interrupted runs; nothing was touched — repair or restore the state store, then run 'rotor recover'")
            }
        }
        var reports: [RotationReport] = []
        for run in runs where run.finished == nil {
            let report = await recover(run)
            // Finished by its own runner (or another recoverer) since the list was read.
            if report.notDue == nil { reports.append(report) }
        }
        return reports
    }

    /// Finishes or undoes one interrupted run (also when an operation takes over the lease
    /// of a runner that died mid-run: `exclusiveRun`).
    func recover(_ run: RunRecord) async -> RotationReport {
        let report = RotationReport(key: run.key, runID: run.id, outcome: .needsPerson, emergency: run.emergency)
        if let elsewhere = leftToItsHost(run, report: report) { return elsewhere }
        var options = RotationOptions()
        options.lockWait = 0
        // The key's lock, taken at once or not at all: a holder whose process is gone is
        // taken over; a live one means the run is not interrupted.
        // The list of runs was read before this lock was held: a run finished meanwhile
        // is not recovered again (that would put its generation back as current after a
        // newer rotation).
        let finishedMeanwhile = { () throws -> RotationReport? in
            guard try self.store.run(run.id)?.finished != nil else { return nil }
            var skipped = report
            skipped.notDue = "run \(run.id) finished while recovery waited for its lock"
            return skipped
        }
        return await exclusiveRun(of: run.key, runID: run.id, action: .recover, report: report, options: options, record: nil,
                                  skip: finishedMeanwhile, refused: { refusal in
            var refused = report
            switch refusal {
            case .heldBy:
                // A live process holds the lock: that run is not interrupted.
                refused.outcome = .inProgress
                refused.message = "run \(run.id) of '\(run.key)' is still in progress (its process holds the lock); left alone"
            case .storeFailed:
                refused.message = "run \(run.id) of '\(run.key)' was not recovered: \(refusal.message)"
                refused.left.append(PendingAction(.recoverRun, "run 'rotor recover' once the state store answers: run \(run.id) is unfinished"))
            }
            return refused
        }) { journal in
            var report = report
            let entries = try store.journal(of: run.id)
            let history = try RunHistory.checked(entries, runID: run.id)
            report.newGeneration = history.new
            report.oldGeneration = history.old
            try journal.record(.recover, .info, "recovery by pid \(ProcessInfo.processInfo.processIdentifier)")
            // A write cut off by the crash may have left a temporary file holding the new secret.
            for write in history.writes {
                guard let path = write.path else { continue }
                AtomicFile.removeStrayTemporaries(for: path)
                AtomicFile.removeStrayTemporaries(for: AtomicFile.canonical(path))  // beside the file a link leads to
            }
            switch history.decision {
            case .rollForward(let new): try await rollForward(run, to: new, history: history, journal: journal, report: &report)
            case .rollBack: try await rollBack(run, history: history, journal: journal, report: &report)
            case .finishDeletion(let old): try await finishDeletion(run, of: old, history: history, journal: journal, report: &report)
            case .inconsistent:
                report.message = "run \(run.id) verified consumers but its journal has no new generation; check the state by hand"
                report.left.append(PendingAction(.checkState, "compare the targets of '\(run.key)' with 'rotor status' and the provider's keys"))
            }
            try await finishRetirement(run, history: history, journal: journal, report: &report)
            try store.finishRun(run.id, outcome: report.outcome, at: clock())
            return report
        }
    }

    /// A run interrupted on another machine that wrote targets is recovered there, not here:
    /// the backups of what it wrote are on that machine (found by reviewers: a cron on
    /// another host took such a run over once its lease expired, "rolled it back" without
    /// the backups and deleted the generation the targets held). "Another machine" is
    /// another host name, or this name on another machine or pid namespace (the identity
    /// its lease recorded). Unless a person ran `rotor unlock` (the machine is gone for
    /// good), or this host took the run over before. A run that wrote nothing is recovered
    /// anywhere. nil: recover it here.
    func leftToItsHost(_ run: RunRecord, report: RotationReport) -> RotationReport? {
        let here = ProcessInfo.processInfo.hostName
        let holder = (try? store.lockHolder(key: run.key)) ?? nil
        let lease = holder?.owner.runID == run.id ? holder : nil
        let elsewhere = run.host != here || lease.map { ProcessIdentity.liveness(of: $0.owner) == .elsewhere } == true
        guard elsewhere else { return nil }
        if let lease, lease.freedByPerson || (lease.owner.host == here && ProcessIdentity.liveness(of: lease.owner) != .elsewhere) { return nil }
        guard let entries = try? store.journal(of: run.id), let history = try? RunHistory.checked(entries, runID: run.id),
              !history.writes.isEmpty else { return nil }
        let host = ControlCharacters.escapeLine(run.host) + (run.host == here ? " (another machine or container of this name)" : "")
        var left = report
        if let lease, lease.expires > clock() {
            left.outcome = .inProgress
            left.message = "run \(run.id) of '\(run.key)' is in progress on \(host) (its lease runs until \(DateFormatting.iso8601(lease.expires))); left alone"
            return left
        }
        left.outcome = .needsPerson
        leftElsewhere.add(run)
        left.message = "run \(run.id) of '\(run.key)' was interrupted on \(host), which holds the backups of the targets it wrote: not recovered from here"
        left.left.append(PendingAction(.recoverRun, "run 'rotor recover' on \(ControlCharacters.escapeLine(run.host)); if that machine is gone for good, 'rotor unlock \(run.key)' and then 'rotor recover' here (what it wrote cannot be restored from here)"))
        return left
    }

    /// A grace-period deletion that was interrupted: the old generation goes (again: a
    /// delete is idempotent) and the state stops listing it.
    private func finishDeletion(_ run: RunRecord, of old: GenerationRecord, history: RunHistory, journal: Journal, report: inout RotationReport) async throws {
        report.oldGeneration = old
        let oldSecret = try secretInBackups(of: old, key: run.key)
        if !history.oldDeleted {
            let provider: ResolvedProvider
            do { (_, provider) = try resolve(run.key) } catch {
                report.left.append(PendingAction(.deleteGeneration, "delete generation \(old.id) of '\(run.key)' at its provider (\(error))"))
                report.message = "run \(run.id) (deleting \(old.id) after its grace period) could not be finished"
                return
            }
            if let error = try await provider.delete(.old(old, because: "delete generation \(old.id): grace period over (recovered)"), journal: journal, at: clock()) {
                report.left.append(PendingAction(.deleteGeneration, "generation \(old.id) is still at the provider (\(error.message)); 'rotor run' retries its deletion"))
                report.message = "run \(run.id) (deleting \(old.id) after its grace period) could not be finished"
                return
            }
        }
        var state = try store.keyState(run.key) ?? KeyState()
        if state.previous?.id == old.id {
            state.previous = nil
            try store.saveKeyState(state, for: run.key)
        }
        try removeBackupsOfFinishedRuns(of: run.key)
        report.outcome = .completed
        report.message = "run \(run.id) finished: generation \(old.id) deleted (its grace period had ended)"
        if let (key, provider) = try? resolve(run.key) {
            try await confirmRevoked(old, secret: oldSecret, key: key, provider: provider, journal: journal, report: &report)
        }
    }

    /// confirm-revoked for a deletion that recovery finished.
    private func confirmRevoked(_ old: GenerationRecord, secret: Secret?, key: KeyPolicy, provider: ResolvedProvider, journal: Journal,
                                report: inout RotationReport) async throws {
        let current = try store.keyState(key.name.value)?.current
        var inUse: (id: String, secret: Secret)?
        if let current, let secret = await secretInTargets(of: current, key: key.name.value) { inUse = (current.id, secret) }
        report.add(try await confirmRevoked(old, secret: secret, current: inUse, key: key, journal: journal))
        report.escalateIfOldKeyAnswers(provider: provider.name)
    }

    /// A generation two rotations back whose retirement began: it is gone (or goes now),
    /// so the state must stop listing it as pending, whichever way the run went.
    private func finishRetirement(_ run: RunRecord, history: RunHistory, journal: Journal, report: inout RotationReport) async throws {
        guard let retiring = history.retiring else { return }
        var state = try store.keyState(run.key) ?? KeyState()
        guard state.previous?.id == retiring.id else { return }
        if !history.retired {
            let provider: ResolvedProvider
            do { (_, provider) = try resolve(run.key) } catch { return }
            if try await provider.delete(.retiring(retiring), journal: journal, at: clock()) != nil { return }  // still pending: 'rotor run' or the next rotation retries
        }
        state.previous = nil
        try store.saveKeyState(state, for: run.key)
    }

    /// Every consumer had verified the new generation: record it, and delete the old one if due.
    private func rollForward(_ run: RunRecord, to new: GenerationRecord, history: RunHistory, journal: Journal, report: inout RotationReport) async throws {
        let key = configuration.key(named: run.key)
        let grace = history.emergency ? 0 : key?.grace.timeInterval ?? 0
        var previous = history.old
        previous?.pendingDeletionAt = new.created.addingTimeInterval(grace)
        if history.revoked { previous = nil }
        if !history.committed {
            try store.saveKeyState(KeyState(current: new, previous: previous), for: run.key)
            try journal.record(.commit, .done, "state: current \(new.id) (recovered)")
        }
        report.outcome = .completed
        report.message = "run \(run.id) rolled forward: every consumer had verified \(new.id)"
        if history.oldDeleted, previous != nil {
            // Deleted at the provider before the state could say so.
            try store.saveKeyState(KeyState(current: new, previous: nil), for: run.key)
            previous = nil
        }
        guard let old = previous, grace == 0 else {
            // While the old generation waits out its grace, the backups serve `rotor rollback`.
            if previous == nil { removeBackups(run.id) }
            return
        }
        let provider: ResolvedProvider
        do { (_, provider) = try resolve(run.key) } catch {
            report.outcome = .needsPerson
            report.left.append(PendingAction(.deleteGeneration, "delete old generation \(old.id) of '\(run.key)' at its provider (\(error))"))
            return
        }
        let oldSecret = try secretInBackups(of: old, key: run.key)
        if try await provider.delete(.old(old, because: "delete old generation \(old.id)"), journal: journal, at: clock()) != nil {
            report.outcome = .needsPerson
            report.left.append(PendingAction(.deleteGeneration, "old generation \(old.id) is still at the provider; 'rotor run' retries its deletion"))
            return
        }
        try store.saveKeyState(KeyState(current: new, previous: nil), for: run.key)
        report.message += "; old generation \(old.id) deleted"
        if let key { try await confirmRevoked(old, secret: oldSecret, key: key, provider: provider, journal: journal, report: &report) }
        removeBackups(run.id)
    }

    /// Not every consumer had verified: put every touched target back and delete the new generation.
    private func rollBack(_ run: RunRecord, history: RunHistory, journal: Journal, report: inout RotationReport) async throws {
        var touchedConsumers: [String] = []
        for group in Self.editGroups(history.writesToUndo, backup: \.backup, path: \.path) {
            let write = group[0]
            for write in group where !touchedConsumers.contains(write.consumer) { touchedConsumers.append(write.consumer) }
            guard let backup = write.backup else {
                report.left.append(PendingAction(.restoreTarget, "\(write.target) could not be restored (no backup): put the old value back by hand"))
                continue
            }
            guard isBackup(backup, of: run.id) else {
                report.left.append(PendingAction(.restoreTarget, "\(write.target): the journal names \(backup) as its backup, which is not in run \(run.id)'s backup folder: rotor did not use it; put the old value back by hand"))
                continue
            }
            for write in group {
                try journal.record(.restore, .intent, consumer: write.consumer, target: write.target, "restore from backup", facts: JournalFacts(backup: backup))
            }
            do {
                try await restore(group.map { try configuredOperation(for: $0) }, from: backup, context: history.old.map { [.id: $0.id] } ?? [:])
            } catch {
                report.left.append(PendingAction(.restoreTarget, "\(write.target): restore failed: \(error)"))
                continue
            }
            for write in group {
                try journal.record(.restore, .done, consumer: write.consumer, target: write.target, "restored")
                report.steps.append(PlanStep(step: .update, consumer: write.consumer, target: write.target, detail: "restored to the old generation", status: .rolledBack))
            }
        }
        for name in touchedConsumers.reversed() {
            guard let consumer = configuration.consumers.first(where: { $0.name.value == name }) else { continue }
            if let problem = try await reloadAndCheck(consumer, values: [:], journal: journal, steps: &report.steps) {
                report.left.append(PendingAction(.checkConsumer, "after rollback, \(problem)"))
            }
        }
        if history.undoRequested, let old = history.old, let new = history.new, try store.keyState(run.key)?.current?.id == new.id {
            // An interrupted `rotor rollback RUN`: the state goes back to the old generation too.
            try store.saveKeyState(KeyState(current: GenerationRecord(id: old.id, fingerprint: old.fingerprint, created: old.created), previous: nil), for: run.key)
        }
        try await deleteUnwantedGenerations(run, history: history, journal: journal, report: &report)
        if history.revoked, let old = history.old {
            // --revoke-first cut the old generation off before the crash: the consumers hold a dead key.
            report.left.append(PendingAction(.checkProvider, "the old generation \(old.id) was revoked before rotor stopped, so every consumer holds a revoked key: rotate now (rotor rotate \(run.key) --emergency)"))
        }
        report.outcome = report.left.isEmpty ? .rolledBack : .needsPerson
        report.message = "run \(run.id) rolled back: " + (report.left.isEmpty ? "every consumer is on the old generation" : report.left.map(\.text).joined(separator: "; "))
        if report.left.isEmpty, history.writes.isEmpty { report.message = "run \(run.id) rolled back: it had changed no consumer" }
        // What was deleted at the provider is part of the answer (a key the dead run made).
        let deleted = report.steps.filter { $0.step == .delete && $0.status == .ok }.map(\.detail)
        if !deleted.isEmpty { report.message += "; " + deleted.joined(separator: "; ") }
        if !report.left.contains(where: { $0.kind == .restoreTarget }) { removeBackups(run.id) }
    }

    /// Whether `path` is a file in the run's own backup folder.
    func isBackup(_ path: String, of runID: String) -> Bool {
        let folder = backupFolder(runID) + "/"
        return path.hasPrefix(folder) && !path.dropFirst(folder.count).contains("/")
    }

    /// The target a journalled write names, as the configuration names it now. A journal is
    /// not trusted to say which file to write: a write whose consumer is gone, or whose path
    /// is not the configured one, is refused (for `recover` and `rollback RUN` alike).
    func configuredOperation(for write: RunHistory.Write) throws(TargetEditError) -> TargetOperation {
        let byHand = "restore it" + (write.backup.map { " from \($0)" } ?? "") + " by hand"
        guard let consumer = configuration.consumers.first(where: { $0.name.value == write.consumer }), consumer.targets.indices.contains(write.index)
        else { throw TargetEditError("its consumer is no longer in the configuration: \(byHand)") }
        let operation = targetOperation(consumer, index: write.index)
        guard operation.spec.filePath == write.path else {
            throw TargetEditError("the journal says \(write.path ?? "a command") but the configuration says \(operation.spec.filePath ?? "a command"): \(byHand)")
        }
        // The same rule as at preflight: as root, never through a folder another account can change.
        if let problem = operation.ownershipProblem() { throw TargetEditError("\(problem); \(byHand)") }
        return operation
    }

    /// Deletes what the run created and no consumer keeps: its journalled new generation,
    /// generations it found by name, or — when rotor died before the create's answer was
    /// recorded — what the provider lists under the name it asked for.
    private func deleteUnwantedGenerations(_ run: RunRecord, history: RunHistory, journal: Journal, report: inout RotationReport) async throws {
        var ids: [String]
        switch history.creation {
        case .notAttempted, .refused: ids = []
        case .created(let new): ids = [new.id]
        case .unknown(let name, let answerBy):
            await waitForCreate(named: name, answerBy: answerBy)
            ids = try await findUnrecorded(named: name, run: run, history: history, journal: journal, report: &report)
        }
        ids += history.foundByName
        // Never a generation the state calls current or previous, whatever the journal says.
        let state = try store.keyState(run.key)
        let known = Set([state?.current?.id, state?.previous?.id].compactMap { $0 })
        for id in ids where known.contains(id) {
            report.left.append(PendingAction(.checkState, "the journal of run \(run.id) names \(id) as the generation it created, but the state calls it in use: rotor did not delete it; check the provider and the state by hand"))
        }
        let remaining = ids.filter { !history.deletedNew.contains($0) && !known.contains($0) }
        guard !remaining.isEmpty else { return }
        let provider: ResolvedProvider
        do { (_, provider) = try resolve(run.key) } catch {
            report.left.append(PendingAction(.deleteGeneration, "delete generation \(remaining.joined(separator: ", ")) of run \(run.id) at its provider (\(error))"))
            return
        }
        for id in Array(Set(remaining)).sorted() {
            if let error = try await provider.delete(.new(id: id), journal: journal, at: clock()) {
                report.left.append(PendingAction(.deleteGeneration, "delete the new generation \(id) at provider '\(provider.name)': \(error.message)"))
            } else {
                report.steps.append(PlanStep(step: .delete, detail: "new generation \(id) deleted", status: .ok))
            }
        }
    }

    /// A create the dead run sent may still be under way at the vendor (a slow API, a CLI
    /// that outlived rotor): looking before it could have finished would find nothing and
    /// leave the key it makes afterwards unknown to everyone. So recovery waits until the
    /// moment the dead run itself would have stopped waiting.
    /// Then a vendor CLI the dead run started and that still runs is stopped, as the dead
    /// run would have stopped it at its deadline.
    private func waitForCreate(named name: String, answerBy: Date?) async {
        if let answerBy, answerBy > Date() {
            let wait = min(answerBy.timeIntervalSinceNow, lostCreateWaitLimit)
            progress("waiting \(Int(wait.rounded(.up))) s for the create of '\(name)' the interrupted run sent to finish or time out, before looking for it")
            try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        }
        let stopped = OrphanedCreates.stop(name: name)
        if stopped > 0 {
            progress("stopped \(stopped) process\(stopped == 1 ? "" : "es") of the create of '\(name)' that outlived the interrupted run")
        }
    }

    /// After rotor died during a create: the generation it may have made, by name.
    private func findUnrecorded(named name: String, run: RunRecord, history: RunHistory, journal: Journal,
                                report: inout RotationReport) async throws -> [String] {
        let provider: ResolvedProvider
        do { (_, provider) = try resolve(run.key) } catch {
            report.left.append(PendingAction(.checkProvider, "the key or its provider is no longer configured: check the provider for a generation named '\(name)' (run \(run.id))"))
            return []
        }
        guard provider.spec.createCanLeaveOrphan else { return [] }
        // Never a generation the state knows (a same-named older one stays untouched).
        let state = try store.keyState(run.key)
        let known = Set([history.old?.id, state?.current?.id, state?.previous?.id].compactMap { $0 })
        let found: [ListedGeneration]?
        do throws(ProviderError) { found = try await provider.unrecorded(named: name, known: known, at: clock()) } catch {
            report.left.append(PendingAction(.checkProvider, "cannot list provider '\(provider.name)' to find a generation named '\(name)': \(error.message)"))
            return []
        }
        guard let found else {
            report.left.append(PendingAction(.checkProvider, "rotor died while creating '\(name)' at provider '\(provider.name)' and the provider cannot list its generations by name: delete that generation there if it exists"))
            return []
        }
        for orphan in found {
            try journal.record(.create, .info, "found the unrecorded generation \(orphan.id) named '\(name)'", facts: JournalFacts(generationID: orphan.id))
        }
        return found.map(\.id)
    }
}

/// The runs recovery left to another machine in this process (`leftToItsHost`), by key.
final class RunsLeftElsewhere: @unchecked Sendable {
    private let lock = NSLock()
    private var byKey: [String: RunRecord] = [:]
    func add(_ run: RunRecord) { lock.withLock { byKey[run.key] = run } }
    func run(of key: String) -> RunRecord? { lock.withLock { byKey[key] } }
}
