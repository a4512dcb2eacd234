import Foundation

/// A target that was written during a run, with the backup that restores it.
struct TouchedTarget: Sendable {
    var operation: TargetOperation
    /// nil when no backup was possible (an exec target without `read`).
    var backup: String?
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
}

extension RotationEngine {
    /// Backs up, writes and reads back every target, then reloads and health-checks each
    /// consumer; up to `parallel` consumers at once. Stops starting new consumers after
    /// the first failure; the caller rolls back everything touched.
    func updateConsumers(_ consumers: [ConsumerSpec], operations: [TargetOperation], runID: String, values: [Placeholder: String],
                         secret: Secret, parallel: Int, journal: Journal) async -> UpdateResult {
        let folder = backupFolder(runID)
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(backupsRoot, 0o700)
        var result = UpdateResult()
        let counter = ProgressCounter(total: operations.count)
        await withTaskGroup(of: UpdateResult.self) { group in
            var next = 0
            func startNext() {
                guard next < consumers.count else { return }
                let ordinal = next
                let consumer = consumers[ordinal]
                next += 1
                group.addTask {
                    await self.updateConsumer(consumer, ordinal: ordinal, operations: operations.filter { $0.consumer.name == consumer.name },
                                              backupFolder: folder, values: values, secret: secret, journal: journal, counter: counter)
                }
            }
            for _ in 0..<min(parallel, consumers.count) { startNext() }
            for await outcome in group {
                result.touched += outcome.touched
                result.touchedConsumers += outcome.touchedConsumers
                result.failures += outcome.failures
                result.steps += outcome.steps
                if result.failures.isEmpty { startNext() }
            }
        }
        return result
    }

    private func updateConsumer(_ consumer: ConsumerSpec, ordinal: Int, operations: [TargetOperation], backupFolder: String,
                                values: [Placeholder: String], secret: Secret, journal: Journal, counter: ProgressCounter) async -> UpdateResult {
        var result = UpdateResult()
        let name = consumer.name.value
        var secretValues = values
        secretValues[.secret] = secret.reveal()
        result.touchedConsumers.append(consumer)
        for operation in operations {
            let backup = "\(backupFolder)/\(ordinal)-\(operation.index)"
            let value = operation.spec.value.render(secretValues)
            do {
                let hasBackup = try await operation.backup(to: backup)
                var data = ["index": String(operation.index), "backup": hasBackup ? backup : ""]
                if let path = operation.spec.filePath { data["path"] = path }
                try journal.record("update", .intent, consumer: name, target: operation.label, "write the new generation", data: data)
                result.touched.append(TouchedTarget(operation: operation, backup: hasBackup ? backup : nil))
                try await operation.write(value)
                if operation.canReadBack {
                    guard let readBack = await operation.readBack(), readBack == value else {
                        throw TargetEditError("\(operation.label) does not read back the new value after writing")
                    }
                }
                try journal.record("update", .done, consumer: name, target: operation.label, "written and read back", data: ["index": String(operation.index)])
                result.steps.append(PlanStep(step: .update, consumer: name, target: operation.label, targetType: operation.spec.typeName,
                                             current: Fingerprint.of(value), detail: "written and read back", status: "ok"))
                targetProgress(counter.increment(), counter.total, "\(consumer.uses.value): \(name): wrote \(operation.label)")
            } catch {
                let message = "\(name): \(error)"
                try? journal.record("update", .failed, consumer: name, target: operation.label, message)
                result.steps.append(PlanStep(step: .update, consumer: name, target: operation.label, targetType: operation.spec.typeName,
                                             detail: message, status: "failed"))
                result.failures.append(message)
                return result
            }
        }
        if let failure = await reloadAndCheck(consumer, values: values, journal: journal, steps: &result.steps) {
            result.failures.append(failure)
        }
        return result
    }

    /// Runs a consumer's reload and health check; nil when both pass.
    func reloadAndCheck(_ consumer: ConsumerSpec, values: [Placeholder: String], journal: Journal, steps: inout [PlanStep]) async -> String? {
        let name = consumer.name.value
        if let reload = consumer.reload {
            do { try journal.record("reload", .intent, consumer: name, "run \(StepDescriptions.argv(reload))") } catch where journal.leaseLost {
                return "\(name): \(error)"
            } catch {}
            let result = await runner.run(reload.argv.map { $0.render(values) }, directory: consumer.directory, timeout: reload.timeout.timeInterval)
            guard result.succeeded else {
                let message = "\(name): reload \(result.timedOut ? "timed out after \(reload.timeout)" : "failed (\(reload.program) exited \(result.status))")"
                try? journal.record("reload", .failed, consumer: name, message)
                steps.append(PlanStep(step: .reload, consumer: name, detail: message, status: "failed"))
                return message
            }
            try? journal.record("reload", .done, consumer: name, "reloaded")
            steps.append(PlanStep(step: .reload, consumer: name, detail: "reloaded", status: "ok"))
        }
        if let health = consumer.health {
            if let problem = await CheckRunner(runner: runner).run(health, values: values, secret: nil, directory: consumer.directory) {
                let message = "\(name): health check failed: \(problem)"
                try? journal.record("health", .failed, consumer: name, message)
                steps.append(PlanStep(step: .health, consumer: name, detail: message, status: "failed"))
                return message
            }
            try? journal.record("health", .done, consumer: name, "healthy")
            steps.append(PlanStep(step: .health, consumer: name, detail: "healthy", status: "ok"))
        }
        return nil
    }

    /// Restores every touched target from its backup (reverse order), then reloads and
    /// health-checks the consumers that were touched. Returns what could not be undone.
    func rollBack(_ touched: [TouchedTarget], consumers: [ConsumerSpec], journal: Journal) async -> (steps: [PlanStep], left: [String]) {
        var steps: [PlanStep] = []
        var left: [String] = []
        if journal.leaseLost { return (steps, ["this run lost its lease: the runner that took the key over recovers it"]) }
        for target in touched.reversed() {
            let name = target.operation.consumer.name.value
            guard let backup = target.backup else {
                left.append("\(target.operation.label) could not be restored (no 'read' command to back it up): put the old value back by hand")
                continue
            }
            do {
                try journal.record("restore", .intent, consumer: name, target: target.operation.label, "restore from backup", data: ["backup": backup])
                try await target.operation.restore(from: backup)
                try journal.record("restore", .done, consumer: name, target: target.operation.label, "restored")
                steps.append(PlanStep(step: .update, consumer: name, target: target.operation.label, targetType: target.operation.spec.typeName,
                                      detail: "restored to the old generation", status: "rolled-back"))
            } catch {
                left.append("\(target.operation.label): restore failed: \(error)")
            }
        }
        for consumer in consumers {
            if let problem = await reloadAndCheck(consumer, values: [:], journal: journal, steps: &steps) {
                left.append("after rollback, \(problem)")
            }
        }
        return (steps, left)
    }
}
