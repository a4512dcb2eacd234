import Foundation

extension RotationEngine {
    /// `rotor adopt`: records the generation a key's targets hold now as its current one,
    /// created at `now`, so that `every` and `window` count from today and the first
    /// rotation deletes the original key (instead of leaving it live at its provider).
    ///
    /// Every target that holds the secret itself (`{secret}`) must hold the same value. The
    /// id of a key at a vendor comes from a person (`id`, `--id`): its first rotation deletes
    /// that id there, so it must be listed by the provider (when it lists), agree with any
    /// `{id}` target and belong to no other key. Other keys take `id`, a `{id}` target, or
    /// `adopted-DATE-KEY`. A missing target is refused unless it has `create: true`. Nothing is recorded when anything disagrees; a key with
    /// a generation already is refused. The report's `notDue` is set when there is nothing to
    /// adopt: no target holds a value (the first rotation creates one), or rotor recorded
    /// the key already (`adopt --all` skips both).
    public func adopt(_ keyName: String, id givenID: String?, now: Date) async -> RotationReport {
        let runID = Self.makeRunID(clock())
        var report = RotationReport(key: keyName)
        guard let key = configuration.key(named: keyName), let provider = configuration.provider(named: key.provider.value) else {
            report.message = "unknown key '\(keyName)'"
            return report
        }
        let result = await exclusiveRun(of: keyName, runID: runID, action: .adopt, report: report, record: nil, skip: {
            guard let current = try store.keyState(keyName)?.current else { return nil }
            var refused = report
            refused.message = "it has a current generation already (\(current.id) \(current.fingerprint), since \(DateFormatting.iso8601(current.created))): adopt is for keys rotor has not recorded; nothing was changed"
            refused.notDue = "recorded already (\(current.id) \(current.fingerprint))"
            return refused
        }) { _ in
            var report = report
            let held: HeldGeneration
            switch await heldGeneration(of: key, givenID: givenID, reachesAVendor: provider.reachesAVendor, fixedIDs: provider.fixedIDs, now: now) {
            case .failure(let refusal):
                report.message = refusal.message + "; nothing was recorded"
                report.notDue = refusal.nothingHeld ? refusal.message : nil
                return report
            case .success(let found): held = found
            }
            if provider.reachesAVendor, let problem = await listingProblem(held.id, key: keyName, provider: provider, at: now) {
                report.message = problem + "; nothing was recorded"
                return report
            }
            // Found by an attacker: another key's id adopted here made this key's first
            // rotation delete that key's live generation at the vendor.
            for (other, state) in try store.keyStates(holding: held.id) where other != keyName {
                guard let otherKey = configuration.key(named: other), otherKey.provider.value == provider.name.value,
                      [state.current?.id, state.previous?.id].contains(held.id) else { continue }
                report.message = "'\(ControlCharacters.escapeLine(held.id))' is a generation of key '\(other)' at the same provider: give this key's own id; nothing was recorded"
                return report
            }
            let record = GenerationRecord(id: held.id, fingerprint: held.fingerprint, created: now)
            try store.saveKeyState(KeyState(current: record, previous: nil), for: keyName)
            report.outcome = .completed
            report.newGeneration = record
            report.newShape = held.shape
            let due = key.every.map { "; next rotation due \(DateFormatting.iso8601(now.addingTimeInterval($0.timeInterval)))" } ?? ""
            report.message = "adopted \(held.id) (\(held.fingerprint)) as held by \(Planner.count(held.targets, "target"))\(due)"
            return report
        }
        return result
    }

    /// The generation every target of a key agrees on.
    private struct HeldGeneration {
        var id: String
        var fingerprint: String
        var targets: Int
        /// `ValueShape.recorded` of the value held, for the audit log.
        var shape: String? = nil
    }

    private struct AdoptionRefusal: Error {
        /// Passed through `Redactor.redact` (pieces of known values too): it may quote what
        /// a target holds.
        var message: String {
            get { text }
            set { text = Redactor.redact(newValue) }
        }
        private var text = ""

        init(message: String, nothingHeld: Bool = false) {
            self.nothingHeld = nothingHeld
            self.message = message
        }
        /// No target holds anything: not a disagreement, just nothing to adopt yet.
        var nothingHeld = false
    }

    private func heldGeneration(of key: KeyPolicy, givenID: String?, reachesAVendor: Bool, fixedIDs: [String]?, now: Date) async -> Result<HeldGeneration, AdoptionRefusal> {
        var fingerprints: [(label: String, fingerprint: String)] = []
        var ids: [(label: String, id: String)] = []
        var problems: [String] = []
        var heldValues = Set<String>()
        var adoptingSecret: Secret?
        for consumer in configuration.consumers(of: key.name.value) {
            for index in consumer.targets.indices {
                let operation = targetOperation(consumer, index: index)
                let label = "\(consumer.name.value): \(operation.label)"
                // A value that mixes text with the generation (`postgres://{id}:{secret}@…`) is
                // read through its template; an exec target without `read` cannot be read.
                let template = operation.spec.value
                guard !template.placeholders.isDisjoint(with: [.secret, .id]), operation.canReadBack else { continue }
                if let path = operation.spec.filePath, let refusal = FolderOwnership.refusal(path: path, consumer: consumer) {
                    problems.append("\(label): not read: \(refusal)")
                    continue
                }
                if operation.spec.filePath != nil {
                    let observation = TargetInspector().observe(operation.spec)
                    if observation.word == .missing, operation.spec.create { continue }  // a new consumer: the first rotation writes it
                    guard observation.word == .present else {
                        problems.append("\(label): \(observation.reason ?? observation.state)")
                        continue
                    }
                }
                guard let value = await operation.readBack() else {
                    problems.append("\(label): cannot be read")
                    continue
                }
                if value.isEmpty { continue }  // nothing held yet: the first rotation writes it
                guard let held = template.extract(from: value) else {
                    problems.append("\(label): its value does not read as its template '\(template.source)'")
                    continue
                }
                if let secret = held[.secret] {
                    // Known to the redactor from here on: no message may carry it (an `{id}`
                    // target holding it by mistake, quoted in a refusal, included).
                    heldValues.insert(Secret(secret).reveal())
                    fingerprints.append((label, Fingerprint.of(secret)))
                    if let id = held[.id] { ids.append((label, id)) }
                    if adoptingSecret == nil { adoptingSecret = Secret(secret) }
                } else if let id = held[.id] {
                    ids.append((label, id))
                }
            }
        }
        let name = key.name.value
        if fingerprints.isEmpty {
            let nothing = "no target of '\(name)' holds a value to adopt (the first rotation creates one: 'rotor rotate \(name)')"
            return .failure(AdoptionRefusal(message: problems.isEmpty ? nothing : "its targets hold no value rotor can adopt: " + problems.joined(separator: "; "),
                                            nothingHeld: problems.isEmpty))
        }
        guard problems.isEmpty else {
            return .failure(AdoptionRefusal(message: "every target must hold the key to adopt it: " + problems.joined(separator: "; ")))
        }
        let distinct = Set(fingerprints.map(\.fingerprint))
        guard distinct.count == 1, let fingerprint = distinct.first else {
            return .failure(AdoptionRefusal(message: "its targets disagree: " + fingerprints.map { "\($0.label) holds \($0.fingerprint)" }.joined(separator: ", ")
                + " — put one value in all of them (or 'rotor rotate \(name)'), then adopt"))
        }
        let heldIDs = Set(ids.map(\.id))
        guard heldIDs.count <= 1 else {
            return .failure(AdoptionRefusal(message: "its {id} targets disagree: " + ids.map { "\($0.label) holds '\(ControlCharacters.escapeLine($0.id))'" }.joined(separator: ", ")))
        }
        if let givenID, let heldID = heldIDs.first, heldID != givenID {
            return .failure(AdoptionRefusal(message: "--id \(ControlCharacters.escapeLine(givenID)) differs from the id its {id} targets hold ('\(ControlCharacters.escapeLine(heldID))')"))
        }
        if reachesAVendor, givenID == nil {
            // The first rotation deletes this id at the vendor. Whoever can write a target
            // file could name another key there (another team's): a person confirms it.
            let named = heldIDs.first.map { " (its {id} target names '\(ControlCharacters.escapeLine($0))': check it, then 'rotor adopt \(name) --id \(ControlCharacters.escapeLine($0))')" } ?? ""
            return .failure(AdoptionRefusal(message: "give the id its provider knows this key by with --id ID, so that the first rotation deletes the right key there\(named)"))
        }
        if let fixedIDs {
            // A provider whose generations are its roles: the id names which one consumers
            // use (its first rotation changes the other one's password), so it must be one.
            guard let id = givenID ?? heldIDs.first, fixedIDs.contains(id) else {
                let given = (givenID ?? heldIDs.first).map { "'\(ControlCharacters.escapeLine($0))' is not one of its roles" } ?? "no {id} target names the role consumers use"
                return .failure(AdoptionRefusal(message: "\(given): give the role its targets log in as with --id (\(fixedIDs.joined(separator: " or ")))"))
            }
            // And the secret must log in as it (found by an operator: a wrong --id was taken,
            // and the first rotation would have changed the password consumers use).
            if let provider = configuration.provider(named: key.provider.value), let adoptingSecret,
               let selfChecking = makeProvider(provider, runner, manualInput) as? any SelfCheckingProvider,
               let failure = await selfChecking.tryUsing(id: id, secret: adoptingSecret) {
                return .failure(AdoptionRefusal(message: failure.inconclusive
                    ? "cannot check that what the targets hold logs in as \(id): \(failure.message)"
                    : "what the targets hold does not log in as \(id) (\(failure.message)): give the role they use with --id"))
            }
            return .success(HeldGeneration(id: id, fingerprint: fingerprint, targets: fingerprints.count + ids.count,
                                        shape: adoptingSecret.map { ValueShape(of: Array($0.reveal().utf8)).recorded }))
        }
        // Made up: `adopted-DATE-KEY`, the key's name in it so that keys of one provider adopted
        // on one day do not share it (found by an operator: `adopt --all` refused every key
        // after the first, "a generation of key … at the same provider").
        let id = givenID ?? heldIDs.first ?? ManualProvider.adoptedPrefix + DateFormatting.compactTimestamp(now).prefix(8) + "-" + key.name.value
        if let problem = Self.idProblem(id, heldValues: heldValues) {
            return .failure(AdoptionRefusal(message: problem))
        }
        return .success(HeldGeneration(id: id, fingerprint: fingerprint, targets: fingerprints.count + ids.count,
                                        shape: adoptingSecret.map { ValueShape(of: Array($0.reveal().utf8)).recorded }))
    }

    /// Why `id` cannot be a generation's id, or nil. An id is shown, journalled, audited
    /// (for good) and passed to the provider's commands: one printable word of at most 256
    /// characters — no whitespace or line break (a forged line in `history`), no control or
    /// invisible character — that does not contain the secret (found by an attacker: an id
    /// of "SECRET-1" stored the key in the audit chain, where it cannot be scrubbed).
    static func idProblem(_ id: String, heldValues: Set<String>) -> String? {
        let invisible = id.unicodeScalars.contains {
            $0.properties.isWhitespace || [.control, .format, .privateUse, .surrogate].contains($0.properties.generalCategory) || ControlCharacters.isInvisible($0)
        }
        if id.isEmpty || id.count > 256 || invisible {
            return "the id must be one printable word (no spaces, line breaks or invisible characters, at most 256 characters)"
        }
        let folded = id.lowercased()  // an upper-cased hex secret is the secret
        if heldValues.map({ $0.lowercased() }).contains(where: { !$0.isEmpty && (folded.contains($0) || (folded.count >= 8 && $0.contains(folded))) }) {
            return "the id must not hold the secret (nor be part of it): ids are shown and kept for good"
        }
        return nil
    }

    /// Why the key's provider does not confirm `id` (it lists its keys and `id` is not among
    /// them, or the list failed); nil when it is listed or the provider cannot list.
    private func listingProblem(_ id: String, key: String, provider: ProviderSpec, at now: Date) async -> String? {
        guard let implementation = makeProvider(provider, runner, manualInput) else { return nil }
        do throws(ProviderError) {
            guard let listed = try await implementation.list(values: TemplateValues.context(key: key, now: now), directory: provider.directory) else { return nil }
            return listed.contains { $0.id == id } ? nil : "provider '\(provider.name.value)' does not list a key '\(ControlCharacters.escapeLine(id))': give the id it knows the deployed key by"
        } catch {
            return "cannot list provider '\(provider.name.value)' to check the id: \(Redactor.redact(error.message))"
        }
    }
}
