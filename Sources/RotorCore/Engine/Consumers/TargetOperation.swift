import Foundation

/// Everything the engine does to one target: preflight, back up, write, read back and
/// restore. Backups that hold an old secret are files of mode 0600 in the run's backup
/// folder (mode 0700), removed when the run is finished.
struct TargetOperation: Sendable {
    let consumer: ConsumerSpec
    let index: Int
    let spec: TargetSpec
    let label: String
    let runner: CommandRunner
    /// The file the target's path led to when the run began (every symlink followed): the
    /// run writes and restores that file, and only while the path still leads to it.
    let resolvedPath: String?
    /// The account its file is read and written as (`user:` on the consumer), if any.
    let identity: FileIdentity?

    init(consumer: ConsumerSpec, index: Int, spec: TargetSpec, label: String, runner: CommandRunner) {
        self.consumer = consumer
        self.index = index
        self.spec = spec
        self.label = label
        self.runner = runner
        resolvedPath = spec.filePath.map(AtomicFile.canonical)
        identity = consumer.user.flatMap { FileIdentity(named: $0.value) }
    }

    /// The file's bytes, read as the consumer's `user:` when it names one. `resolved`: the
    /// path is the one resolved when the run began, and no symlink may be on it now.
    func readFile(_ path: String, resolved: Bool = false) -> Result<[UInt8], TargetReadProblem> {
        guard let identity else { return FileTargetReader.read(path, noSymlinks: resolved) }
        let read = (try? identity.perform { FileTargetReader.read(path, noSymlinks: resolved) }) ?? .failure(.unreadable("cannot act as user \(identity.name)"))
        if case .failure(.unreadable(let reason)) = read, reason == "permission denied" {
            return .failure(.unreadable("permission denied to user \(identity.name) (the consumer's user:) for \(resolvedPath ?? path)"))
        }
        return read
    }

    /// Replaces the file at its path resolved when the run began (`unchangedPath`), through
    /// a handle on its folder, as the consumer's `user:` when it names one.
    func writeFile(_ bytes: [UInt8], to path: String) throws(TargetEditError) {
        do {
            try identity.perform { try AtomicFile.write(bytes, toResolvedPath: path) }
        } catch let error as AtomicFile.WriteError {
            throw TargetEditError("\(label): \(error.reason)")
        } catch let error as TargetEditError {
            throw error
        } catch {
            throw TargetEditError("\(label): \(error)")
        }
    }

    /// Why rotor, as root, will not touch this file: see `FolderOwnership.refusal`.
    func ownershipProblem() -> String? {
        guard let path = spec.filePath else { return nil }
        return FolderOwnership.refusal(path: path, resolved: resolvedPath, consumer: consumer).map { "\(label): \($0)" }
    }

    var id: TargetID { TargetID(consumer: consumer.name.value, index: index) }

    /// The file to write: the one the path led to at the start, refused when the path now
    /// leads elsewhere (a symlink re-pointed meanwhile is never followed to a new place).
    func unchangedPath() throws(TargetEditError) -> String? {
        guard let path = spec.filePath, let resolvedPath else { return nil }
        let now = AtomicFile.canonical(path)
        guard now == resolvedPath else {
            throw TargetEditError("\(label): the path now leads to \(now), not to \(resolvedPath) as when the run began (changed since preflight): refused, not followed")
        }
        return resolvedPath
    }

    /// Why a file replaced as `writer` could not keep its owner and group, or nil.
    private func keepProblem(as writer: FileIdentity) -> String? {
        var info = stat()
        guard let resolvedPath, stat(resolvedPath, &info) == 0, let problem = writer.cannotKeep(owner: info.st_uid, group: info.st_gid) else { return nil }
        return "\(label): \(problem)"
    }

    /// Why the target cannot be written, or nil. Nothing is changed.
    func preflight() -> String? {
        if case .exec(let write, let read) = spec.kind {
            for command in [write, read].compactMap({ $0 }) where CommandRunner.locate(command.program, in: consumer.directory) == nil {
                return "\(label): command '\(command.program)' is not installed or not on PATH"
            }
            return nil
        }
        guard let path = spec.filePath, let format = spec.fileFormat else { return nil }
        if let problem = ownershipProblem() { return problem }
        if let identity, let problem = keepProblem(as: identity) { return problem }
        let bytes: [UInt8]
        switch readFile(path) {
        case .success(let read): bytes = read
        case .failure(let problem):
            return "\(label): \(problem.reason)" + (problem.reason == TargetObservation.fileMissingReason ? TargetObservation.createFileHint(spec) : "")
        }
        if let problem = TargetAccess.writeProblem(path) { return "\(label): \(problem)" }
        if identity == nil, let unprivileged = FileIdentity.unprivileged, let problem = keepProblem(as: unprivileged) { return problem }
        switch format.read(bytes) {
        case .success: break
        case .failure(.unreadable(let reason)): return "\(label): \(reason)"
        case .failure(let problem):
            if !spec.create { return "\(label): \(problem.reason) (set create: true on the target to add it)" }
        }
        if case .failure(let error) = format.replace(in: bytes, with: "rotor-preflight-sample", create: spec.create) {
            return "\(label): \(error.message)"
        }
        return nil
    }

    /// Why `value` cannot be written here (e.g. the env-file rule refuses it), or nil.
    func refusal(of value: String) -> String? {
        guard let path = spec.filePath, let format = spec.fileFormat, case .success(let bytes) = readFile(path) else { return nil }
        if case .failure(let error) = format.replace(in: bytes, with: value, create: spec.create) { return "\(label): \(error.message)" }
        return nil
    }

    /// Saves what the target holds now, so that it can be restored byte for byte.
    /// Returns false when no backup is possible (an exec target without `read`).
    func backup(to backupPath: String) async throws -> Bool {
        if let path = try unchangedPath() {
            guard case .success(let bytes) = readFile(path, resolved: true) else { throw TargetEditError("\(label): cannot read the file to back it up") }
            try writeBackup(bytes, to: backupPath)
            return true
        }
        guard case .exec(_, let read?) = spec.kind else { return false }
        guard let current = await readExec(read) else { throw TargetEditError("\(label): its read command failed, so it cannot be backed up") }
        try writeBackup(Array(current.utf8), to: backupPath)
        return true
    }

    /// The backup: mode 0600 in the run's 0700 folder, and — for a `user:` consumer — that
    /// user's file, as the target is (read as that user, owned by that user).
    private func writeBackup(_ bytes: [UInt8], to path: String) throws {
        do {
            try AtomicFile.write(bytes, to: path, newFileMode: 0o600)
        } catch {
            throw TargetEditError("cannot write the backup of \(label): \(error.reason)")
        }
        if let identity, chown(path, identity.uid, identity.gid) != 0 {
            throw TargetEditError("cannot give the backup of \(label) to user \(identity.name): \(AtomicFile.errnoText())")
        }
    }

    /// Hands `value` to an exec target's command (file targets are written by `ConsumerEdit`).
    func runWrite(value: String, context: [Placeholder: String]) async throws {
        guard case .exec(let command, _) = spec.kind else { return }
        try await runWrite(command, value: value, context: context)
    }

    /// `bytes` (the whole file) with this target's value replaced by `value`.
    func replace(in bytes: [UInt8], with value: String) throws(TargetEditError) -> [UInt8] {
        guard let format = spec.fileFormat else { return bytes }
        switch format.replace(in: bytes, with: value, create: spec.create) {
        case .failure(let error): throw TargetEditError("\(label): \(error.message)")
        case .success(let edited): return edited
        }
    }

    private func runWrite(_ command: CommandSpec, value: String, context: [Placeholder: String]) async throws {
        let values = context.merging([.secret: value]) { $1 }
        let result = await runner.run(command.argv.map { $0.render([:]) }, stdin: command.stdin.map { Data($0.render(values).utf8) },
                                      environment: command.environment.mapValues { $0.render(values) },
                                      directory: consumer.directory, timeout: command.timeout.timeInterval)
        guard result.succeeded else {
            throw TargetEditError("\(label): \(command.program) " + (result.timedOut ? "timed out after \(command.timeout)" : "exited \(result.status)")
                                  + (result.printed().map { ": \($0)" } ?? ""))
        }
    }

    /// What the target holds now, or nil when it cannot be read (an exec target without `read`).
    func readBack() async -> String? {
        if spec.filePath != nil, let format = spec.fileFormat {
            // The file the run began with, and only while its path still leads there.
            guard let path = try? unchangedPath(), case .success(let bytes) = readFile(path, resolved: true),
                  case .success(let value) = format.read(bytes) else { return nil }
            return value
        }
        guard case .exec(_, let read?) = spec.kind else { return nil }
        return await readExec(read)
    }

    var canReadBack: Bool {
        if case .exec(_, let read) = spec.kind { return read != nil }
        return true
    }

    private func readExec(_ read: CommandSpec) async -> String? {
        let result = await runner.run(read.argv.map { $0.render([:]) }, directory: consumer.directory, timeout: read.timeout.timeInterval)
        guard result.succeeded else { return nil }
        var text = String(decoding: result.stdout, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// The value this target held when `backupPath` was taken, or nil.
    func value(inBackup backupPath: String) -> String? {
        guard let data = FileManager.default.contents(atPath: backupPath) else { return nil }
        guard let format = spec.fileFormat else { return String(decoding: data, as: UTF8.self) }
        guard case .success(let value) = format.read([UInt8](data)) else { return nil }
        return value
    }

    /// Puts the old value back, through the exec target's command. (File targets are
    /// restored per file: `restore(_:from:)`.)
    func restore(from backupPath: String, context: [Placeholder: String] = [:]) async throws {
        guard spec.filePath == nil else { return try await Self.restore([self], from: backupPath) }
        guard let data = FileManager.default.contents(atPath: backupPath) else {
            throw TargetEditError("\(label): its backup \(backupPath) is missing")
        }
        try await runWrite(value: String(decoding: data, as: UTF8.self), context: context)
    }

    /// Puts back, in one edit of their one file, the value each of `operations` held when
    /// `backupPath` was taken. Only those values change: whatever else was written to the
    /// file meanwhile (another consumer's variable, a person's new line) stays. A value the
    /// run added (`create: true`) goes by restoring the whole backup, and only when nothing
    /// else in the file changed. A file that no longer parses is not written over: the
    /// backup is left to a person (the error names it).
    static func restore(_ operations: [TargetOperation], from backupPath: String) async throws {
        guard let first = operations.first, let path = try first.unchangedPath() else { return }
        let byHand = "its backup \(backupPath) is kept: restore it by hand"
        guard let data = FileManager.default.contents(atPath: backupPath) else {
            throw TargetEditError("\(first.label): its backup \(backupPath) is missing")
        }
        let backup = [UInt8](data)
        guard case .success(let current) = first.readFile(path, resolved: true) else {
            throw TargetEditError("\(first.label): the file cannot be read; \(byHand)")
        }
        // A write that failed left the file as it was (writes are atomic): nothing to undo.
        if current == backup { return }
        // Nobody else changed the file (it is the backup plus this run's values): the backup
        // goes back byte for byte, quoting and escapes as they were.
        if isBackupPlusTheseValues(operations, backup: backup, current: current) {
            try first.writeFile(backup, to: path)
            return
        }
        var edited = current
        for operation in operations {
            guard let format = operation.spec.fileFormat else { continue }
            guard case .success(let old) = format.read(backup) else {
                // The run added this value (`create: true`) and the file changed otherwise too
                // (else the backup went back whole above): a person decides.
                throw TargetEditError("\(operation.label): the run added this value and the file changed since, so rotor did not write over it; \(byHand)")
            }
            guard case .success(let now) = format.read(edited) else {
                throw TargetEditError("\(operation.label): the file no longer holds a readable value there, so rotor did not write over it; \(byHand)")
            }
            if now != old { edited = try operation.replace(in: edited, with: old) }
        }
        guard edited != current else { return }
        try first.writeFile(edited, to: path)
    }

    /// Whether `current` is `backup` with only these targets' values changed (to what they
    /// hold now): then nothing else was written to the file since the backup.
    private static func isBackupPlusTheseValues(_ operations: [TargetOperation], backup: [UInt8], current: [UInt8]) -> Bool {
        var expected = backup
        for operation in operations {
            guard let format = operation.spec.fileFormat, case .success(let now) = format.read(current),
                  case .success(let next) = format.replace(in: expected, with: now, create: true) else { return false }
            expected = next
        }
        return expected == current
    }
}
