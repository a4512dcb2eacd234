import Foundation

/// Everything `rotor report` shows, gathered once from the configuration, the targets and
/// the state store: each key's age against its policy, its consumers and what every
/// target holds, the recent runs with their steps, and the audit chain's verification.
/// Holds ids, fingerprints, names and times — never a secret.
public struct FleetReport: Sendable {
    public struct Source: Sendable {
        public var state = ""
        public var stateExists = false
        public var configurationFiles: [String] = []
        public var host = ""
    }

    public struct Key: Sendable {
        public var status: StatusCommand.KeyStatus
        /// The provider's name and type (`console (manual)`).
        public var provider: String
        public var every: RotorDuration?
        public var grace: RotorDuration
        public var window: String?
        /// The key's newest run, if it has one.
        public var lastRun: RunRecord?
    }

    public struct Run: Sendable {
        public var record: RunRecord
        public var steps: [JournalEntry]
    }

    /// What `history --verify` would say, and the chain's head (`sequence:hash`).
    public struct Audit: Sendable {
        /// nil when the log cannot be read as entries (a damaged row).
        public var entries: Int?
        /// nil when the chain verifies.
        public var problem: String?
        public var head: String?
        /// Break-glass (emergency) entries, newest first.
        public var breakGlass: [AuditEntry]
    }

    public var generatedAt: Date
    /// Where the page's facts come from — the store (its URL, a password masked; whether
    /// it exists), the configuration files, this host — so that a page made from the wrong
    /// folder or a mistyped `--state` says so.
    public var source = Source()
    public var keys: [Key]
    /// The newest runs first.
    public var runs: [Run]
    /// How many runs the store holds in all (`runs` is the newest of them).
    public var runCount: Int
    /// Runs with no outcome: interrupted (or still going), for `rotor recover`.
    public var unfinishedRunCount = 0
    public var audit: Audit
    public var warnings: [String]

    public var overdueCount: Int { keys.filter(\.status.overdue).count }
    public var driftedCount: Int { keys.reduce(0) { $0 + $1.status.targets.filter { $0.state != .inSync }.count } }
    public var pendingDeletionCount: Int { keys.filter { $0.status.pendingDeletion != nil }.count }
}

extension FleetReport {
    /// Reads the state store once: key states, runs (the newest `runLimit` with their
    /// journals) and the whole audit log, verified. A store that does not exist yet is an
    /// empty history, not an error; a store that cannot be read is thrown.
    static func gather(configuration: Configuration, store: (any StateStore)?, runLimit: Int, now: Date,
                       displayPath: @escaping (String) -> String) async throws -> FleetReport {
        let states = try store?.keyStates() ?? [:]
        let allRuns = try store?.runs() ?? []
        var newestRun: [String: RunRecord] = [:]
        for run in allRuns where (newestRun[run.key]?.started ?? .distantPast) <= run.started { newestRun[run.key] = run }
        let recent = allRuns.sorted { ($0.started, $0.id) > ($1.started, $1.id) }.prefix(runLimit)
        let runs = try recent.map { Run(record: $0, steps: try store?.journal(of: $0.id) ?? []) }

        let observations = PlanCommand.observe(configuration, keys: [])
        let consumersByKey = configuration.consumersByKey()
        let keys = await configuration.keys.asyncMap { policy in
            let name = policy.name.value
            let status = await StatusCommand.status(of: policy, consumers: consumersByKey[name] ?? [], configuration: configuration,
                                                    state: states[name] ?? KeyState(), now: now, observations: observations, displayPath: displayPath)
            let provider = configuration.provider(named: policy.provider.value)
            return Key(status: status, provider: policy.provider.value + (provider.map { " (\($0.typeName))" } ?? ""),
                       every: policy.every, grace: policy.grace, window: policy.window?.description, lastRun: newestRun[name])
        }
        var report = FleetReport(generatedAt: now, keys: keys, runs: Array(runs), runCount: allRuns.count,
                                 audit: try Self.audit(store, runs: allRuns, states: states), warnings: TargetExposure.warnings(configuration, keys: [], displayPath: displayPath))
        report.unfinishedRunCount = allRuns.filter { $0.outcome == nil }.count
        report.source.stateExists = store != nil
        report.source.configurationFiles = configuration.files
        report.source.host = ProcessInfo.processInfo.hostName
        return report
    }

    /// The audit log verified as `history --verify` does; damage is the page's finding, not
    /// a reason to write no page.
    private static func audit(_ store: (any StateStore)?, runs: [RunRecord], states: [String: KeyState]) throws -> Audit {
        let entries: [AuditEntry]
        do {
            entries = try store?.auditLog() ?? []
        } catch let damage as AuditLogDamaged {
            return Audit(entries: nil, problem: damage.description, head: nil, breakGlass: [])
        }
        let head = AuditEntry.head(of: entries)
        let problem = AuditEntry.verify(entries) ?? AuditEntry.crossCheck(entries, runs: runs, states: states)
        return Audit(entries: entries.count, problem: problem, head: head,
                     breakGlass: entries.filter(\.emergency).reversed())
    }
}
