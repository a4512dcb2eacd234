import Foundation

/// Creating the new generation and proving it works before any consumer gets it.
extension RotationRun {
    /// 1. Creates the new generation; its id is journalled as soon as the provider
    /// returns it. A create whose answer was lost is cleaned up, or named for a person.
    func create() async throws -> NewGeneration {
        var name = key.generationName.render(values)
        // Two rotations on one day would give the same name; where the name is the id
        // (manual keys), the old key to delete must never be the new one.
        if name == old?.id { name += "-" + DateFormatting.compactTimestamp(now) }
        try journal.record(.create, .intent, "create generation '\(name)'", facts: JournalFacts(name: name))
        let generation: NewGeneration
        do throws(ProviderError) {
            generation = try await provider.implementation.create(name: name, values: values, directory: provider.directory)
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
            guard mayHaveCreated else {
                throw Stop(outcome: .failed, message: "create failed: \(error.message); nothing was created or changed")
            }
            throw try await cleanUpLostCreate(named: name, error: error)
        }
        newGeneration = generation
        let record = GenerationRecord(id: generation.id, fingerprint: generation.secret.fingerprint, created: now)
        report.newGeneration = record
        try journal.record(.create, .done, "created \(generation.id) (\(record.fingerprint))", facts: JournalFacts(new: record, name: name))
        note(.create, "created \(generation.id) (\(record.fingerprint))", .ok)
        engine.progress("\(keyName): created \(generation.id) (\(record.fingerprint))")
        values[.name] = name
        values[.id] = generation.id
        return generation
    }

    /// After a create whose answer was lost: a provider that can list tells whether the
    /// generation exists; what is found by its name and unknown to rotor is deleted.
    private func cleanUpLostCreate(named name: String, error: ProviderError) async throws -> Stop {
        let known = Set(try engine.store.keyStates().values.flatMap { [$0.current?.id, $0.previous?.id] }.compactMap { $0 })
        var orphans: [ListedGeneration] = []
        // A server that timed out may still be creating it: look again after each pause.
        for pause in [0] + engine.lostCreatePauses {
            if pause > 0 { try? await Task.sleep(nanoseconds: UInt64(pause * 1e9)) }  // cancelled: look at once
            let found: [ListedGeneration]?
            do throws(ProviderError) { found = try await provider.unrecorded(named: name, known: known, at: now) } catch {
                return needsPerson(name, error, because: "cannot list provider '\(provider.name)': \(error.message)")
            }
            guard let found else { return needsPerson(name, error, because: nil) }
            orphans = found
            if !orphans.isEmpty { break }
        }
        guard !orphans.isEmpty else {
            note(.delete, "no generation named '\(name)' appeared at the provider", .ok)
            return Stop(outcome: .failed, message: "create failed: \(error.message); no generation named '\(name)' appeared at the provider; nothing else was changed")
        }
        for orphan in orphans {
            try journal.record(.create, .info, "found the unrecorded generation \(orphan.id) named '\(name)'", facts: JournalFacts(generationID: orphan.id))
            if let deleteError = try await provider.delete(.new(id: orphan.id, because: "delete the unrecorded generation"), journal: journal, at: now) {
                return needsPerson(name, error, because: "deleting \(ControlCharacters.escape(orphan.id)) failed: \(deleteError.message)")
            }
        }
        let cleaned = "the generation it created anyway (\(ControlCharacters.escape(orphans.map(\.id).joined(separator: ", ")))) was found by name and deleted"
        note(.delete, cleaned, .ok)
        return Stop(outcome: .failed, message: "create failed: \(error.message); \(cleaned); nothing else was changed")
    }

    private func needsPerson(_ name: String, _ error: ProviderError, because reason: String?) -> Stop {
        report.left.append(PendingAction(.checkProvider, "a generation named '\(name)' may exist at provider '\(provider.name)': delete it there"
                                         + (reason.map { " (\($0))" } ?? "")))
        return Stop(outcome: .needsPerson, message: "create failed: \(error.message); no consumer was touched")
    }

    /// 2. verify-key: the policy's checks run with the new generation before any consumer gets it.
    func verifyKey(_ generation: NewGeneration) async throws {
        for check in key.verify {
            if let failure = await CheckRunner(runner: engine.runner).run(check, values: values, secret: generation.secret, directory: key.directory) {
                let message = Redactor.redact(failure.message)
                try journal.record(.verifyKey, .failed, message)
                note(.verifyKey, message, .failed)
                throw try await abandon(generation, because: "verify-key failed: \(message)")
            }
        }
        guard !key.verify.isEmpty else { return }
        try journal.record(.verifyKey, .done, "\(key.verify.count) checks passed")
        note(.verifyKey, "\(key.verify.count) checks passed", .ok)
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
