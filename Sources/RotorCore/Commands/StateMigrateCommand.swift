import Foundation

/// `rotor state migrate --from URL --to URL`: copies every key state, run with its journal,
/// and the audit log from one store to another (SQLite → PostgreSQL when a team outgrows
/// one machine, and back), then reads both and compares them. The destination must be
/// empty, and no run may be in progress: a half-copied or live state would be worse than none.
public enum StateMigrateCommand {
    public struct Summary: Equatable, Sendable {
        public var keys = 0, runs = 0, journalEntries = 0, auditEntries = 0
    }

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    public static func run(from: String, to: String, global: GlobalOptions, console: Console) -> ExitStatus {
        do {
            guard let source = try StateStoreURL.open(from, workingDirectory: global.workingDirectory, createIfMissing: false)?.store else {
                console.err("error: --from \(StateStoreURL.redacted(from)): no rotor state there; nothing to migrate")
                return .failure
            }
            guard let destination = try StateStoreURL.open(to, workingDirectory: global.workingDirectory)?.store else { return .failure }
            let summary = try migrate(from: source, to: destination)
            console.out("migrated and verified: \(summary.keys) keys, \(summary.runs) runs, \(summary.journalEntries) journal entries, "
                        + "\(summary.auditEntries) audit entries (hash chain intact) from \(StateStoreURL.redacted(from)) to \(StateStoreURL.redacted(to))")
            return .success
        } catch {
            console.err("error: \(error)")
            return .failure
        }
    }

    /// Copies, then verifies by reading both stores back.
    public static func migrate(from source: any StateStore, to destination: any StateStore) throws -> Summary {
        guard try destination.keyStates().isEmpty, try destination.runs().isEmpty, try destination.auditLog().isEmpty else {
            throw Refusal(description: "the destination already holds rotor state; migrate only into an empty store")
        }
        let runs = try source.runs()
        if let live = runs.first(where: { $0.finished == nil }) {
            throw Refusal(description: "run \(live.id) of '\(live.key)' is not finished; run 'rotor recover' first, then migrate")
        }
        var summary = Summary()
        for (key, state) in try source.keyStates().sorted(by: { $0.key < $1.key }) {
            try destination.saveKeyState(state, for: key)
            summary.keys += 1
        }
        for run in runs {
            try destination.createRun(run)
            for entry in try source.journal(of: run.id) {
                try destination.append(entry, to: run.id)
                summary.journalEntries += 1
            }
            summary.runs += 1
        }
        // Appending in order recomputes the same chain: every hash covers only the entry's
        // fields, its sequence and the previous hash, all copied.
        for entry in try source.auditLog() {
            try destination.appendAudit(entry)
            summary.auditEntries += 1
        }
        try verify(source, destination)
        return summary
    }

    static func verify(_ source: any StateStore, _ destination: any StateStore) throws {
        func mismatch(_ what: String) -> Refusal {
            Refusal(description: "verification failed: \(what) differ after copying; the destination is incomplete — drop it and migrate again")
        }
        guard try source.keyStates() == destination.keyStates() else { throw mismatch("key states") }
        guard try source.runs() == destination.runs() else { throw mismatch("runs") }
        for run in try source.runs() where try source.journal(of: run.id) != destination.journal(of: run.id) {
            throw mismatch("the journal of run \(run.id)")
        }
        let audit = try destination.auditLog()
        guard try source.auditLog() == audit else { throw mismatch("audit entries") }
        if let problem = AuditEntry.verify(audit) { throw mismatch("audit hash chains (\(problem))") }
    }
}
