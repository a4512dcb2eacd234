import Foundation

/// A target that was written during a run, with the backup that restores it.
struct TouchedTarget: Sendable {
    var operation: TargetOperation
    /// nil when no backup was possible (an exec target without `read`).
    var backup: String?
    /// When its edit was made, among the run's edits: a rollback undoes them in reverse
    /// order of this, not of when their consumers finished (two consumers of one variable:
    /// the later edit's backup holds the earlier edit's new value).
    var order = 0
}

/// Counts targets written across concurrent consumer updates.
final class ProgressCounter: @unchecked Sendable {
    let total: Int
    private var done = 0
    private let lock = NSLock()

    init(total: Int) { self.total = total }

    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        done += 1
        return done
    }
}

/// What updating the consumers did.
struct UpdateResult: Sendable {
    var touched: [TouchedTarget] = []
    var touchedConsumers: [ConsumerSpec] = []
    var failures: [String] = []
    var steps: [PlanStep] = []
    /// The journal could not be written: the update stopped where it was.
    var storeError: (any Error)?

    mutating func add(_ other: UpdateResult) {
        touched += other.touched
        touchedConsumers += other.touchedConsumers
        failures += other.failures
        steps += other.steps
        storeError = storeError ?? other.storeError
    }

    var stopped: Bool { !failures.isEmpty || storeError != nil }
}

/// What a rollback could not undo, and whether the journal failed while it ran.
struct RollbackResult: Sendable {
    var steps: [PlanStep] = []
    var left: [PendingAction] = []
    var storeError: (any Error)?
}

extension RotationEngine {
    /// Backs up, writes and reads back every target, then reloads and health-checks each
    /// consumer. The first consumer (the canary) goes alone: the others are not touched
    /// until it is healthy on the new generation; then up to `parallel` at once. Stops
    /// starting new consumers after the first failure; the caller rolls back everything touched.
    func updateConsumers(_ consumers: [ConsumerSpec], operations: [TargetOperation], runID: String, values: [Placeholder: String],
                         secret: Secret, parallel: Int, journal: Journal) async -> UpdateResult {
        let folder = backupFolder(runID)
        var result = UpdateResult()
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            result.failures.append("cannot create the backup folder \(folder): \(error.localizedDescription)")
            return result
        }
        chmod(backupsRoot, 0o700)
        let counter = ProgressCounter(total: operations.count)
        let editOrder = ProgressCounter(total: 0)
        await withTaskGroup(of: UpdateResult.self) { group in
            var next = 0
            var running = 0
            func startUpTo(_ limit: Int) {
                while running < limit, next < consumers.count, !Interruption.shared.requested {
                    let ordinal = next
                    let consumer = consumers[ordinal]
                    next += 1
                    running += 1
                    // Off the cooperative pool: writes and journal commits block (see BlockingWorkExecutor).
                    group.addTask(executorPreference: BlockingWorkExecutor.shared) {
                        await self.updateConsumer(consumer, ordinal: ordinal, operations: operations.filter { $0.consumer.name == consumer.name },
                                                  backupFolder: folder, values: values, secret: secret, journal: journal, counter: counter,
                                                  editOrder: editOrder)
                    }
                }
            }
            startUpTo(1)  // the canary, alone
            for await outcome in group {
                running -= 1
                result.add(outcome)
                if next == 1, consumers.count > 1, !result.stopped, !Interruption.shared.requested {
                    let others = consumers.count - 1
                    progress("\(consumers[0].uses.value): canary \(consumers[0].name.value) is healthy on the new generation; "
                             + "updating the other \(others == 1 ? "consumer" : "\(others) consumers")\(others > parallel ? ", \(parallel) at once" : "")")
                }
                if !result.stopped { startUpTo(parallel) }
            }
        }
        return result
    }

    private func updateConsumer(_ consumer: ConsumerSpec, ordinal: Int, operations: [TargetOperation], backupFolder: String,
                                values: [Placeholder: String], secret: Secret, journal: Journal, counter: ProgressCounter,
                                editOrder: ProgressCounter) async -> UpdateResult {
        var result = UpdateResult()
        let name = consumer.name.value
        var secretValues = values
        secretValues[.secret] = secret.reveal()
        result.touchedConsumers.append(consumer)
        for edit in ConsumerEdit.inSwitchOrder(operations) {
            let first = edit.operations[0]
            if Interruption.shared.requested {
                result.failures.append("\(name): stopped by a signal")
                return result
            }
            let backup = "\(backupFolder)/\(ordinal)-\(first.index)"
            let rendered = edit.operations.map { $0.spec.value.render(secretValues) }
            do {
                // Backed up, journalled, written and read back while no other edit of the file
                // runs: the backup is the file this edit changed, the read-back what it wrote.
                let outcome: (backup: String??, failure: (any Error)?, order: Int) = try await fileEdits.serialize(edit.path) {
                    let order = editOrder.increment()
                    let hasBackup: Bool
                    do {
                        hasBackup = try await edit.backup(to: backup)
                        // Every target of the edit journalled before its one write: recovery restores them together.
                        for operation in edit.operations {
                            try journal.record(.update, .intent, consumer: name, target: operation.label, "write the new generation",
                                               facts: JournalFacts(targetIndex: operation.index, backup: hasBackup ? backup : nil, path: operation.spec.filePath))
                        }
                    } catch {
                        return (nil, error, order)
                    }
                    do {
                        try await edit.write(rendered, context: values)
                        for (operation, value) in zip(edit.operations, rendered) where operation.canReadBack {
                            guard let readBack = await operation.readBack(), readBack == value else {
                                throw TargetEditError("\(operation.label) does not read back the new value after writing")
                            }
                        }
                    } catch {
                        return (.some(hasBackup ? backup : nil), error, order)
                    }
                    return (.some(hasBackup ? backup : nil), nil, order)
                }
                if case .some(let kept) = outcome.backup {
                    result.touched += edit.operations.map { TouchedTarget(operation: $0, backup: kept, order: outcome.order) }
                }
                if let failure = outcome.failure { throw failure }
                for (operation, value) in zip(edit.operations, rendered) {
                    try journal.record(.update, .done, consumer: name, target: operation.label, "written and read back", facts: JournalFacts(targetIndex: operation.index))
                    result.steps.append(PlanStep(step: .update, consumer: name, target: operation.label, targetType: operation.spec.typeName,
                                                 current: Fingerprint.of(value), detail: "written and read back", status: .ok))
                    targetProgress(counter.increment(), counter.total, "\(consumer.uses.value): \(name): wrote \(operation.label)")
                }
            } catch where Self.isJournalFailure(error) {
                result.storeError = error
                return result
            } catch {
                let message = "\(name): \(error)"
                result.steps.append(PlanStep(step: .update, consumer: name, target: first.label, targetType: first.spec.typeName,
                                             detail: message, status: .failed))
                result.failures.append(message)
                do { try journal.record(.update, .failed, consumer: name, target: first.label, message) } catch { result.storeError = error }
                return result
            }
        }
        if Interruption.shared.requested {
            result.failures.append("\(name): stopped by a signal")
            return result
        }
        do {
            if let failure = try await reloadAndCheck(consumer, values: values, journal: journal, steps: &result.steps) {
                result.failures.append(failure)
            }
        } catch {
            result.storeError = error
        }
        return result
    }

    /// Puts the old values of `operations` (one file's targets written by one edit, or one
    /// exec target) back from `backup`, while no other edit of that file runs.
    func restore(_ operations: [TargetOperation], from backup: String, context: [Placeholder: String]) async throws {
        let first = operations[0]
        try await fileEdits.serialize(first.spec.filePath) {
            if first.spec.filePath != nil {
                try await TargetOperation.restore(operations, from: backup)
            } else {
                try await first.restore(from: backup, context: context)
            }
        }
    }

    /// Writes to undo, grouped as they were made: the targets of one file that share a
    /// backup (one edit) together, each exec target alone; in the order given.
    static func editGroups<Write>(_ writes: some Sequence<Write>, backup: (Write) -> String?, path: (Write) -> String?) -> [[Write]] {
        ConsumerEdit.grouped(writes) { path($0) == nil ? nil : backup($0) }
    }

    /// An error of the journal (the state store), as opposed to one of a target.
    static func isJournalFailure(_ error: any Error) -> Bool { !(error is TargetEditError) }

    /// Runs a consumer's reload and health check; nil when both pass, else why not.
    /// Throws only when the journal cannot be written.
    func reloadAndCheck(_ consumer: ConsumerSpec, values: [Placeholder: String], journal: Journal, steps: inout [PlanStep]) async throws -> String? {
        let name = consumer.name.value
        if let reload = consumer.reload {
            try journal.record(.reload, .intent, consumer: name, "run \(StepDescriptions.argv(reload))")
            let result = await runner.run(reload.argv.map { $0.render(values) }, directory: consumer.directory, timeout: reload.timeout.timeInterval)
            guard result.succeeded else {
                let message = "\(name): reload \(result.timedOut ? "timed out after \(reload.timeout)" : "failed (\(reload.program) exited \(result.status))")"
                    + (result.printed().map { ": \($0)" } ?? "")
                steps.append(PlanStep(step: .reload, consumer: name, detail: message, status: .failed))
                try journal.record(.reload, .failed, consumer: name, message)
                return message
            }
            steps.append(PlanStep(step: .reload, consumer: name, detail: "reloaded", status: .ok))
            try journal.record(.reload, .done, consumer: name, "reloaded")
        }
        if let health = consumer.health {
            if let failure = await CheckRunner(runner: runner).run(health, values: values, secret: nil, directory: consumer.directory) {
                let message = "\(name): health check failed: \(failure.message)"
                var step = PlanStep(step: .health, consumer: name, detail: message, status: .failed)
                step.unreachable = failure.unreachable
                steps.append(step)
                try journal.record(.health, .failed, consumer: name, message)
                return message
            }
            steps.append(PlanStep(step: .health, consumer: name, detail: "healthy", status: .ok))
            try journal.record(.health, .done, consumer: name, "healthy")
        }
        return nil
    }

    /// Restores every touched target from its backup (reverse order), then reloads and
    /// health-checks the consumers that were touched. Returns what could not be undone.
    /// `context`: the template values of the generation restored (its `{id}`), for exec targets.
    func rollBack(_ touched: [TouchedTarget], consumers: [ConsumerSpec], journal: Journal,
                  context: [Placeholder: String] = [:]) async -> RollbackResult {
        var result = RollbackResult()
        if journal.leaseLost {
            result.left = [PendingAction(.recoverRun, "this run lost its lease: 'rotor recover' finishes or undoes it unless a runner already did")]
            return result
        }
        do {
            // One edit wrote a file's targets, so one edit puts their old values back.
            let undoOrder = touched.enumerated().sorted { ($0.element.order, $0.offset) > ($1.element.order, $1.offset) }.map(\.element)
            for group in Self.editGroups(undoOrder, backup: \.backup, path: \.operation.spec.filePath) {
                let first = group[0].operation
                guard let backup = group[0].backup else {
                    result.left.append(PendingAction(.restoreTarget, "\(first.label) could not be restored (no 'read' command to back it up): put the old value back by hand"))
                    continue
                }
                for target in group {
                    try journal.record(.restore, .intent, consumer: target.operation.consumer.name.value, target: target.operation.label, "restore from backup", facts: JournalFacts(backup: backup))
                }
                do {
                    try await restore(group.map(\.operation), from: backup, context: context)
                } catch {
                    result.left.append(PendingAction(.restoreTarget, "\(first.label): restore failed: \(error)"))
                    continue
                }
                for target in group {
                    let name = target.operation.consumer.name.value
                    try journal.record(.restore, .done, consumer: name, target: target.operation.label, "restored")
                    result.steps.append(PlanStep(step: .update, consumer: name, target: target.operation.label, targetType: target.operation.spec.typeName,
                                                 detail: "restored to the old generation", status: .rolledBack))
                }
            }
            for consumer in consumers {
                if let problem = try await reloadAndCheck(consumer, values: [:], journal: journal, steps: &result.steps) {
                    result.left.append(PendingAction(.checkConsumer, "after rollback, \(problem)"))
                }
            }
        } catch {
            result.storeError = error
        }
        return result
    }
}
