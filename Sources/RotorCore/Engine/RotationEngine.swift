import Foundation

/// Runs the workflow for a key: preflight → create → verify-key → update (backup, write,
/// read back, reload, health) → verify → delete, with a write-ahead journal, rollback on
/// any failure in update or verify, and the old generation deleted only once every
/// consumer verified the new one.
///
/// The engine holds what every operation needs (configuration, store, clock, where
/// backups go, how progress is told); each rotation is a `RotationRun`, each other
/// operation (recovery, grace deletion, sync, rollback) an extension in its own file.
/// It returns reports; commands turn them into output and exit codes.
public final class RotationEngine: Sendable {
    let configuration: Configuration
    let store: any StateStore
    /// Backups live in `<backupsRoot>/<run>/`, mode 0700, files 0600.
    let backupsRoot: String
    let runner: CommandRunner
    /// Edits of one file happen one at a time, whichever consumer or key makes them.
    let fileEdits = FileEditQueue()
    let progress: @Sendable (String) -> Void
    /// Called after each target is written: (targets written so far, all targets, what was written).
    let targetProgress: @Sendable (Int, Int, String) -> Void
    let clock: @Sendable () -> Date
    let displayPath: @Sendable (String) -> String
    /// Runs this process's recovery left to another machine, by key: no other operation
    /// touches their keys, whether or not their lease row is still there.
    let leftElsewhere = RunsLeftElsewhere()
    /// How a person hands over secrets of `manual` keys, and confirms their deletions.
    let manualInput: ManualInput
    /// Makes the provider implementation for a definition; tests put a scripted one here.
    let makeProvider: @Sendable (ProviderSpec, CommandRunner, ManualInput) -> (any KeyProvider)?
    /// Pauses between looks for a generation whose create answer was lost (1 s and 2 s in
    /// production: a server that timed out may still be creating it).
    let lostCreatePauses: [TimeInterval]
    /// The longest recovery waits for a create a dead run sent to finish (15 min in
    /// production: bounded even when a journalled deadline says more).
    let lostCreateWaitLimit: TimeInterval

    public convenience init(configuration: Configuration, store: any StateStore, backupsRoot: String,
                progress: @escaping @Sendable (String) -> Void = { _ in },
                targetProgress: (@Sendable (Int, Int, String) -> Void)? = nil,
                clock: @escaping @Sendable () -> Date = { Date() },
                displayPath: @escaping @Sendable (String) -> String = { $0 },
                manualInput: ManualInput = ManualInput()) {
        self.init(configuration: configuration, store: store, backupsRoot: backupsRoot, progress: progress, targetProgress: targetProgress,
                  clock: clock, displayPath: displayPath, manualInput: manualInput,
                  makeProvider: { spec, runner, input in spec.makeProvider(runner: runner, manualInput: input) }, lostCreatePauses: [1, 2], lostCreateWaitLimit: 15 * 60)
    }

    init(configuration: Configuration, store: any StateStore, backupsRoot: String,
         progress: @escaping @Sendable (String) -> Void, targetProgress: (@Sendable (Int, Int, String) -> Void)?,
         clock: @escaping @Sendable () -> Date, displayPath: @escaping @Sendable (String) -> String, manualInput: ManualInput,
         makeProvider: @escaping @Sendable (ProviderSpec, CommandRunner, ManualInput) -> (any KeyProvider)?, lostCreatePauses: [TimeInterval],
         lostCreateWaitLimit: TimeInterval) {
        self.configuration = configuration
        self.store = store
        self.backupsRoot = backupsRoot
        self.runner = CommandRunner(withheldVariables: configuration.tokenVariables)
        // Progress lines quote providers and commands too: no value rotor knows gets out.
        self.progress = { line in progress(Redactor.known(line)) }
        self.targetProgress = { done, total, line in (targetProgress ?? { _, _, line in progress(line) })(done, total, Redactor.known(line)) }
        self.clock = clock
        self.displayPath = displayPath
        self.manualInput = manualInput
        self.makeProvider = makeProvider
        self.lostCreatePauses = lostCreatePauses
        self.lostCreateWaitLimit = lostCreateWaitLimit
    }


    // MARK: Rotate

    /// Rotates one key now (or, with `onlyIfDueAt`, only if it is still due once its lock
    /// is held). Never throws: every way it can end is a report.
    public func rotate(_ keyName: String, options: RotationOptions) async -> RotationReport {
        let runID = Self.makeRunID(clock())
        var report = RotationReport(key: keyName, runID: runID, emergency: options.emergency)
        let key: KeyPolicy, provider: ResolvedProvider
        do {
            (key, provider) = try resolve(keyName)
        } catch {
            report.runID = nil
            report.message = error.description
            return report
        }
        let started = report
        report = await exclusiveRun(of: keyName, runID: runID, action: .rotate, report: started, options: options,
                                    record: .starting(id: runID, key: keyName, at: clock(), emergency: options.emergency),
                                    skip: {
                                        guard let at = options.onlyIfDueAt, let reason = try self.noLongerDue(key, at: at) else { return nil }
                                        var skipped = started
                                        skipped.runID = nil
                                        skipped.notDue = reason
                                        skipped.message = "not due: \(reason) (another run rotated it meanwhile)"
                                        return skipped
                                    }) { journal in
            try await RotationRun(engine: self, key: key, provider: provider, journal: journal, options: options, report: started).execute()
        }
        guard report.notDue == nil else { return report }
        for failure in await Notifier().notify(report, key: key, auditHead: { AuditEntry.head(of: (try? self.store.auditLog()) ?? []) }) {
            progress("\(keyName): notification failed: \(failure) (the rotation is unaffected)")
        }
        return report
    }

    /// Why a scheduled rotation found the key no longer due once it held the lock, or nil.
    private func noLongerDue(_ key: KeyPolicy, at date: Date) throws -> String? {
        let state = try store.keyState(key.name.value) ?? KeyState()
        // The backoff was applied when the run planned; here only another run's rotation
        // matters (reading every run again for each due key would make `run` quadratic).
        let schedule = Schedule.evaluate(key, state: state, now: date, force: false, emergency: false)
        return schedule.due ? nil : schedule.reason
    }

    // MARK: Providers

    /// Why a key cannot be worked on at all: nothing was started.
    struct Unresolvable: Error, CustomStringConvertible {
        var description: String
    }

    /// The key's policy and its provider, ready to call.
    func resolve(_ keyName: String) throws(Unresolvable) -> (KeyPolicy, ResolvedProvider) {
        guard let key = configuration.key(named: keyName) else { throw Unresolvable(description: "unknown key '\(keyName)'") }
        guard let spec = configuration.provider(named: key.provider.value) else {
            throw Unresolvable(description: "key '\(keyName)' names provider '\(key.provider.value)', which is not configured")
        }
        guard let implementation = makeProvider(spec, runner, manualInput) else {
            throw Unresolvable(description: "provider '\(spec.name.value)' is of type \(spec.typeName), which this build cannot rotate yet; nothing was created or changed")
        }
        return (key, ResolvedProvider(spec: spec, implementation: implementation, key: keyName))
    }

    // MARK: Audit

    /// Writes a finished operation to the audit log (fingerprints and ids only).
    func audit(_ report: RotationReport, action: AuditAction) throws {
        var data: [String: String] = [:]
        if let new = report.newGeneration { data["new_id"] = new.id; data["new_fingerprint"] = new.fingerprint }
        if let old = report.oldGeneration { data["old_id"] = old.id; data["old_fingerprint"] = old.fingerprint }
        if report.newGeneration != nil, let shape = report.newShape { data["new_shape"] = shape }
        if report.oldGeneration != nil, let shape = report.oldShape { data["old_shape"] = shape }
        if !report.replacedValues.isEmpty {
            data["held_fingerprints"] = report.replacedValues.map(\.fingerprint).joined(separator: ",")
            data["held_shapes"] = report.replacedValues.map(\.shape).joined(separator: ",")
        }
        try store.appendAudit(AuditEntry(at: clock(), key: report.key, action: action.rawValue, outcome: report.outcome.rawValue,
                                         emergency: report.emergency, runID: report.runID, detail: report.message, data: data))
    }

    // MARK: Backups

    static func makeRunID(_ date: Date) -> String {
        var generator = SystemRandomNumberGenerator()
        return DateFormatting.compactTimestamp(date) + "-" + String(UInt32.random(in: 0x100000...0xFFFFFF, using: &generator), radix: 16)
    }

    func backupFolder(_ runID: String) -> String { backupsRoot + "/" + runID }

    /// A finished run keeps its backups while its old generation waits out the grace
    /// period (for `rotor rollback`); once that generation is gone they are removed.
    func removeBackupsOfFinishedRuns(of key: String) throws {
        // Most of the time there are none: then the runs are not read (every grace-0
        // rotation asks, and `store.runs()` grows with the history).
        let kept = Set((try? FileManager.default.contentsOfDirectory(atPath: backupsRoot)) ?? [])
        guard !kept.isEmpty else { return }
        for run in try store.runs() where run.key == key && run.finished != nil && kept.contains(run.id) {
            removeBackups(run.id)
        }
    }

    /// The secret of `generation` as a target of the key holds it now (a file's first, else
    /// an exec target's `read`), or nil: rotor stores no secret, the targets do.
    func secretInTargets(of generation: GenerationRecord, key: String) async -> Secret? {
        let candidates = configuration.consumers(of: key).flatMap { consumer in
            consumer.targets.indices.map { targetOperation(consumer, index: $0) }
        }.filter { $0.spec.value == .secretOnly }
        for operation in candidates.filter({ $0.spec.filePath != nil }) + candidates.filter({ $0.spec.filePath == nil }) {
            if let value = await operation.readBack(), Fingerprint.of(value) == generation.fingerprint { return Secret(value) }
        }
        return nil
    }

    /// The secret of `generation` as a finished run's backup still holds it (backups stay
    /// while an old generation waits out its grace period), for `confirm-revoked`; nil when
    /// none does. Only backups in the run's own folder, of targets configured as journalled.
    func secretInBackups(of generation: GenerationRecord, key: String) throws -> Secret? {
        let kept = Set((try? FileManager.default.contentsOfDirectory(atPath: backupsRoot)) ?? [])
        guard !kept.isEmpty else { return nil }
        for run in try store.runs() where run.key == key && kept.contains(run.id) {
            for write in RunHistory(try store.journal(of: run.id)).writes {
                guard let backup = write.backup, isBackup(backup, of: run.id), let operation = try? configuredOperation(for: write),
                      operation.spec.value == .secretOnly, let value = operation.value(inBackup: backup), Fingerprint.of(value) == generation.fingerprint
                else { continue }
                return Secret(value)
            }
        }
        return nil
    }

    /// Removes a run's backups. They hold old secrets, so a failure is told, not hidden.
    func removeBackups(_ runID: String) {
        guard !runID.isEmpty else { return }
        let folder = backupFolder(runID)
        guard FileManager.default.fileExists(atPath: folder) else { return }
        do {
            try FileManager.default.removeItem(atPath: folder)
        } catch {
            progress("warning: cannot remove the backups in \(folder) (\(error.localizedDescription)): they hold old secrets; remove them by hand")
        }
    }
}

/// What an audit entry says was done.
enum AuditAction: String, Sendable {
    case rotate, rollback, sync, recover, adopt, confirm
    case deletePending = "delete-pending"
    case breakGlass = "break-glass"
}
