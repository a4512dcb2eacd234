import Foundation

/// The steps before a new generation exists: nothing a consumer uses changes here.
extension RotationRun {
    /// Reads the key's state and journals the start (with the old generation, which
    /// recovery needs), and a break-glass audit entry for an emergency.
    func begin() throws {
        state = try engine.store.keyState(keyName) ?? KeyState()
        old = state.current
        report.oldGeneration = old
        try journal.record(.start, .info, "rotation of \(keyName)\(options.emergency ? " (EMERGENCY)" : "")",
                           facts: JournalFacts(emergency: options.emergency, old: old))
        if options.emergency {
            try engine.store.appendAudit(AuditEntry(at: now, key: keyName, action: AuditAction.breakGlass.rawValue, outcome: "started", emergency: true,
                                                    runID: journal.runID, detail: "emergency rotation\(options.revokeFirst ? " with --revoke-first" : "")",
                                                    data: old.map { ["old_id": $0.id, "old_fingerprint": $0.fingerprint] } ?? [:]))
        }
    }

    /// 0. Every target exists, parses and is writable; every command exists; the provider
    /// is ready. Nothing is created or touched if any of this fails.
    func preflight() async throws {
        // A manual key's own requirement (a secret at hand) is checked here, not in the shared checks.
        var problems = provider.implementation is ManualProvider ? provider.implementation.preflight(directory: provider.directory) : []
        problems += PreflightChecks.problems(key: key, provider: provider.spec, implementation: provider.implementation, consumers: consumers)
        problems += operations.compactMap { $0.preflight() }
        // What only the provider can tell (a database's roles), once the rest is ready.
        if problems.isEmpty { problems += await provider.implementation.readiness(directory: provider.directory) }
        guard problems.isEmpty else {
            let text = problems.joined(separator: "; ")
            try journal.record(.preflight, .failed, text)
            note(.preflight, text, .failed)
            throw Stop(outcome: .failed, message: "preflight failed: \(text); nothing was created or changed")
        }
        let targets = Planner.count(operations.count, "target")
        try journal.record(.preflight, .done, "\(targets) ready")
        note(.preflight, "\(targets) ready", .ok)
        engine.progress("\(keyName): preflight ok (\(targets))")
    }

    /// The old generation's secret, as a target holds it, kept in memory for
    /// `confirm-revoked` and known to the redactor from then on (a vendor that echoes it
    /// in an error must not publish it). Nothing when no target holds a value with its
    /// fingerprint.
    ///
    /// Every value the key's targets hold is read too, and known to the redactor from then
    /// on (found by an attacker: on a key rotor never rotated, a reload echoing the deployed
    /// key printed it whole under --verbose), and its fingerprint kept in `heldFingerprints`.
    func readOldSecret() async {
        // A value that mixes the generation with other text (`postgres://{id}:{secret}@…`)
        // is read through its template.
        for operation in operations where !operation.spec.value.placeholders.isDisjoint(with: [.secret, .id]) {
            guard let value = await operation.readBack(), !value.isEmpty else { continue }
            guard let held = operation.spec.value.extract(from: value) else {
                // It holds something rotor cannot read as its template: a generation it
                // cannot name (found by an attacker: a first rotation then guessed the role).
                heldUnreadable = true
                continue
            }
            if let id = held[.id], !heldIDs.contains(id) { heldIDs.append(id) }
            guard let value = held[.secret] else { continue }
            let secret = Secret(value)
            if !heldSecrets.contains(secret) {
                heldSecrets.append(secret)
                if secret.fingerprint != old?.fingerprint {
                    report.replacedValues.append(RotationReport.ReplacedValue(fingerprint: secret.fingerprint, shape: ValueShape(of: Array(value.utf8)).recorded))
                }
            }
            heldFingerprints.insert(secret.fingerprint)
            if let old, oldSecret == nil, secret.fingerprint == old.fingerprint {
                oldSecret = secret
                report.oldShape = ValueShape(of: Array(value.utf8)).recorded
            }
        }
    }

    /// Room for one more generation at a provider with a limit (AWS IAM: two keys per
    /// user): at the limit, an inactive generation is deleted when the policy allows,
    /// else the run stops saying what to do.
    func makeRoom() async throws {
        guard let capacity = provider.spec.capacity else { return }
        func refuse(_ reason: String) throws -> Stop {
            try journal.record(.preflight, .failed, reason)
            return Stop(outcome: .failed, message: "preflight failed: \(reason); nothing was created or changed")
        }
        let listed: [ListedGeneration]
        do throws(ProviderError) {
            guard let generations = try await provider.implementation.list(values: values, directory: provider.directory) else { return }
            listed = generations
        } catch {
            throw try refuse("cannot count the generations at provider '\(provider.name)': \(error.message)")
        }
        guard listed.count >= capacity.maxGenerations else { return }
        let pending = state.previous?.id
        if capacity.deleteInactiveWhenFull, let spare = listed.first(where: { !$0.active && $0.id != old?.id && $0.id != pending }) {
            if let error = try await provider.delete(.spare(id: spare.id), journal: journal, at: now) {
                throw try refuse("provider '\(provider.name)' is at its limit of \(capacity.maxGenerations) and deleting inactive \(spare.id) failed: \(error.message)")
            }
            note(.delete, "deleted inactive generation \(spare.id) to make room (limit \(capacity.maxGenerations))", .ok)
            return
        }
        let described = listed.map { "\($0.id)\($0.id == old?.id ? " (current)" : "")\($0.active ? "" : " (inactive)")" }.joined(separator: ", ")
        throw try refuse("provider '\(provider.name)' already holds \(listed.count) generations (\(described)), its limit of \(capacity.maxGenerations): "
            + "delete the one no consumer uses, or set delete_inactive_when_full: true to let rotor delete an inactive one")
    }

    /// A generation two rotations back, still in its grace period: every consumer verified
    /// its successor long ago, so it goes now (the state holds one previous generation).
    func retire() async throws {
        guard let retiring = state.previous else { return }
        retired = retiring
        if provider.spec.isManual, !engine.manualInput.confirmDeletion {
            // Only a person deletes a console key, and they are asked for the new secret
            // before any confirmation (issue 19): an old key still waiting is theirs to
            // confirm first, or with --yes.
            let how = "delete \(ManualProvider.describe(retiring.id)) in the console, then run 'rotor confirm \(keyName)' (or rotate with --yes if it is deleted already)"
            guard options.emergency else {
                throw Stop(outcome: .failed, message: "generation \(retiring.id), pending deletion from an earlier rotation, must be gone before a new key is made: \(how); nothing was done")
            }
            report.left.append(PendingAction(.confirmDeletion, "generation \(retiring.id) (pending deletion from an earlier rotation): \(how)"))
            return
        }
        // Its value is in the backups kept for its grace period (read before they go): for
        // confirm-revoked, and known to the redactor should the provider echo it.
        let retiringSecret = try engine.secretInBackups(of: retiring, key: keyName)
        if let error = try await provider.delete(.retiring(retiring), journal: journal, at: now) {
            guard options.emergency else {
                throw Stop(outcome: .failed, message: "generation \(retiring.id), pending deletion from an earlier run, could not be deleted: \(error.message); delete it first (nothing else was done)")
            }
            report.left.append(PendingAction(.deleteGeneration, "generation \(retiring.id) (pending deletion from an earlier run) is still at the provider: delete it there"))
            return
        }
        state.previous = nil
        try engine.store.saveKeyState(state, for: keyName)
        try engine.removeBackupsOfFinishedRuns(of: keyName)
        note(.delete, "deleted generation \(retiring.id), pending from an earlier run", .ok)
        engine.progress("\(keyName): deleted generation \(retiring.id), pending from an earlier run")
        try await confirmRevoked(retiring, secret: retiringSecret)
    }

    /// Emergency `--revoke-first`: cut the old generation off before anything else.
    func revokeFirst() async throws {
        guard options.revokeFirst, let old else { return }
        // What the targets hold may not be what rotor recorded (a key pasted by hand, a
        // restore from an old backup): that key — the one that leaked — rotor cannot revoke.
        // It says so, loudly, rather than report the recorded generation's revocation as if
        // it were the deployed one (issue 19).
        let known = Set([old.fingerprint] + (retired.map { [$0.fingerprint] } ?? []))
        let knownIDs = Set([old.id] + (retired.map { [$0.id] } ?? []))
        var deployedIDs: [String] = []
        var deployedFingerprints = Set<String>()
        for operation in operations where operation.spec.value == .secretOnly || operation.spec.value == TargetClassifier.idOnly {
            guard let value = await operation.readBack(), !value.isEmpty else { continue }
            if operation.spec.value == TargetClassifier.idOnly {
                if !knownIDs.contains(value), !deployedIDs.contains(value) { deployedIDs.append(value) }
                continue
            }
            let fingerprint = Fingerprint.of(value)
            deployedFingerprints.insert(fingerprint)
            if !known.contains(fingerprint) { unknownDeployed.append("\(fingerprint) at \(operation.consumer.name.value): \(operation.label)") }
        }
        if !unknownDeployed.isEmpty {
            // An `{id}` target may name it: the provider's id is what a person looks it up by.
            // Never a value a secret target holds (an id target holding the key itself), never a long one.
            deployedIDs.removeAll { deployedFingerprints.contains(Fingerprint.of($0)) || $0.count > 128 }
            let named = deployedIDs.isEmpty ? "" : "; its {id} target names \(deployedIDs.map { "'\(ControlCharacters.escape($0))'" }.joined(separator: ", "))"
            let held = unknownDeployed.joined(separator: ", ") + named
            note(.delete, "the targets hold a key rotor did not issue (\(held)): it cannot be revoked by rotor", .failed)
            engine.progress("\(keyName): WARNING: the deployed key is unknown to rotor (\(held)); rotor revokes its own generation \(old.id), not that one")
            report.left.append(PendingAction(.deleteGeneration, "revoke by hand, at provider '\(provider.name)', the key the targets held (\(held)): rotor did not issue it and could not revoke it"))
        }
        if let error = try await provider.delete(.old(old, step: .revoke, because: "delete the old generation first"), journal: journal, at: now) {
            throw Stop(outcome: .failed, message: "revoking the old generation failed: \(error.message); nothing else was done")
        }
        note(.delete, "revoked old generation \(old.id) first", .ok)
        engine.progress("\(keyName): revoked old generation \(old.id)")
        // The proof that it is dead waits until the consumers are on the new generation: the
        // checks' retries must not keep them on a revoked key any longer (see deleteOld).
    }

    /// confirm-revoked: a deleted generation's secret must be refused by the key's checks,
    /// which still accept the generation in use (the new one once it exists, else the old).
    func confirmRevoked(_ deleted: GenerationRecord, secret: Secret?) async throws {
        let inUse: (id: String, secret: Secret)? = if let newGeneration { (newGeneration.id, newGeneration.secret) }
            else if let old, let oldSecret, old.id != deleted.id { (old.id, oldSecret) } else { nil }
        let revocation = try await engine.confirmRevoked(deleted, secret: secret, current: inUse, key: key, journal: journal)
        report.add(revocation)
        engine.progress("\(keyName): \(revocation.detail)")
    }
}
