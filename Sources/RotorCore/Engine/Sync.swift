import Foundation

extension RotationEngine {
    /// Writes the current generation into the targets that drifted (`rotor sync`). rotor
    /// stores no secrets, so the value is read from a target that is in sync. The writes go
    /// through the same backup, read-back, reload, health and rollback as a rotation.
    public func sync(_ keyName: String, dryRun: Bool, now: Date) async -> RotationReport {
        var report = RotationReport(key: keyName, runID: nil, outcome: .failed, emergency: false, message: "",
                                    newGeneration: nil, oldGeneration: nil, steps: [], left: [])
        let state = (try? store.keyStates())?[keyName]
        guard configuration.key(named: keyName) != nil, let current = state?.current else {
            report.message = "'\(keyName)' has never been rotated by rotor, so there is no current generation to sync: rotate it (rotor rotate \(keyName))"
            return report
        }
        report.newGeneration = current
        let consumers = configuration.consumers(of: keyName)
        var inSync: [TargetOperation] = []
        var drifted: [(TargetOperation, StatusCommand.TargetStatus)] = []
        for consumer in consumers {
            for (index, target) in consumer.targets.enumerated() {
                let operation = TargetOperation(consumer: consumer, index: index, spec: target,
                                                label: StepDescriptions.targetLabel(target, displayPath: displayPath), runner: runner)
                let status = await StatusCommand.classify(operation, state: state ?? KeyState(current: current))
                if status.state == .inSync { inSync.append(operation) } else { drifted.append((operation, status)) }
            }
        }
        guard !drifted.isEmpty else {
            report.outcome = .completed
            report.message = "every target holds the current generation \(current.id)"
            return report
        }
        let described = drifted.map { "\($0.0.label) (\($0.1.state.rawValue))" }.joined(separator: ", ")
        guard let source = inSync.first(where: { $0.spec.value.source == "{secret}" }), let value = await source.readBack(),
              Fingerprint.of(value) == current.fingerprint
        else {
            report.message = "no target holds the current generation (\(current.fingerprint)), and rotor stores no secrets: rotate the key instead (rotor rotate \(keyName)); drifted: \(described)"
            return report
        }
        if dryRun {
            report.outcome = .completed
            report.message = "would write the current generation (read from \(source.label)) into: \(described)"
            return report
        }
        let runID = Self.makeRunID(now)
        report.runID = runID
        let started = report
        let locked = await withKeyLock(keyName, runID: runID) { () async -> RotationReport in
            var report = started
            do {
                try store.createRun(.starting(id: runID, key: keyName, at: now, emergency: false))
                let journal = Journal(store: store, runID: runID, clock: clock)
                try journal.record("sync", .intent, "write \(current.id) into \(drifted.count) drifted targets", data: Self.data(current, prefix: "new"))
                let operations = drifted.map(\.0)
                let touchedConsumers = consumers.filter { consumer in operations.contains { $0.consumer.name == consumer.name } }
                var values = TemplateValues.context(key: keyName, now: now)
                values[.id] = current.id
                let updates = await updateConsumers(touchedConsumers, operations: operations, runID: runID, values: values,
                                                    secret: Secret(value), parallel: 8, journal: journal)
                report.steps = updates.steps
                if let failure = updates.failures.first {
                    let undone = await rollBack(updates.touched, consumers: updates.touchedConsumers, journal: journal)
                    report.steps += undone.steps
                    report.left += undone.left
                    report.outcome = undone.left.isEmpty ? .rolledBack : .needsPerson
                    report.message = "sync failed: \(Redactor([Secret(value)]).redact(failure)); the targets were put back as they were"
                } else {
                    report.outcome = .completed
                    report.message = "wrote the current generation \(current.id) into \(drifted.count) target\(drifted.count == 1 ? "" : "s"): \(described)"
                }
                try journal.record("sync", report.outcome == .completed ? .done : .failed, report.message)
                try store.finishRun(runID, outcome: report.outcome, at: clock())
                if report.left.isEmpty { removeBackups(runID) }
            } catch {
                report.outcome = .needsPerson
                report.message = "the state store failed during sync (\(error)); run 'rotor recover'"
            }
            return report
        }
        return concluded(locked, refused: report, action: "sync", key: keyName)
    }
}
