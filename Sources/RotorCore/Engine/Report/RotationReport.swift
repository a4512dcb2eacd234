import Foundation

/// How a rotation (or a recovery, a rollback, a sync, a grace-period deletion) ended,
/// for people and for `--json`. Commands decide the exit code from `outcome`.
public struct RotationReport: Sendable, Encodable, Equatable {
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
    /// The consumer updated first and alone (nil: no consumer was updated).
    public var canary: String? = nil
    /// Every consumer the run was to update, in order: those it never touched (after a
    /// failing canary) are still accounted for in an emergency's report. Not JSON.
    public var plannedConsumers: [String] = []
    /// What a person still has to do (outcome needs-person).
    public var left: [PendingAction]
    /// Set when a scheduled rotation found the key no longer due once it held the lock
    /// (another run rotated it meanwhile): nothing was attempted. Not part of the JSON.
    public var notDue: String? = nil
    /// Whether each generation the run deleted was proven dead (`confirm-revoked`): the old
    /// one, and one retired from an earlier run.
    public var revocations: [Revocation] = []
    /// An emergency rotation with `scan:` paths (or `--scan`): every copy of the leaked
    /// generation left in them once the run ended (nil: nothing was scanned).
    public var leakedCopies: [LeakedCopy]? = nil
    /// What that scan could not read (a copy there would be missing from `leakedCopies`).
    public var leakedCopiesUnread: [String] = []
    /// The shapes (`ValueShape.recorded`) of the new and old generations, for the audit log
    /// (`rotor scan` looks for an earlier generation with its own). Not part of the JSON.
    public var newShape: String? = nil
    public var oldShape: String? = nil
    /// What the targets held when the run began that is not the old generation rotor
    /// recorded (a key never adopted, a drifted target): fingerprint and shape of each, for
    /// the audit log, so that `rotor scan` finds copies of values rotor replaced. Not JSON.
    public var replacedValues: [ReplacedValue] = []

    public struct ReplacedValue: Sendable, Equatable {
        public var fingerprint: String
        public var shape: String
    }

    /// Where a copy of a leaked generation still is.
    public struct LeakedCopy: Sendable, Encodable, Equatable {
        public var path: String
        public var line: Int
        public var declared: Bool
    }

    enum CodingKeys: String, CodingKey {
        case key, outcome, emergency, message, steps, left, revocations, consumers, canary
        case leakedCopies = "leaked_copies"
        case leakedCopiesUnread = "leaked_copies_unread"
        case runID = "run"
        case newGeneration = "new_generation"
        case oldGeneration = "old_generation"
    }

    private struct ConsumerOutcome: Encodable {
        var consumer: String
        var state: String
        var detail: String?
    }

    /// Every report carries its revocation evidence (`revocations`, one per generation it
    /// deleted); an emergency's also says how each consumer ended (`consumers`). Keys
    /// come out sorted, as in all of rotor's JSON: the evidence is a top-level member of
    /// the key, not buried in its steps.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encodeIfPresent(runID, forKey: .runID)
        try container.encode(emergency, forKey: .emergency)
        try container.encode(revocations, forKey: .revocations)
        if emergency {
            try container.encode(consumerOutcomes.map { ConsumerOutcome(consumer: $0.consumer, state: $0.state.rawValue, detail: $0.detail) },
                                 forKey: .consumers)
            // null: not looked for (no scan paths), so a script cannot take it for "none".
            if let leakedCopies { try container.encode(leakedCopies, forKey: .leakedCopies) } else { try container.encodeNil(forKey: .leakedCopies) }
            if !leakedCopiesUnread.isEmpty { try container.encode(leakedCopiesUnread, forKey: .leakedCopiesUnread) }
        }
        try container.encode(outcome, forKey: .outcome)
        try container.encode(message, forKey: .message)
        try container.encodeIfPresent(newGeneration, forKey: .newGeneration)
        try container.encodeIfPresent(oldGeneration, forKey: .oldGeneration)
        try container.encodeIfPresent(canary, forKey: .canary)
        try container.encode(steps, forKey: .steps)
        try container.encode(left, forKey: .left)
    }

    /// A report that has not ended yet: `failed` until something says otherwise.
    public init(key: String, runID: String? = nil, outcome: RunOutcome = .failed, emergency: Bool = false, message: String = "",
                newGeneration: GenerationRecord? = nil, oldGeneration: GenerationRecord? = nil, steps: [PlanStep] = [], left: [PendingAction] = []) {
        self.key = key
        self.runID = runID
        self.outcome = outcome
        self.emergency = emergency
        self.message = message
        self.newGeneration = newGeneration
        self.oldGeneration = oldGeneration
        self.steps = steps
        self.left = left
    }

    /// How one consumer ended a run.
    public enum ConsumerState: String, Sendable {
        case switched, failed, unreachable
        case rolledBack = "rolled back"
        /// Never written: the update stopped before it (a failing canary, a signal).
        case untouched = "not touched"
    }

    /// How each consumer ended, derived from the steps: switched, failed (and why),
    /// unreachable (its health check could not reach it), rolled back, or not touched.
    public var consumerOutcomes: [(consumer: String, state: ConsumerState, detail: String?)] {
        var order: [String] = []
        var outcome: [String: (ConsumerState, String?)] = [:]
        for step in steps {
            guard let consumer = step.consumer else { continue }
            if outcome[consumer] == nil { order.append(consumer); outcome[consumer] = (.switched, nil) }
            switch step.status {
            case .failed?:
                outcome[consumer] = (step.unreachable ? .unreachable : .failed, step.detail)
            case .rolledBack? where outcome[consumer]?.0 == .switched:
                outcome[consumer] = (.rolledBack, nil)
            default: break
            }
        }
        for consumer in plannedConsumers where outcome[consumer] == nil {
            order.append(consumer)
            outcome[consumer] = (.untouched, nil)
        }
        return order.map { ($0, outcome[$0]!.0, outcome[$0]!.1) }
    }
}

/// Options of one rotation.
public struct RotationOptions: Sendable {
    public var emergency: Bool
    public var revokeFirst: Bool
    /// Consumers updated at once, once the canary (the first consumer, alone) is healthy.
    public var parallel: Int
    /// `--scan PATH` (absolute): looked through at preflight as the key's own `scan:` paths are.
    public var scanPaths: [String] = []
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

    /// `--parallel`'s default (SPEC, workflow step 3).
    public static let defaultParallel = 16

    public init(emergency: Bool = false, revokeFirst: Bool = false, parallel: Int = RotationOptions.defaultParallel, lockWait: TimeInterval = 5, lease: TimeInterval = RotationOptions.defaultLease) {
        self.emergency = emergency
        self.revokeFirst = revokeFirst
        self.parallel = max(1, parallel)
        self.lockWait = lockWait
        self.lease = lease
    }
}

extension RotationReport {
    /// The report with every value rotor knows masked in its sentences — the last pass
    /// before it is audited, sent to webhooks and printed, whatever path a message took.
    func redacted() -> RotationReport {
        var report = self
        report.message = Redactor.known(message)
        report.steps = steps.map { step in
            var step = step
            step.detail = Redactor.known(step.detail)
            return step
        }
        report.left = left.map { PendingAction($0.kind, Redactor.known($0.text)) }
        report.revocations = revocations.map { revocation in
            var revocation = revocation
            revocation.detail = Redactor.known(revocation.detail)
            return revocation
        }
        return report
    }
}
