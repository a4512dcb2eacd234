import Foundation

/// Runs the workflow for a key: preflight → create → verify-key → update (backup, write,
/// read back, reload, health) → verify → delete, with a write-ahead journal, rollback on
/// any failure in update or verify, and the old generation deleted only once every
/// consumer verified the new one.
public final class RotationEngine: Sendable {
    let configuration: Configuration
    let store: any StateStore
    /// Backups live in `<backupsRoot>/<run>/`, mode 0700, files 0600.
    let backupsRoot: String
    let runner: CommandRunner
    let progress: @Sendable (String) -> Void
    /// Called after each target is written: (targets written so far, all targets, what was written).
    let targetProgress: @Sendable (Int, Int, String) -> Void
    let clock: @Sendable () -> Date
    let displayPath: @Sendable (String) -> String
    /// How a person hands over secrets of `manual` keys, and confirms their deletions.
    let manualInput: ManualInput

    public init(configuration: Configuration, store: any StateStore, backupsRoot: String,
                progress: @escaping @Sendable (String) -> Void = { _ in },
                targetProgress: (@Sendable (Int, Int, String) -> Void)? = nil,
                clock: @escaping @Sendable () -> Date = { Date() },
                displayPath: @escaping @Sendable (String) -> String = { $0 },
                manualInput: ManualInput = ManualInput()) {
        self.configuration = configuration
        self.store = store
        self.backupsRoot = backupsRoot
        self.runner = CommandRunner(withheldVariables: Self.tokenVariables(configuration))
        self.progress = progress
        self.targetProgress = targetProgress ?? { _, _, line in progress(line) }
        self.clock = clock
        self.displayPath = displayPath
        self.manualInput = manualInput
    }

    /// Provider token variables, kept out of every command's environment.
    static func tokenVariables(_ configuration: Configuration) -> Set<String> {
        Set(configuration.providers.compactMap { provider in
            if case .http(let http) = provider.kind, case .environment(let name) = http.auth.source { return name }
            return nil
        })
    }

    // MARK: Rotate

    public func rotate(_ keyName: String, options: RotationOptions) async -> RotationReport {
        var report = RotationReport(key: keyName, runID: nil, outcome: .failed, emergency: options.emergency, message: "",
                                    newGeneration: nil, oldGeneration: nil, steps: [], left: [])
        guard let key = configuration.key(named: keyName), let providerSpec = configuration.provider(named: key.provider.value) else {
            report.message = "unknown key '\(keyName)'"
            return report
        }
        guard let provider = providerSpec.makeProvider(runner: runner, manualInput: manualInput) else {
            report.message = "provider '\(providerSpec.name.value)' is of type \(providerSpec.typeName), which this build cannot rotate yet; nothing was created or changed"
            return report
        }
        let runID = Self.makeRunID(clock())
        report.runID = runID
        let started = report
        let locked = await withKeyLock(keyName, runID: runID, options: options) { () async -> RotationReport in
            if let at = options.onlyIfDueAt {
                let state = ((try? store.keyStates()) ?? [:])[keyName] ?? KeyState()
                let schedule = Schedule.evaluate(key, state: state, now: at, force: false, emergency: false)
                if !schedule.due {
                    var skipped = started
                    skipped.notDue = schedule.reason
                    skipped.message = "not due: \(schedule.reason) (another run rotated it meanwhile)"
                    return skipped
                }
            }
            do {
                return try await rotateLocked(key, provider: provider, providerSpec: providerSpec, runID: runID, options: options, report: started)
            } catch {
                var failed = started
                failed.outcome = .needsPerson
                failed.message = "the state store failed during the run (\(error)); run 'rotor recover' once it is back"
                return failed
            }
        }
        switch locked {
        case .success(let finished): report = finished
        case .failure(let refusal):
            report.message = refusal.message
            return report
        }
        for failure in await Notifier().notify(report, key: key) {
            progress("\(keyName): notification failed: \(failure) (the rotation is unaffected)")
        }
        return report
    }

    private func rotateLocked(_ key: KeyPolicy, provider: any KeyProvider, providerSpec: ProviderSpec, runID: String,
                              options: RotationOptions, report initial: RotationReport) async throws -> RotationReport {
        var report = initial
        let keyName = key.name.value
        let now = clock()
        let state = try store.keyStates()[keyName]
        let old = state?.current
        report.oldGeneration = old
        let consumers = configuration.consumers(of: keyName)
        let operations = consumers.flatMap { consumer in
            consumer.targets.enumerated().map { index, target in
                TargetOperation(consumer: consumer, index: index, spec: target,
                                label: StepDescriptions.targetLabel(target, displayPath: displayPath), runner: runner)
            }
        }
        try store.createRun(.starting(id: runID, key: keyName, at: now, emergency: options.emergency))
        let journal = Journal(store: store, runID: runID, clock: clock)
        var startData = ["emergency": String(options.emergency)]
        if let old { startData.merge(Self.data(old, prefix: "old"), uniquingKeysWith: { $1 }) }
        try journal.record("start", .info, "rotation of \(keyName)\(options.emergency ? " (EMERGENCY)" : "")", data: startData)
        if options.emergency {
            try store.appendAudit(AuditEntry(at: now, key: keyName, action: "break-glass", outcome: "started", emergency: true, runID: runID,
                                             detail: "emergency rotation\(options.revokeFirst ? " with --revoke-first" : "")",
                                             data: old.map { ["old_id": $0.id, "old_fingerprint": $0.fingerprint] } ?? [:]))
        }

        var values = TemplateValues.context(key: keyName, now: now)
        let providerValues = values

        func finish(_ outcome: RunOutcome, _ message: String) throws -> RotationReport {
            try store.finishRun(runID, outcome: outcome, at: clock())
            report.outcome = outcome
            report.message = message
            audit(report, action: "rotate")
            progress("\(keyName): \(message)")
            return report
        }

        /// Deletes the new generation no consumer kept, and ends the run. Backups are kept
        /// only when something is left for a person to restore.
        func abandon(_ generation: NewGeneration, because reason: String, outcome: RunOutcome = .failed) async throws -> RotationReport {
            let deletion = try await deleteNew(generation, provider: provider, providerSpec: providerSpec, values: providerValues, journal: journal)
            report.steps.append(deletion.step)
            if let left = deletion.left { report.left.append(left) }
            let final: RunOutcome = report.left.isEmpty ? outcome : .needsPerson
            if final != .needsPerson || report.left.allSatisfy({ !$0.contains("restore") && !$0.contains("could not be restored") }) {
                removeBackups(runID)
            }
            return try finish(final, reason)
        }

        // 0. Preflight: nothing is created or touched if any of this fails.
        var problems = provider.preflight(directory: providerSpec.directory)
        problems += operations.compactMap { $0.preflight() }
        problems += commandProblems(key: key, consumers: consumers)
        if !problems.isEmpty {
            try journal.record("preflight", .failed, problems.joined(separator: "; "))
            report.steps.append(PlanStep(step: .preflight, detail: problems.joined(separator: "; "), status: "failed"))
            return try finish(.failed, "preflight failed: " + problems.joined(separator: "; ") + "; nothing was created or changed")
        }
        try journal.record("preflight", .done, "\(operations.count) targets ready")
        report.steps.append(PlanStep(step: .preflight, detail: "\(operations.count) targets ready", status: "ok"))
        progress("\(keyName): preflight ok (\(operations.count) targets)")


        // Room for one more generation at a provider with a limit (AWS IAM: two keys per user).
        if let capacity = providerSpec.capacity {
            if let refusal = try await makeRoom(capacity, keyName: keyName, current: old, provider: provider, providerSpec: providerSpec,
                                                values: providerValues, journal: journal, report: &report) {
                try journal.record("preflight", .failed, refusal)
                return try finish(.failed, "preflight failed: \(refusal); nothing was created or changed")
            }
        }

        // A generation two rotations back, still in its grace period: every consumer verified
        // its successor long ago, so it goes now (the state holds one previous generation).
        if let retiring = state?.previous {
            try journal.record("retire", .intent, "delete generation \(retiring.id), still pending from an earlier run", data: Self.data(retiring, prefix: "retiring"))
            var retireError: ProviderError?
            do throws(ProviderError) {
                try await provider.delete(id: retiring.id, values: providerValues, directory: providerSpec.directory)
            } catch {
                retireError = error
            }
            if let retireError {
                try journal.record("retire", .failed, retireError.message)
                guard options.emergency else {
                    return try finish(.failed, "generation \(retiring.id), pending deletion from an earlier run, could not be deleted: \(retireError.message); delete it first (nothing else was done)")
                }
                report.left.append("generation \(retiring.id) (pending deletion from an earlier run) is still at the provider: delete it there")
            } else {
                try journal.record("retire", .done, "generation \(retiring.id) deleted")
                try store.saveKeyState(KeyState(current: old, previous: nil), for: keyName)
                removeBackupsOfFinishedRuns(of: keyName)
                report.steps.append(PlanStep(step: .delete, detail: "deleted generation \(retiring.id), pending from an earlier run", status: "ok"))
            }
        }

        // Emergency --revoke-first: cut the old generation off before anything else.
        if options.revokeFirst, let old {
            try journal.record("revoke", .intent, "delete the old generation first", data: Self.data(old, prefix: "old"))
            do throws(ProviderError) {
                try await provider.delete(id: old.id, values: providerValues, directory: providerSpec.directory)
            } catch {
                try journal.record("revoke", .failed, error.message)
                return try finish(.failed, "revoking the old generation failed: \(error.message); nothing else was done")
            }
            try journal.record("revoke", .done, "old generation \(old.id) deleted")
            report.steps.append(PlanStep(step: .delete, detail: "revoked old generation \(old.id) first", status: "ok"))
            progress("\(keyName): revoked old generation \(old.id)")
        }

        // 1. Create the new generation. Its id is journalled as soon as the provider returns it.
        var name = key.generationName.render(values)
        // Two rotations on one day would give the same name; where the name is the id
        // (manual keys), the old key to delete must never be the new one.
        if name == old?.id { name += "-" + DateFormatting.compactTimestamp(now) }
        try journal.record("create", .intent, "create generation '\(name)'", data: ["name": name])
        let generation: NewGeneration
        do throws(ProviderError) {
            generation = try await provider.create(name: name, values: providerValues, directory: providerSpec.directory)
        } catch {
            try journal.record("create", .failed, error.message, data: ["name": name, "may_have_created": String(error.mayHaveCreated)])
            report.steps.append(PlanStep(step: .create, detail: error.message, status: "failed"))
            if error.mayHaveCreated {
                // The answer was lost: a provider that can list tells whether the key exists.
                if let cleaned = await deleteLostGeneration(named: name, provider: provider, providerSpec: providerSpec, values: providerValues, journal: journal) {
                    report.steps.append(PlanStep(step: .delete, detail: cleaned, status: "ok"))
                    return try finish(.failed, "create failed: \(error.message); \(cleaned); nothing else was changed")
                }
                report.left.append("a generation named '\(name)' may exist at provider '\(providerSpec.name.value)': delete it there")
                return try finish(.needsPerson, "create failed: \(error.message); no consumer was touched")
            }
            return try finish(.failed, "create failed: \(error.message); nothing was created or changed")
        }
        let redactor = Redactor([generation.secret])
        let newRecord = GenerationRecord(id: generation.id, fingerprint: generation.secret.fingerprint, created: now)
        report.newGeneration = newRecord
        try journal.record("create", .done, "created \(generation.id) (\(newRecord.fingerprint))", data: Self.data(newRecord, prefix: "new").merging(["name": name], uniquingKeysWith: { $1 }))
        report.steps.append(PlanStep(step: .create, detail: "created \(generation.id) (\(newRecord.fingerprint))", status: "ok"))
        progress("\(keyName): created \(generation.id) (\(newRecord.fingerprint))")
        values[.name] = name
        values[.id] = generation.id

        // 2. verify-key: the new generation must work before any consumer gets it.
        for check in key.verify {
            if let problem = await CheckRunner(runner: runner).run(check, values: values, secret: generation.secret, directory: key.directory) {
                let message = redactor.redact(problem)
                try journal.record("verify-key", .failed, message)
                report.steps.append(PlanStep(step: .verifyKey, detail: message, status: "failed"))
                return try await abandon(generation, because: "verify-key failed: \(message)")
            }
        }
        if !key.verify.isEmpty {
            try journal.record("verify-key", .done, "\(key.verify.count) checks passed")
            report.steps.append(PlanStep(step: .verifyKey, detail: "\(key.verify.count) checks passed", status: "ok"))
        }
        // Every target must accept the value before any is touched (the env-file rule, INI limits…).
        let refusals = operations.compactMap { $0.refusal(of: $0.spec.value.render(values.merging([.secret: generation.secret.reveal()], uniquingKeysWith: { $1 }))) }
        if !refusals.isEmpty {
            let message = redactor.redact(refusals.joined(separator: "; "))
            try journal.record("preflight", .failed, message)
            return try await abandon(generation, because: "preflight refused the new value: \(message)")
        }

        // 3. Update every consumer, up to `parallel` at once.
        let updates = await updateConsumers(consumers, operations: operations, runID: runID, values: values, secret: generation.secret,
                                            parallel: options.parallel, journal: journal)
        report.steps += updates.steps
        if journal.leaseLost {
            // Another runner holds the key now and recovers this run; touching anything
            // more (a rollback, a reload, a provider call) would race it.
            report.outcome = .needsPerson
            report.message = "this run lost its lease on '\(keyName)' to another runner and stopped without touching anything further; that runner recovers the run (check 'rotor history \(keyName)')"
            return report
        }
        if let failure = updates.failures.first {
            let message = redactor.redact(failure)
            progress("\(keyName): \(message); rolling back")
            let left = await rollBack(updates.touched, consumers: updates.touchedConsumers, journal: journal)
            report.steps += left.steps
            report.left += left.left
            try? journal.record("rollback", left.left.isEmpty ? .done : .failed, left.left.isEmpty ? "every touched target restored" : left.left.joined(separator: "; "))
            return try await abandon(generation, because: "\(message); every consumer was rolled back to the old generation",
                                     outcome: left.left.isEmpty ? .rolledBack : .needsPerson)
        }

        // 4. Verified: the point of no return. Recovery rolls forward from here.
        try journal.record("verify", .done, "all \(consumers.count) consumers run on \(generation.id)")
        report.steps.append(PlanStep(step: .verify, detail: "all \(consumers.count) consumers verified", status: "ok"))
        let deleteNow = key.grace.seconds == 0 || options.emergency
        var previous = old.map { record -> GenerationRecord in
            var pending = record
            pending.pendingDeletionAt = now.addingTimeInterval(options.emergency ? 0 : key.grace.timeInterval)
            return pending
        }
        if options.revokeFirst { previous = nil }
        try store.saveKeyState(KeyState(current: newRecord, previous: previous), for: keyName)
        try journal.record("commit", .done, "state: current \(generation.id)")

        // 5. Delete the old generation (at once, or later by `rotor run`).
        guard let old, !options.revokeFirst else {
            removeBackups(runID)
            return try finish(.completed, "rotated to \(generation.id) (\(newRecord.fingerprint)); \(old == nil ? "no previous generation known to rotor" : "old generation revoked first")")
        }
        guard deleteNow else {
            return try finish(.completed, "rotated to \(generation.id) (\(newRecord.fingerprint)); old generation \(old.id) kept until \(DateFormatting.iso8601(previous?.pendingDeletionAt ?? now)) (grace \(key.grace))")
        }
        try journal.record("delete", .intent, "delete old generation \(old.id)", data: Self.data(old, prefix: "old"))
        do throws(ProviderError) {
            try await provider.delete(id: old.id, values: providerValues, directory: providerSpec.directory)
        } catch {
            let message = redactor.redact(error.message)
            try journal.record("delete", .failed, message)
            report.steps.append(PlanStep(step: .delete, detail: message, status: "failed"))
            report.left.append("old generation \(old.id) is still at the provider; 'rotor run' retries its deletion")
            removeBackups(runID)
            return try finish(.needsPerson, "rotated to \(generation.id), but deleting the old generation failed: \(message)")
        }
        try journal.record("delete", .done, "old generation \(old.id) deleted")
        try store.saveKeyState(KeyState(current: newRecord, previous: nil), for: keyName)
        report.steps.append(PlanStep(step: .delete, detail: "old generation \(old.id) deleted", status: "ok"))
        removeBackups(runID)
        return try finish(.completed, "rotated to \(generation.id) (\(newRecord.fingerprint)); old generation \(old.id) deleted")
    }

    /// Deletes a new generation no consumer kept. Returns the step taken and, if the
    /// deletion failed, what a person must do.
    private func deleteNew(_ generation: NewGeneration, provider: any KeyProvider, providerSpec: ProviderSpec,
                           values: [Placeholder: String], journal: Journal) async throws -> (step: PlanStep, left: String?) {
        try journal.record("delete-new", .intent, "delete the new generation \(generation.id)", data: ["new_id": generation.id])
        do throws(ProviderError) {
            try await provider.delete(id: generation.id, values: values, directory: providerSpec.directory)
        } catch {
            try journal.record("delete-new", .failed, error.message)
            return (PlanStep(step: .delete, detail: "deleting new generation \(generation.id) failed", status: "failed"),
                    "delete the new generation \(generation.id) at provider '\(providerSpec.name.value)': \(error.message)")
        }
        try journal.record("delete-new", .done, "new generation \(generation.id) deleted")
        return (PlanStep(step: .delete, detail: "new generation \(generation.id) deleted", status: "ok"), nil)
    }

    /// Checks the provider has room for a new generation; at the limit, deletes an inactive
    /// one when the policy allows, else says what to do. nil when there is room.
    private func makeRoom(_ capacity: ProviderCapacity, keyName: String, current: GenerationRecord?, provider: any KeyProvider,
                          providerSpec: ProviderSpec, values: [Placeholder: String], journal: Journal,
                          report: inout RotationReport) async throws -> String? {
        var listed: [ListedGeneration]
        do throws(ProviderError) {
            guard let generations = try await provider.list(values: values, directory: providerSpec.directory) else { return nil }
            listed = generations
        } catch {
            return "cannot count the generations at provider '\(providerSpec.name.value)': \(error.message)"
        }
        guard listed.count >= capacity.maxGenerations else { return nil }
        let pending = (try? store.keyStates())?[keyName]?.previous?.id
        let describe = listed.map { "\($0.id)\($0.id == current?.id ? " (current)" : "")\($0.active ? "" : " (inactive)")" }.joined(separator: ", ")
        if capacity.deleteInactiveWhenFull,
           let spare = listed.first(where: { !$0.active && $0.id != current?.id && $0.id != pending }) {
            try journal.record("make-room", .intent, "delete inactive generation \(spare.id) to make room", data: ["spare_id": spare.id])
            do throws(ProviderError) {
                try await provider.delete(id: spare.id, values: values, directory: providerSpec.directory)
            } catch {
                return "provider '\(providerSpec.name.value)' is at its limit of \(capacity.maxGenerations) and deleting inactive \(spare.id) failed: \(error.message)"
            }
            try journal.record("make-room", .done, "deleted inactive generation \(spare.id)")
            report.steps.append(PlanStep(step: .delete, detail: "deleted inactive generation \(spare.id) to make room (limit \(capacity.maxGenerations))", status: "ok"))
            return nil
        }
        return "provider '\(providerSpec.name.value)' already holds \(listed.count) generations (\(describe)), its limit of \(capacity.maxGenerations): "
            + "delete the one no consumer uses, or set delete_inactive_when_full: true to let rotor delete an inactive one"
    }

    /// After a create whose answer was lost: finds the generation by its name in the
    /// provider's list and deletes it. nil when the provider cannot list or it failed.
    private func deleteLostGeneration(named name: String, provider: any KeyProvider, providerSpec: ProviderSpec,
                                      values: [Placeholder: String], journal: Journal) async -> String? {
        let known = ((try? store.keyStates()) ?? [:]).values.flatMap { [$0.current?.id, $0.previous?.id] }.compactMap { $0 }
        // A server that timed out may still be creating it: look three times, 1 s and 2 s apart.
        var orphans: [ListedGeneration] = []
        for attempt in 0..<3 {
            if attempt > 0 { try? await Task.sleep(nanoseconds: UInt64(attempt) * 1_000_000_000) }
            var listed: [ListedGeneration]?
            do throws(ProviderError) { listed = try await provider.list(values: values, directory: providerSpec.directory) } catch { return nil }
            guard let listed else { return nil }
            orphans = listed.filter { $0.name == name && !known.contains($0.id) }
            if !orphans.isEmpty { break }
        }
        guard !orphans.isEmpty else { return "no generation named '\(name)' appeared at the provider" }
        for orphan in orphans {
            try? journal.record("delete-new", .intent, "delete the unrecorded generation \(orphan.id) named '\(name)'", data: ["new_id": orphan.id])
            do throws(ProviderError) {
                try await provider.delete(id: orphan.id, values: values, directory: providerSpec.directory)
            } catch {
                return nil
            }
            try? journal.record("delete-new", .done, "deleted \(orphan.id)")
        }
        return "the generation it created anyway (\(orphans.map(\.id).joined(separator: ", "))) was found by name and deleted"
    }

    /// Commands that must exist: reload, exec health checks, exec verify checks.
    private func commandProblems(key: KeyPolicy, consumers: [ConsumerSpec]) -> [String] {
        var problems: [String] = []
        for check in key.verify {
            if case .exec(let command) = check, CommandRunner.locate(command.program, in: key.directory) == nil {
                problems.append("verify command '\(command.program)' is not installed or not on PATH")
            }
        }
        for consumer in consumers {
            if let reload = consumer.reload, CommandRunner.locate(reload.program, in: consumer.directory) == nil {
                problems.append("\(consumer.name.value): reload command '\(reload.program)' is not installed or not on PATH")
            }
            if case .exec(let command)? = consumer.health, CommandRunner.locate(command.program, in: consumer.directory) == nil {
                problems.append("\(consumer.name.value): health command '\(command.program)' is not installed or not on PATH")
            }
        }
        return problems
    }

    /// Writes a finished run to the audit log (fingerprints and ids only).
    func audit(_ report: RotationReport, action: String) {
        var data: [String: String] = [:]
        if let new = report.newGeneration { data["new_id"] = new.id; data["new_fingerprint"] = new.fingerprint }
        if let old = report.oldGeneration { data["old_id"] = old.id; data["old_fingerprint"] = old.fingerprint }
        try? store.appendAudit(AuditEntry(at: clock(), key: report.key, action: action, outcome: report.outcome.rawValue,
                                          emergency: report.emergency, runID: report.runID, detail: report.message, data: data))
    }

    /// Deletes a previous generation whose time has come (`rotor run`): when its grace
    /// period has passed, or earlier when the key sets `delete_when_unused_for` and the
    /// provider reports it unused that long. nil when the key has nothing pending.
    public func deletePending(_ keyName: String, now: Date) async -> RotationReport? {
        guard let state = try? store.keyStates()[keyName], let current = state.current, let previous = state.previous,
              let due = previous.pendingDeletionAt,
              let key = configuration.key(named: keyName), let spec = configuration.provider(named: key.provider.value),
              let provider = spec.makeProvider(runner: runner, manualInput: manualInput)
        else { return nil }
        var reason = "its grace period ended \(DateFormatting.iso8601(due))"
        if due > now {
            guard let unusedFor = key.deleteWhenUnusedFor else { return nil }
            var listed: [ListedGeneration]?
            do throws(ProviderError) { listed = try await provider.list(values: TemplateValues.context(key: keyName, now: now), directory: spec.directory) } catch {
                progress("\(keyName): cannot list the provider to see whether \(previous.id) is still used: \(error.message)")
                return nil
            }
            guard let entry = listed?.first(where: { $0.id == previous.id }) else { return nil }
            let lastUse = entry.lastUsed ?? previous.created
            guard now.timeIntervalSince(lastUse) >= unusedFor.timeInterval else {
                return RotationReport(key: keyName, runID: nil, outcome: .inProgress, emergency: false,
                                      message: "old key \(previous.id) still in use (last used \(DateFormatting.iso8601(lastUse))): deleted once unused for \(unusedFor), at the latest \(DateFormatting.iso8601(due))",
                                      newGeneration: current, oldGeneration: previous, steps: [], left: [])
            }
            reason = "unused since \(DateFormatting.iso8601(lastUse)) (\(unusedFor) or more)"
        }
        let runID = Self.makeRunID(clock())
        let report = RotationReport(key: keyName, runID: runID, outcome: .failed, emergency: false, message: "", newGeneration: current,
                                    oldGeneration: previous, steps: [], left: [])
        let started = report
        let locked = await withKeyLock(keyName, runID: runID) { () async -> RotationReport in
            var report = started
            do {
                try store.createRun(.starting(id: runID, key: keyName, at: clock(), emergency: false))
                let journal = Journal(store: store, runID: runID, clock: clock)
                try journal.record("delete", .intent, "delete generation \(previous.id): grace period over", data: Self.data(previous, prefix: "old"))
                var failure: ProviderError?
                do throws(ProviderError) {
                    try await provider.delete(id: previous.id, values: TemplateValues.context(key: keyName, now: now), directory: spec.directory)
                } catch {
                    failure = error
                }
                if let failure {
                    try journal.record("delete", .failed, failure.message)
                    report.outcome = .needsPerson
                    report.message = "deleting generation \(previous.id) (grace period over) failed: \(failure.message); the next run retries"
                    report.left.append("generation \(previous.id) is still at the provider")
                } else {
                    try journal.record("delete", .done, "generation \(previous.id) deleted")
                    try store.saveKeyState(KeyState(current: current, previous: nil), for: keyName)
                    removeBackupsOfFinishedRuns(of: keyName)
                    report.outcome = .completed
                    report.message = "deleted generation \(previous.id): \(reason)"
                    report.steps.append(PlanStep(step: .delete, detail: report.message, status: "ok"))
                }
                try store.finishRun(runID, outcome: report.outcome, at: clock())
            } catch {
                report.outcome = .needsPerson
                report.message = "the state store failed (\(error)); run 'rotor recover'"
            }
            return report
        }
        return concluded(locked, refused: report, action: "delete-pending", key: keyName)
    }

    // MARK: Locks

    /// Runs `body` holding `key`'s lock and releases it afterwards; when another live run
    /// holds the lock past the wait, `body` does not run and the refusal says who.
    func withKeyLock<T>(_ key: String, runID: String, options: RotationOptions = RotationOptions(),
                        _ body: () async -> T) async -> Result<T, LockRefusal> {
        let owner = LockOwner.current(runID: runID)
        if let refusal = await acquireLock(key, owner: owner, options: options) { return .failure(LockRefusal(message: refusal)) }
        defer { try? store.releaseLock(key: key, owner: owner) }
        return .success(await body())
    }

    /// The report of an operation that ran under its key's lock, audited under `action`
    /// and announced; or, when the lock was refused, `refused` saying why.
    func concluded(_ locked: Result<RotationReport, LockRefusal>, refused: RotationReport, action: String, key: String) -> RotationReport {
        switch locked {
        case .failure(let refusal):
            var report = refused
            report.message = refusal.message
            return report
        case .success(let report):
            audit(report, action: action)
            progress("\(key): \(report.message)")
            return report
        }
    }

    struct LockRefusal: Error {
        var message: String
    }

    /// nil when the lock is ours; else why not. A live holder is waited for briefly.
    func acquireLock(_ key: String, owner: LockOwner, options: RotationOptions) async -> String? {
        let deadline = Date().addingTimeInterval(options.lockWait)
        while true {
            let attempt: LockAttempt
            do {
                attempt = try store.acquireLock(key: key, owner: owner, lease: options.lease, now: clock(), canTakeOver: Self.ownerIsGone)
            } catch {
                return "cannot take the lock of '\(key)': \(error)"
            }
            guard case .heldBy(let holder) = attempt else { return nil }
            if Date() >= deadline {
                return "key '\(key)' is being rotated by run \(holder.owner.runID) (pid \(holder.owner.pid) on \(holder.owner.host)); try again when it has finished"
            }
            try? await Task.sleep(nanoseconds: 200_000_000)
        }
    }

    /// A lock's owner is gone when it ran on this host and its process no longer exists.
    @Sendable static func ownerIsGone(_ holder: LockHolder) -> Bool {
        holder.owner.host == ProcessInfo.processInfo.hostName && kill(holder.owner.pid, 0) != 0 && errno == ESRCH
    }

    // MARK: Helpers

    static func makeRunID(_ date: Date) -> String {
        var generator = SystemRandomNumberGenerator()
        return DateFormatting.compactTimestamp(date) + "-" + String(UInt32.random(in: 0x100000...0xFFFFFF, using: &generator), radix: 16)
    }

    static func data(_ record: GenerationRecord, prefix: String) -> [String: String] {
        ["\(prefix)_id": record.id, "\(prefix)_fingerprint": record.fingerprint, "\(prefix)_created": String(record.created.timeIntervalSince1970)]
    }

    static func record(from data: [String: String], prefix: String) -> GenerationRecord? {
        guard let id = data["\(prefix)_id"], let fingerprint = data["\(prefix)_fingerprint"] else { return nil }
        return GenerationRecord(id: id, fingerprint: fingerprint, created: Date(timeIntervalSince1970: Double(data["\(prefix)_created"] ?? "") ?? 0))
    }

    func backupFolder(_ runID: String) -> String { backupsRoot + "/" + runID }

    /// A finished run keeps its backups while its old generation waits out the grace
    /// period (for `rotor rollback`); once that generation is gone they are removed.
    func removeBackupsOfFinishedRuns(of key: String) {
        for run in (try? store.runs()) ?? [] where run.key == key && run.finished != nil {
            removeBackups(run.id)
        }
    }

    func removeBackups(_ runID: String) {
        guard !runID.isEmpty else { return }
        try? FileManager.default.removeItem(atPath: backupFolder(runID))
    }
}
