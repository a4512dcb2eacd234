import Foundation

/// One rotation of one key, held under the key's lock: the key, its provider, the run's
/// journal and the report it builds, with one method per step of the workflow.
///
/// `execute` walks the steps in order. A step that ends the run early throws `Stop`
/// (how it ended and why); any other error is the state store failing, which
/// `RotationEngine.exclusiveRun` turns into "needs a person".
final class RotationRun {
    let engine: RotationEngine
    let key: KeyPolicy
    let provider: ResolvedProvider
    let journal: Journal
    let options: RotationOptions
    let now: Date
    let consumers: [ConsumerSpec]
    let operations: [TargetOperation]
    /// The key's state: as the run found it, then as the run changed it.
    var state = KeyState()
    /// The generation in use when the run began.
    var old: GenerationRecord?
    var report: RotationReport
    /// Template values; the new generation's name and id are added once it exists.
    var values: [Placeholder: String]
    /// The old generation's secret, read from the targets at preflight and held in memory
    /// only: `confirm-revoked` tries it once the old generation is deleted.
    var oldSecret: Secret?
    /// The new generation, once created.
    var newGeneration: NewGeneration?
    /// `--revoke-first`: what the targets held that rotor did not issue (neither the old
    /// generation nor the one before), each as "fingerprint at target": still live at the
    /// provider, and only a person can revoke it.
    var unknownDeployed: [String] = []
    /// The generation before the old one, when this run retired it (see `retire`).
    var retired: GenerationRecord?
    /// What the key's `{secret}` targets held when the run began (`readOldSecret`).
    var heldFingerprints = Set<String>()
    /// What the key's `{id}` targets held when the run began (`readOldSecret`).
    var heldIDs: [String] = []
    /// Whether a target held a value that does not read as its template (`readOldSecret`).
    var heldUnreadable = false
    /// Every value the key's `{secret}` targets held when the run began (`readOldSecret`):
    /// what the `scan:` preflight looks for, and after an emergency, the leaked key.
    var heldSecrets: [Secret] = []

    var keyName: String { key.name.value }

    /// Ends the run before its last step.
    struct Stop: Error {
        var outcome: RunOutcome
        var message: String
    }

    init(engine: RotationEngine, key: KeyPolicy, provider: ResolvedProvider, journal: Journal, options: RotationOptions, report: RotationReport) {
        self.engine = engine
        self.key = key
        self.provider = provider
        self.journal = journal
        self.options = options
        self.report = report
        now = engine.clock()
        consumers = engine.configuration.consumers(of: key.name.value)
        operations = consumers.flatMap { consumer in
            consumer.targets.indices.map { engine.targetOperation(consumer, index: $0) }
        }
        values = TemplateValues.context(key: key.name.value, now: now)
    }

    /// preflight → make room → retire → revoke first → create → verify-key → accept the
    /// value → update → commit → delete old.
    func execute() async throws -> RotationReport {
        do {
            try begin()
            try await preflight()
            await readOldSecret()
            try scanForUndeclaredCopies()
            try stopIfInterrupted()
            try await makeRoom()
            try await retire()
            try await revokeFirst()
            try stopIfInterrupted()
            let generation = try await create()
            try await stopIfInterrupted(generation)
            try await verifyKey(generation)
            try await checkEveryTargetAccepts(generation)
            try await stopIfInterrupted(generation)
            try await updateConsumers(generation)
            let record = try commit(generation)
            if Interruption.shared.requested {
                // Past the point of no return: nothing to undo; the old generation waits.
                report.left.append(PendingAction(.deleteGeneration, "old generation \(old?.id ?? "-") is pending deletion: the next 'rotor run' deletes it"))
                return settled(ended(.needsPerson, "rotated to \(record.id); stopped by a signal before deleting the old generation"))
            }
            var finished = try await deleteOld(replacedBy: record)
            if options.emergency, let (copies, unread) = leakedCopies() {
                finished.leakedCopies = copies
                finished.leakedCopiesUnread = unread
            }
            return settled(finished)
        } catch let stop as Stop {
            report.outcome = stop.outcome
            report.message = stop.message
            return settled(report)
        }
    }

    private func settled(_ report: RotationReport) -> RotationReport {
        var report = report
        report.escalateIfOldKeyAnswers(provider: provider.name)
        return report
    }

    // MARK: Shared by the steps

    /// A signal asked rotor to stop: no new step starts. Before a generation exists nothing
    /// was changed; after, the new generation is deleted (no consumer has it yet).
    func stopIfInterrupted(_ generation: NewGeneration) async throws {
        guard Interruption.shared.requested else { return }
        throw try await abandon(generation, because: "stopped by a signal before any consumer was switched")
    }

    func stopIfInterrupted() throws {
        guard Interruption.shared.requested else { return }
        throw Stop(outcome: .failed, message: "stopped by a signal before anything was created or changed")
    }

    /// Records a step's line in the report.
    func note(_ step: PlanStep.Kind, _ detail: String, _ status: PlanStep.Status) {
        report.steps.append(PlanStep(step: step, detail: detail, status: status))
    }

    /// Deletes the new generation no consumer kept, then stops the run with `outcome`
    /// (or needs-person, when something is left). Backups are kept only while a target
    /// still waits for a person to restore it.
    func abandon(_ generation: NewGeneration, because reason: String, outcome: RunOutcome = .failed) async throws -> Stop {
        if let error = try await provider.delete(.new(id: generation.id), journal: journal, at: engine.clock()) {
            note(.delete, "deleting new generation \(generation.id) failed", .failed)
            report.left.append(PendingAction(.deleteGeneration, "delete the new generation \(generation.id) at provider '\(provider.name)': \(error.message)"))
        } else {
            note(.delete, "new generation \(generation.id) deleted", .ok)
        }
        if !report.left.contains(where: { $0.kind == .restoreTarget }) { engine.removeBackups(journal.runID) }
        return Stop(outcome: report.left.isEmpty ? outcome : .needsPerson, message: reason)
    }
}

extension RotationEngine {
    /// What the engine does to one target of a consumer.
    func targetOperation(_ consumer: ConsumerSpec, index: Int) -> TargetOperation {
        let spec = consumer.targets[index]
        return TargetOperation(consumer: consumer, index: index, spec: spec, label: StepDescriptions.targetLabel(spec, displayPath: displayPath), runner: runner)
    }
}
