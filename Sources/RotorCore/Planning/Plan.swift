import Foundation

/// The ordered steps rotor would take. `plan` and `--dry-run` show it and change nothing.
public struct Plan: Sendable, Codable, Equatable {
    public var version = 1
    public var generatedAt: Date
    public var keys: [KeyPlan]

    enum CodingKeys: String, CodingKey {
        case version, keys
        case generatedAt = "generated_at"
    }

    public var dueKeys: [KeyPlan] { keys.filter(\.due) }
}

public struct KeyPlan: Sendable, Codable, Equatable {
    public var key: String
    public var provider: String
    public var providerType: String
    public var due: Bool
    /// Why it is (or is not) due: "never rotated by rotor", "current generation is 95d old (every 90d)".
    public var reason: String
    public var emergency: Bool
    /// A due key whose new secret only a person can give (a `manual` provider): `run` and
    /// `apply` do not rotate it; a person runs `rotor rotate KEY`.
    public var needsPerson = false
    public var current: GenerationRecord?
    public var nextDue: Date?
    /// What preflight will refuse, as far as a read-only look can tell.
    public var blockers: [String]
    public var steps: [PlanStep]
    /// The consumer updated first and alone; the others follow once it is healthy (SPEC,
    /// workflow step 3). nil when the key is not due or has no consumer.
    public var canary: String? = nil

    enum CodingKeys: String, CodingKey {
        case key, provider, due, reason, emergency, current, blockers, steps, canary
        case providerType = "provider_type"
        case nextDue = "next_due"
        case needsPerson = "needs_person"
    }
}

extension KeyPlan {
    /// Decoded by hand so that a plan saved before `needs_person` existed still applies.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        key = try container.decode(String.self, forKey: .key)
        provider = try container.decode(String.self, forKey: .provider)
        providerType = try container.decode(String.self, forKey: .providerType)
        due = try container.decode(Bool.self, forKey: .due)
        reason = try container.decode(String.self, forKey: .reason)
        emergency = try container.decode(Bool.self, forKey: .emergency)
        needsPerson = try container.decodeIfPresent(Bool.self, forKey: .needsPerson) ?? false
        current = try container.decodeIfPresent(GenerationRecord.self, forKey: .current)
        nextDue = try container.decodeIfPresent(Date.self, forKey: .nextDue)
        blockers = try container.decode([String].self, forKey: .blockers)
        steps = try container.decode([PlanStep].self, forKey: .steps)
        canary = try container.decodeIfPresent(String.self, forKey: .canary)
    }

    /// `rotor rotate KEY` as a person types it for this key (the secret on stdin).
    public var personCommand: String { "rotor rotate \(key)" }
}

public struct PlanStep: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case preflight, create
        case verifyKey = "verify-key"
        case update, reload, health, verify, delete
        /// After the old generation's deletion: its secret must be rejected by the key's checks.
        case confirmRevoked = "confirm-revoked"
    }

    public var step: Kind
    public var consumer: String?
    /// `path:selector` of a file target, or the command of an exec target.
    public var target: String?
    public var targetType: String?
    /// A fingerprint, or `missing` / `unreadable` / `not-read`.
    public var current: String?
    /// One line a person can review.
    public var detail: String
    /// How the step ended, set after a run.
    public var status: Status?
    /// A failed health check that could not reach its consumer at all (not in the JSON:
    /// the incident report counts such consumers apart).
    public var unreachable = false

    public enum Status: String, Sendable, Codable {
        case ok, failed
        case rolledBack = "rolled-back"
        /// A check that could not be made (confirm-revoked without the old value at hand).
        case notChecked = "not-checked"
    }

    public init(step: Kind, consumer: String? = nil, target: String? = nil, targetType: String? = nil,
                current: String? = nil, detail: String, status: Status? = nil) {
        self.step = step
        self.consumer = consumer
        self.target = target
        self.targetType = targetType
        self.current = current
        self.detail = detail
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case step, consumer, target, current, detail, status
        case targetType = "target_type"
    }
}
