import CPosix
import Foundation

/// One step of moving a consumer to a new generation: all of its targets that live in one
/// file (read once, every value replaced, one atomic rename), or one exec target.
///
/// A consumer whose file holds `{id}` and `{secret}` (an access key id and its secret, a
/// database user and its password) therefore never shows a reader a new id beside an old
/// secret, and a crash leaves either pair, never a mix.
///
/// **Ordering rule between a consumer's files** (`inSwitchOrder`): edits whose values name
/// `{id}` come after every edit whose values do not. A reader that pairs an id from one
/// file with a secret from another can see an old id beside a new secret while the id's
/// file is not written yet, never a new id beside an old secret; a rollback undoes the
/// edits in reverse order, so it keeps the same property.
struct ConsumerEdit: Sendable {
    /// In configuration order; never empty.
    let operations: [TargetOperation]

    /// The file every operation writes, or nil for an exec target.
    var path: String? { operations[0].spec.filePath }

    /// Whether any of its values names the generation's `{id}`.
    var namesID: Bool { operations.contains { $0.spec.value.placeholders.contains(.id) } }

    /// A consumer's operations as edits in the order they are written: one per file (in the
    /// order the file first appears), one per exec target, then the ordering rule.
    static func inSwitchOrder(_ operations: [TargetOperation]) -> [ConsumerEdit] {
        // Two names of one file (a symlink, `a/../b`) are one file: one edit.
        let edits = grouped(operations) { $0.spec.filePath.map(AtomicFile.canonical) }
        let all = edits.map(ConsumerEdit.init)
        return all.filter { !$0.namesID } + all.filter(\.namesID)
    }

    /// `items` in order, those with the same key together (where the first of them stands),
    /// those without a key each alone: the edits a consumer makes, and the writes a
    /// rollback undoes (one edit's targets share a backup).
    static func grouped<Item>(_ items: some Sequence<Item>, by key: (Item) -> String?) -> [[Item]] {
        var groups: [[Item]] = []
        var groupOfKey: [String: Int] = [:]
        for item in items {
            guard let key = key(item) else {
                groups.append([item])
                continue
            }
            if let index = groupOfKey[key] {
                groups[index].append(item)
            } else {
                groupOfKey[key] = groups.count
                groups.append([item])
            }
        }
        return groups
    }

    /// Saves what the file (or the exec target) holds now; false when no backup is possible.
    func backup(to backupPath: String) async throws -> Bool {
        try await operations[0].backup(to: backupPath)
    }

    /// Writes each operation's value: a file in one edit, an exec target through its command
    /// (whose templates get `context`: the generation's `{id}`, `{name}`…).
    func write(_ values: [String], context: [Placeholder: String]) async throws {
        guard operations[0].spec.fileFormat != nil, let path = try operations[0].unchangedPath() else {
            try await operations[0].runWrite(value: values[0], context: context)
            return
        }
        var bytes: [UInt8]
        switch operations[0].readFile(path, resolved: true) {
        case .success(let read): bytes = read
        case .failure(let problem): throw TargetEditError("\(operations[0].label): \(problem.reason)")
        }
        for (operation, value) in zip(operations, values) {
            bytes = try operation.replace(in: bytes, with: value)
        }
        try operations[0].writeFile(bytes, to: path)
    }
}

/// Serializes edits to one file: across every consumer of a run and every key of one rotor
/// process (a queue per file), and across rotor processes (an exclusive `flock` on the
/// file itself, held from reading it to reading back what was written). Each edit reads
/// the file as the previous one left it, so writers that share a file never undo each
/// other, and each read-back checks what its own edit wrote.
actor FileEditQueue {
    private var busy: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Runs `body` while no other edit of `path` (or of the file it links to) runs.
    func serialize<T: Sendable>(_ path: String?, _ body: @Sendable () async throws -> T) async throws -> T {
        guard let path else { return try await body() }
        let file = AtomicFile.canonical(path)  // two names of one file queue together
        await acquire(file)
        defer { release(file) }
        let held = try FileLock.exclusive(file)
        defer { held?.release() }
        return try await body()
    }

    private func acquire(_ file: String) async {
        guard busy.contains(file) else {
            busy.insert(file)
            return
        }
        await withCheckedContinuation { waiting[file, default: []].append($0) }
    }

    private func release(_ file: String) {
        guard var queue = waiting[file], !queue.isEmpty else {
            busy.remove(file)
            return
        }
        let next = queue.removeFirst()
        waiting[file] = queue.isEmpty ? nil : queue
        next.resume()  // the file stays busy: it passes to the next edit
    }
}

/// An exclusive `flock` on the file a path names now. An edit replaces the file (a new
/// inode renamed over the path), so a lock won on an inode the path no longer names is
/// let go and taken again on the new one. nil when the file does not exist (nothing to
/// queue on: an edit creates it). Another rotor holds it for one edit (milliseconds); a
/// holder that keeps it longer than `patience` is named in an error instead of waited for.
struct FileLock {
    private let descriptor: Int32
    static let patience: TimeInterval = 10

    static func exclusive(_ path: String) throws(TargetEditError) -> FileLock? {
        let deadline = Monotonic.now() + patience
        while true {
            // The canonical path: no symlink on it, so none is followed to open it.
            let descriptor = rotor_open_no_symlinks(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0)
            guard descriptor >= 0 else { return nil }
            while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
                guard errno == EWOULDBLOCK || errno == EINTR, Monotonic.now() < deadline else {
                    close(descriptor)
                    throw TargetEditError("\(path): another process has held a lock on it (flock) for \(Int(patience)) s; rotor edits it only when no other writer holds it — find the holder with 'fuser \(path)'")
                }
                usleep(20_000)
            }
            var locked = stat(), named = stat()
            if fstat(descriptor, &locked) == 0, stat(path, &named) == 0, locked.st_ino == named.st_ino, locked.st_dev == named.st_dev {
                return FileLock(descriptor: descriptor)
            }
            close(descriptor)  // replaced while waiting: queue on the file it is now
        }
    }

    /// Closing the descriptor lets the lock go.
    func release() { close(descriptor) }
}
