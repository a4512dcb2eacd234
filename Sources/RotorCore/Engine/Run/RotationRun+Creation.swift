import Foundation

/// Creating the new generation and proving it works before any consumer gets it.
extension RotationRun {
    /// 1. Creates the new generation; its id is journalled as soon as the provider
    /// returns it. A create whose outcome is unknown (a timeout, a 5xx, a lost or
    /// unreadable answer, a CLI that failed) is never simply sent again: what it may have
    /// made is looked up by its name — unique to the attempt — and deleted first; a
    /// provider that cannot tell leaves it to a person (exit 3).
    func create() async throws -> NewGeneration {
        if let roles = provider.spec.fixedIDs, old == nil, heldIDs.count != 1 || heldUnreadable, !heldFingerprints.isEmpty || heldUnreadable {
            // Generations that take turns (a database's two roles): creating on the one
            // consumers use would lock them out until they are updated (found by an operator:
            // a DATABASE_URL template named the role, and rotor guessed the other way).
            let named = heldUnreadable ? "a target's value does not read as its template"
                : heldIDs.isEmpty ? "no target names the role they use" : "the targets name \(heldIDs.map { "'\(ControlCharacters.escapeLine($0))'" }.joined(separator: " and "))"
            let message = "rotor does not know which of \(roles.joined(separator: ", ")) consumers use (\(named)): run 'rotor adopt \(keyName) --id ROLE' first"
            try journal.record(.preflight, .failed, message)
            note(.preflight, message, .failed)
            throw Stop(outcome: .failed, message: "preflight failed: \(message); nothing was created or changed")
        }
        let attempts = provider.spec.createAttempts
        var attempt = 1
        while true {
            let name = generationName(attempt: attempt)
            // Recovery of a run that dies now waits this long before it looks for the key.
            let answerBy = provider.spec.createDeadline.map { Date().addingTimeInterval($0) }
            try journal.record(.create, .intent, "create generation '\(name)'", facts: JournalFacts(name: name, answerBy: answerBy))
            let generation: NewGeneration
            do throws(ProviderError) {
                // In use: the recorded generation, else the one every `{id}` target names.
                let inUse = old?.id ?? (heldIDs.count == 1 ? heldIDs[0] : nil)
                generation = try await provider.implementation.create(name: name, values: values, directory: provider.directory, inUse: inUse)
                // An id is shown, journalled and stored: one a terminal would interpret is not
                // taken. It exists, though: found by name and deleted like a lost create.
                guard !generation.id.isEmpty, ControlCharacters.escape(generation.id) == generation.id else {
                    throw ProviderError("the provider answered with an id holding control characters (\(ControlCharacters.escape(generation.id))), which rotor will not show or store",
                                        mayHaveCreated: true)
                }
            } catch {
                // A create cut short by a signal (its command or request stopped mid-way) may have
                // acted at the vendor. (A person at a prompt, or rotor itself, made nothing yet.)
                let mayHaveCreated = error.mayHaveCreated || (Interruption.shared.requested && provider.spec.reachesAVendor)
                try journal.record(.create, .failed, error.message, facts: JournalFacts(name: name, mayHaveCreated: mayHaveCreated))
                note(.create, error.message, .failed)
                let again = attempt < attempts && !Interruption.shared.requested
                guard mayHaveCreated else {
                    if let pause = error.retryAfter, again {
                        attempt += 1
                        try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))  // cancelled: try at once
                        continue
                    }
                    throw Stop(outcome: .failed, message: "create failed: \(error.message); nothing was created or changed")
                }
                let cleared = try await clearUp(lostCreate: name, error: error)
                guard again else {
                    throw Stop(outcome: .failed, message: "create failed: \(error.message); \(cleared); nothing else was changed")
                }
                attempt += 1
                note(.create, "\(cleared); trying again as '\(generationName(attempt: attempt))' (attempt \(attempt) of \(attempts))", .ok)
                continue
            }
            if provider.implementation is ManualProvider,
               [old?.fingerprint, state.previous?.fingerprint, retired?.fingerprint].contains(generation.secret.fingerprint)
                || heldFingerprints.contains(generation.secret.fingerprint) {
                // Found by an attacker (issue 19): the key in use, pasted as the "new" one, was
                // accepted, and the person was then told to delete it — every consumer's key.
                let message = "the secret given is a key in use now or used before (\(generation.secret.fingerprint)), not a new one: create a new key in the console and give its secret"
                try journal.record(.create, .failed, message, facts: JournalFacts(name: name, mayHaveCreated: false))
                note(.create, message, .failed)
                throw Stop(outcome: .failed, message: message + "; nothing was changed")
            }
            try await refuseAnIDHoldingItsSecret(generation, name: name)
            let record = GenerationRecord(id: generation.id, fingerprint: generation.secret.fingerprint, created: now)
            newGeneration = generation
            report.newGeneration = record
            report.newShape = ValueShape(of: Array(generation.secret.reveal().utf8)).recorded
            try journal.record(.create, .done, "created \(generation.id) (\(record.fingerprint))", facts: JournalFacts(new: record, name: name))
            note(.create, "created \(generation.id) (\(record.fingerprint))", .ok)
            engine.progress("\(keyName): created \(generation.id) (\(record.fingerprint))")
            values[.name] = name
            values[.id] = generation.id
            return generation
        }
    }

    /// Ids are shown, journalled, stored and audited: one that holds the secret (found by an
    /// attacker: a vendor whose id embeds its key) would put the secret everywhere. Such a
    /// generation is deleted at once — by id, never journalled — and the run stops.
    private func refuseAnIDHoldingItsSecret(_ generation: NewGeneration, name: String) async throws {
        let secret = generation.secret.reveal()
        // In any form an echo takes (base64, hex…), not only as is.
        let forms = KnownSecrets.forms(of: secret).union([Data(secret.utf8).map { String(format: "%02x", $0) }.joined()])
        guard secret.utf8.count >= 4, forms.contains(where: { $0.utf8.count >= 6 && generation.id.contains($0) }) || generation.id.contains(secret) else { return }
        let problem = "the provider's id for the new generation contains its secret, so rotor cannot store or show it"
        try journal.record(.create, .failed, problem, facts: JournalFacts(name: name, mayHaveCreated: false))
        do throws(ProviderError) {
            try await provider.implementation.delete(id: generation.id, values: values, directory: provider.directory)
        } catch {
            report.left.append(PendingAction(.deleteGeneration, "delete the newest generation at provider '\(provider.name)' by hand (its id holds its secret; deleting it failed: \(error.message))"))
            throw Stop(outcome: .needsPerson, message: "create failed: \(problem); no consumer was touched")
        }
        throw Stop(outcome: .failed, message: "create failed: \(problem); it was deleted at once and nothing else was changed")
    }

    /// The name the provider is asked for. At a vendor it is the key's `name` template plus
    /// this run's suffix (and the attempt after the first), so that a lookup by name after
    /// a lost answer finds exactly what this attempt made. A manual key's name is what a
    /// person types, so it stays as the template says — but never the old key's own id.
    func generationName(attempt: Int) -> String {
        let name = key.generationName.render(values)
        guard provider.spec.reachesAVendor else {
            return name == old?.id ? name + "-" + DateFormatting.compactTimestamp(now) : name
        }
        let run = journal.runID.split(separator: "-").last.map(String.init) ?? journal.runID
        return name + "-" + run + (attempt > 1 ? "-\(attempt)" : "")
    }

    /// After a create whose outcome is unknown: a provider that lists names tells whether
    /// the generation exists; what is found by its name and unknown to rotor is deleted.
    /// Returns what was found; throws the stop for a person when the provider cannot tell.
    private func clearUp(lostCreate name: String, error: ProviderError) async throws -> String {
        let known = Set(try engine.store.keyStates().values.flatMap { [$0.current?.id, $0.previous?.id] }.compactMap { $0 })
        var orphans: [ListedGeneration] = []
        // A server that gave no answer may still be creating it: look again after each pause.
        // (One that answered — a 5xx, an unreadable body — has finished: one look.)
        let stillWorking = error.mayStillBeWorking || Interruption.shared.requested
        for pause in [0] + (stillWorking ? engine.lostCreatePauses : []) {
            if pause > 0 { try? await Task.sleep(nanoseconds: UInt64(pause * 1e9)) }  // cancelled: look at once
            let found: [ListedGeneration]?
            do throws(ProviderError) { found = try await provider.unrecorded(named: name, known: known, at: now) } catch {
                throw needsPerson(name, error, because: "cannot list provider '\(provider.name)': \(error.message)")
            }
            guard let found else { throw needsPerson(name, error, because: "the provider cannot list its generations by name") }
            orphans = found
            if !orphans.isEmpty { break }
        }
        guard !orphans.isEmpty else {
            // A vendor that gave no answer may make the key after rotor stopped looking
            // (found by a reviewer: 14 s later, kept silently): only a person can tell when
            // it is safe to say there is none. One that answered has finished.
            if stillWorking {
                throw needsPerson(name, error, because: "none has appeared yet, but the provider gave no answer and may still make it")
            }
            let none = "no generation named '\(name)' appeared at the provider"
            note(.delete, none, .ok)
            return none
        }
        for orphan in orphans {
            try journal.record(.create, .info, "found the unrecorded generation \(orphan.id) named '\(name)'", facts: JournalFacts(generationID: orphan.id))
            if let deleteError = try await provider.delete(.new(id: orphan.id, because: "delete the unrecorded generation"), journal: journal, at: now) {
                throw needsPerson(name, error, because: "deleting \(ControlCharacters.escape(orphan.id)) failed: \(deleteError.message)")
            }
        }
        let cleaned = "the generation it created anyway (\(ControlCharacters.escape(orphans.map(\.id).joined(separator: ", ")))) was found by name and deleted"
        note(.delete, cleaned, .ok)
        return cleaned
    }

    private func needsPerson(_ name: String, _ error: ProviderError, because reason: String) -> Stop {
        report.left.append(PendingAction(.checkProvider, "a generation named '\(name)' may exist at provider '\(provider.name)': delete it there (\(reason))"))
        return Stop(outcome: .needsPerson, message: "create failed: \(error.message); a generation named '\(name)' may exist at provider '\(provider.name)' and rotor cannot tell (\(reason)); no consumer was touched")
    }

    /// 2. verify-key: the provider's own check (a database login) and the policy's checks run
    /// with the new generation before any consumer gets it.
    func verifyKey(_ generation: NewGeneration) async throws {
        func failed(_ failure: CheckRunner.Failure) async throws -> Stop {
            let message = Redactor.redact(failure.message)
            try journal.record(.verifyKey, .failed, message)
            note(.verifyKey, message, .failed)
            return try await abandon(generation, because: "verify-key failed: \(message)")
        }
        var checks = key.verify.count
        if let selfChecking = provider.implementation as? any SelfCheckingProvider {
            checks += 1
            if let failure = await selfChecking.tryUsing(id: generation.id, secret: generation.secret) { throw try await failed(failure) }
        }
        for check in key.verify {
            if let failure = await CheckRunner(runner: engine.runner).run(check, values: values, secret: generation.secret, directory: key.directory) {
                throw try await failed(failure)
            }
        }
        guard checks > 0 else { return }
        let passed = checks == 1 ? "1 check passed" : "\(checks) checks passed"
        try journal.record(.verifyKey, .done, passed)
        note(.verifyKey, passed, .ok)
    }

    /// Every target must accept the new value before any is touched (the env-file rule,
    /// INI limits…).
    func checkEveryTargetAccepts(_ generation: NewGeneration) async throws {
        let secretValues = values.merging([.secret: generation.secret.reveal()], uniquingKeysWith: { $1 })
        let refusals = operations.compactMap { $0.refusal(of: $0.spec.value.render(secretValues)) }
        guard !refusals.isEmpty else { return }
        let message = Redactor.redact(refusals.joined(separator: "; "))
        try journal.record(.preflight, .failed, message)
        throw try await abandon(generation, because: "preflight refused the new value: \(message)")
    }
}
