import Foundation

/// Evidence that a deleted generation is dead: its secret tried against the key's verify
/// checks after the provider said it was deleted. A provider's "deleted" is a claim
/// (vendors cache keys, revoke eventually, some deletes are no-ops); this is the proof an
/// incident is closed on.
public struct Revocation: Sendable, Encodable, Equatable {
    public enum Status: String, Sendable, Encodable {
        /// Every check refused the old secret.
        case rejected
        /// A check still accepted it after every retry: a person must revoke it.
        case stillActive = "still-active"
        /// No evidence either way: no verify checks, no old value at hand, or a verifier
        /// that could not be reached.
        case notChecked = "not-checked"
    }

    public var generationID: String
    public var status: Status
    /// One line for a person, secret-free.
    public var detail: String
    /// How many times the checks ran (0 when not checked).
    public var attempts: Int

    enum CodingKeys: String, CodingKey {
        case status, detail, attempts
        case generationID = "generation_id"
    }

    /// The step's line in the report: ok when rejected.
    var step: PlanStep {
        let status: PlanStep.Status = switch self.status {
        case .rejected: .ok
        case .stillActive: .failed
        case .notChecked: .notChecked
        }
        return PlanStep(step: .confirmRevoked, detail: detail, status: status)
    }

    /// The first words of a report whose old key still answers.
    static let stillAnswers = "the old key still answers; revoke it at the provider"
}

extension RotationEngine {
    /// After `old` was deleted: runs the key's verify checks with its secret, which must be
    /// refused, retrying with backoff (1 s, 2 s, 4 s…) within the key's
    /// `confirm_revoked_within` (vendors that revoke eventually). A refusal counts only when
    /// the same checks still accept `current` (the generation in use): checks that refuse
    /// every key prove nothing. The result is journalled (step `confirm-revoked`); every
    /// message is redacted of both generations' secrets. Throws only when the journal
    /// cannot be written.
    func confirmRevoked(_ old: GenerationRecord, secret: Secret?, current: (id: String, secret: Secret)?, key: KeyPolicy, journal: Journal) async throws -> Revocation {
        func notChecked(_ why: String) throws -> Revocation {
            let revocation = Revocation(generationID: old.id, status: .notChecked, detail: "not checked: \(why)", attempts: 0)
            try journal.record(.confirmRevoked, .info, revocation.detail)
            return revocation
        }
        // A provider that checks by using a generation (a database login) is asked too.
        let selfChecking = configuration.provider(named: key.provider.value).flatMap { makeProvider($0, runner, manualInput) } as? any SelfCheckingProvider
        guard !key.verify.isEmpty || selfChecking != nil else { return try notChecked("the key has no verify checks to try the old generation \(old.id) with") }
        guard let secret, secret.fingerprint == old.fingerprint else {
            return try notChecked("the old value of \(old.id) is no longer at hand (rotor stores no secret; it is read from the targets, or from the backups kept during the grace period)")
        }
        var values = TemplateValues.context(key: key.name.value, now: clock())
        values[.id] = old.id
        let bound = key.confirmRevokedWithin.timeInterval
        var waited: TimeInterval = 0
        var pause: TimeInterval = 1
        var attempts = 0
        var last = CheckRunner.Failure(message: "")
        var accepted = false
        while true {
            attempts += 1
            (accepted, last) = await tryChecks(key, selfChecking, values: values, secret: secret)
            if !accepted && !last.inconclusive {
                if let current {
                    var controlValues = values
                    controlValues[.id] = current.id
                    let (works, failure) = await tryChecks(key, selfChecking, values: controlValues, secret: current.secret, all: true)
                    if !works {
                        return try notChecked("the verify checks refuse the generation in use (\(current.id)) too, so their refusal of \(old.id) proves nothing (\(Redactor.redact(failure.message)))")
                    }
                }
                let detail = "old generation \(old.id) rejected by its verify checks" + (attempts > 1 ? " (after \(attempts) tries)" : "") + ": \(Redactor.redact(last.message))"
                try journal.record(.confirmRevoked, .done, detail)
                return Revocation(generationID: old.id, status: .rejected, detail: detail, attempts: attempts)
            }
            guard waited + pause <= bound else { break }
            try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
            waited += pause
            pause *= 2
        }
        let over = attempts > 1 ? " \(attempts) times over \(Int(waited))s" : ""
        if accepted {
            let detail = "\(Revocation.stillAnswers): generation \(old.id) was deleted, but its verify checks still accept it\(over)"
            try journal.record(.confirmRevoked, .failed, detail)
            return Revocation(generationID: old.id, status: .stillActive, detail: detail, attempts: attempts)
        }
        let detail = "not checked: the verify checks gave no answer about \(old.id)\(over) (\(Redactor.redact(last.message)))"
        try journal.record(.confirmRevoked, .info, detail)
        return Revocation(generationID: old.id, status: .notChecked, detail: detail, attempts: attempts)
    }

    /// One try of the checks with `secret`: accepted when any check passes (`all`: when
    /// every check passes); else the failure that decides (a conclusive refusal wins over
    /// an inconclusive one).
    private func tryChecks(_ key: KeyPolicy, _ selfChecking: (any SelfCheckingProvider)?, values: [Placeholder: String], secret: Secret,
                           all: Bool = false) async -> (accepted: Bool, failure: CheckRunner.Failure) {
        var decisive: CheckRunner.Failure?
        let providerCheck: [CheckSpec?] = selfChecking == nil ? [] : [nil]  // nil: the provider's own check
        for check in providerCheck + key.verify.map(Optional.some) {
            let outcome = if let check {
                await CheckRunner(runner: runner).run(check, values: values, secret: secret, directory: key.directory, retrying: false)
            } else {
                await selfChecking!.tryUsing(id: values[.id] ?? "", secret: secret)
            }
            guard let failure = outcome else {
                if all { continue }
                return (true, CheckRunner.Failure(message: "accepted"))
            }
            if all { return (false, failure) }
            if decisive == nil || (decisive!.inconclusive && !failure.inconclusive) { decisive = failure }
        }
        if all { return (true, CheckRunner.Failure(message: "accepted")) }
        return (false, decisive ?? CheckRunner.Failure(message: "no check ran", inconclusive: true))
    }
}

extension RotationReport {
    /// Records the evidence and its step.
    mutating func add(_ revocation: Revocation) {
        revocations.append(revocation)
        steps.append(revocation.step)
    }

    /// A report whose old key still answered after its deletion needs a person, whatever
    /// else happened; the evidence leads its message. Call once, when the report ends.
    mutating func escalateIfOldKeyAnswers(provider: String) {
        for revocation in revocations where revocation.status == .stillActive {
            outcome = .needsPerson
            message = "\(Revocation.stillAnswers) (generation \(revocation.generationID)); " + message
            left.append(PendingAction(.deleteGeneration, "generation \(revocation.generationID) still answers after its deletion: revoke it at provider '\(provider)' (its console or support), then rotate again if it was leaked"))
        }
    }
}
