import Foundation

/// How a rotation (or a recovery, or a rollback) ended, for people and for `--json`.
public struct RotationReport: Sendable, Codable, Equatable {
    public var key: String
    public var runID: String?
    public var outcome: RunOutcome
    public var emergency: Bool
    /// One line saying what happened and, when something failed, what to do.
    public var message: String
    public var newGeneration: GenerationRecord?
    public var oldGeneration: GenerationRecord?
    /// The steps taken, each with its status.
    public var steps: [PlanStep]
    /// What a person still has to do (outcome needs-person).
    public var left: [String]
    /// Set when a scheduled rotation found the key no longer due once it held the lock
    /// (another run rotated it meanwhile): nothing was attempted. Not part of the JSON.
    public var notDue: String? = nil

    enum CodingKeys: String, CodingKey {
        case key, outcome, emergency, message, steps, left
        case runID = "run"
        case newGeneration = "new_generation"
        case oldGeneration = "old_generation"
    }

    /// How each consumer ended, derived from the steps: switched, failed (and why),
    /// unreachable (its health check could not reach it), or rolled back.
    public var consumerOutcomes: [(consumer: String, state: String, detail: String?)] {
        var order: [String] = []
        var outcome: [String: (String, String?)] = [:]
        for step in steps {
            guard let consumer = step.consumer else { continue }
            if outcome[consumer] == nil { order.append(consumer); outcome[consumer] = ("switched", nil) }
            switch step.status {
            case "failed":
                let unreachable = step.step == .health && step.detail.contains("unreachable")
                outcome[consumer] = (unreachable ? "unreachable" : "failed", step.detail)
            case "rolled-back" where outcome[consumer]?.0 == "switched":
                outcome[consumer] = ("rolled back", nil)
            default: break
            }
        }
        return order.map { ($0, outcome[$0]!.0, outcome[$0]!.1) }
    }

    public var exitStatus: ExitStatus {
        switch outcome {
        case .completed, .inProgress: .success
        case .failed, .rolledBack: .failure
        case .needsPerson: .needsPerson
        }
    }

    /// For `recover`: finishing a run either way is success; only what is left for a person is not.
    public var recoveryExitStatus: ExitStatus {
        outcome == .needsPerson ? .needsPerson : .success
    }
}

/// Options of one rotation.
public struct RotationOptions: Sendable {
    public var emergency: Bool
    public var revokeFirst: Bool
    /// Consumers updated at once.
    public var parallel: Int
    /// How long to wait for a key locked by another live run before refusing.
    public var lockWait: TimeInterval
    public var lease: TimeInterval
    /// Set by `run`: rotate only if the key is still due at this instant once its lock is
    /// held. Two cron runs at once would otherwise both rotate: the second decided before
    /// it waited for the lock.
    public var onlyIfDueAt: Date?

    /// 15 minutes. `ROTOR_TEST_LEASE_SECONDS` shortens it for the lease-takeover tests.
    public static var defaultLease: TimeInterval {
        ProcessInfo.processInfo.environment["ROTOR_TEST_LEASE_SECONDS"].flatMap(TimeInterval.init) ?? 900
    }

    public init(emergency: Bool = false, revokeFirst: Bool = false, parallel: Int = 8, lockWait: TimeInterval = 5, lease: TimeInterval = RotationOptions.defaultLease) {
        self.emergency = emergency
        self.revokeFirst = revokeFirst
        self.parallel = max(1, parallel)
        self.lockWait = lockWait
        self.lease = lease
    }
}
