import Foundation

extension RotationEngine {
    /// Writes the current generation into the targets that drifted (`rotor sync`). rotor
    /// stores no secrets, so the value is read from a target that is in sync. The writes go
    /// through the same backup, read-back, reload, health and rollback as a rotation.
    public func sync(_ keyName: String, dryRun: Bool, now: Date) async -> RotationReport {
        var report = RotationReport(key: keyName)
        let state: KeyState?
        do { state = try store.keyState(keyName) } catch {
            report.outcome = .needsPerson
            report.message = "cannot read the state of '\(keyName)' (\(error)); nothing was changed"
            return report
        }
        guard configuration.key(named: keyName) != nil, let state, let current = state.current else {
            report.message = "'\(keyName)' has never been rotated by rotor, so there is no current generation to sync: rotate it (rotor rotate \(keyName))"
            return report
        }
        report.newGeneration = current
        let consumers = configuration.consumers(of: keyName)
        var inSync: [TargetOperation] = []
        var drifted: [(operation: TargetOperation, status: TargetStatus)] = []
        for consumer in consumers {
            for index in consumer.targets.indices {
                let operation = targetOperation(consumer, index: index)
                let status = await TargetClassifier.classify(operation, state: state)
                if status.state == .inSync { inSync.append(operation) } else { drifted.append((operation, status)) }
            }
        }
        guard !drifted.isEmpty else {
            report.outcome = .completed
            report.message = "every target holds the current generation \(current.id)"
            return report
        }
        let described = drifted.map { "\($0.operation.label) (\($0.status.state.rawValue))" }.joined(separator: ", ")
        var source: (operation: TargetOperation, secret: Secret)?
        for operation in inSync where operation.spec.value.usesSecret {
            if let held = await TargetClassifier.readThroughTemplate(operation), let secret = held.secret, secret.fingerprint == current.fingerprint {
                source = (operation, secret)
                break
            }
        }
        guard let source else {
            report.message = "no target holds the current generation (\(current.fingerprint)), and rotor stores no secrets: rotate the key instead (rotor rotate \(keyName)); drifted: \(described)"
            return report
        }
        if dryRun {
            report.outcome = .completed
            report.message = "would write the current generation (read from \(source.operation.label)) into: \(described)"
            return report
        }
        let runID = Self.makeRunID(now)
        report.runID = runID
        let started = report
        let operations = drifted.map(\.operation)
        return await exclusiveRun(of: keyName, runID: runID, action: .sync, report: started,
                                  record: .starting(id: runID, key: keyName, at: now, emergency: false)) { journal in
            var report = started
            let secret = source.secret
            try journal.record(.sync, .intent, "write \(current.id) into \(drifted.count) drifted targets", facts: JournalFacts(new: current))
            let touchedConsumers = consumers.filter { consumer in operations.contains { $0.consumer.name == consumer.name } }
            var values = TemplateValues.context(key: keyName, now: now)
            values[.id] = current.id
            let updates = await updateConsumers(touchedConsumers, operations: operations, runID: runID, values: values,
                                                secret: secret, parallel: RotationOptions().parallel, journal: journal)
            if let error = updates.storeError { throw error }
            report.steps = updates.steps
            if let failure = updates.failures.first {
                let undone = await rollBack(updates.touched, consumers: updates.touchedConsumers, journal: journal)
                if let error = undone.storeError { throw error }
                report.steps += undone.steps
                report.left += undone.left
                report.outcome = undone.left.isEmpty ? .rolledBack : .needsPerson
                report.message = "sync failed: \(Redactor.redact(failure)); the targets were put back as they were"
            } else {
                report.outcome = .completed
                report.message = "wrote the current generation \(current.id) into \(drifted.count) target\(drifted.count == 1 ? "" : "s"): \(described)"
            }
            try journal.record(.sync, report.outcome == .completed ? .done : .failed, report.message)
            if !report.left.contains(where: { $0.kind == .restoreTarget }) { removeBackups(runID) }
            return report
        }
    }
}
