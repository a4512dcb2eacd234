import Foundation

/// One copy found: where, of which generation of which key, and what holds it in the file.
struct FoundCopy: Sendable {
    var path: String
    var file: FileID
    var line: Int
    var needle: Int
    var holder: CopyHolder?
}

/// What a scan looked at and left out.
public struct ScanTally: Sendable, Codable, Equatable {
    public var files = 0
    public var bytes = 0
    /// Every reason (`TreeWalk.Skip`), 0 included.
    public var skipped: [String: Int] = [:]
    /// Files and folders that could not be read (a copy there would not be found), first few.
    public var unreadable: [String] = []
    public var unreadableCount = 0
    /// Copies counted beyond the first `CopyFinder.maxMatches` of a file, not listed.
    public var omitted = 0
    /// A signal stopped the scan: what it says is incomplete.
    public var interrupted = false

    enum CodingKeys: String, CodingKey {
        case files, bytes, skipped, unreadable, omitted, interrupted
        case unreadableCount = "unreadable_count"
    }
}

/// Looks through trees for the needles: one thread walks the folders and opens each file,
/// the others (one per core) read and search them, each through its own `CopyFinder`.
final class CopyScan: @unchecked Sendable {
    let needles: ScanNeedles
    let walk: TreeWalk
    /// The kinds the targets declare for each file that is a target (of any key): what
    /// holds a copy there is read as that kind, whatever the file's name.
    let declaredKinds: [FileID: [TargetSpec.Kind]]
    /// Called about twice a second from the walking thread (files and bytes so far).
    let progress: ((ScanTally) -> Void)?

    private let lock = NSCondition()
    private var queue: [TreeWalk.OpenFile] = []
    private var walkFinished = false
    private var found: [FoundCopy] = []
    private var tally = ScanTally(skipped: Dictionary(uniqueKeysWithValues: TreeWalk.Skip.allCases.map { ($0.rawValue, 0) }))
    private static let queueLimit = 256
    static let unreadableListed = 20

    init(needles: ScanNeedles, skipping: Set<FileID>, declaredKinds: [FileID: [TargetSpec.Kind]] = [:], progress: ((ScanTally) -> Void)? = nil) {
        self.needles = needles
        self.declaredKinds = declaredKinds
        walk = TreeWalk(skipping: skipping)
        self.progress = progress
    }

    /// Every copy under `roots`, in path and line order (a root that cannot be read is in
    /// the tally's `unreadable`).
    func run(_ roots: [String]) -> (copies: [FoundCopy], tally: ScanTally) {
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let done = DispatchGroup()
        for _ in 0..<workers {
            done.enter()
            let thread = Thread { [self] in
                searchFiles()
                done.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        var lastProgress = Date()
        for root in roots {
            walk.walk(root, stop: { Interruption.shared.requested }, found: { file in
                enqueue(file)
                if let progress, Date().timeIntervalSince(lastProgress) > 0.5 {
                    lastProgress = Date()
                    progress(lock.withLock { tally })
                }
            }, skipped: { reason, path, problem in
                lock.withLock { record(reason, path: path, problem: problem) }
            })
        }
        lock.withLock {
            walkFinished = true
            lock.broadcast()
        }
        done.wait()
        if Interruption.shared.requested { tally.interrupted = true }
        let copies = found.sorted { ($0.path, $0.line, $0.needle) < ($1.path, $1.line, $1.needle) }
        return (copies, tally)
    }

    private func record(_ reason: TreeWalk.Skip, path: String, problem: String?) {
        tally.skipped[reason.rawValue, default: 0] += 1
        guard reason == .unreadable else { return }
        tally.unreadableCount += 1
        if tally.unreadable.count < Self.unreadableListed {
            tally.unreadable.append(ControlCharacters.escapeLine(path) + (problem.map { ": " + $0 } ?? ""))
        }
    }

    private func enqueue(_ file: TreeWalk.OpenFile) {
        lock.lock()
        while queue.count >= Self.queueLimit { lock.wait() }
        queue.append(file)
        lock.signal()
        lock.unlock()
    }

    private func next() -> TreeWalk.OpenFile? {
        lock.lock()
        defer { lock.unlock() }
        while queue.isEmpty, !walkFinished { lock.wait() }
        guard !queue.isEmpty else { return nil }
        let file = queue.removeLast()
        lock.broadcast()  // room for the walker
        return file
    }

    private func searchFiles() {
        let finder = CopyFinder(needles)
        while let file = next() {
            defer { close(file.descriptor) }
            switch finder.scan(file.descriptor) {
            case .binary:
                lock.withLock { record(.binary, path: file.path, problem: nil) }
            case .unreadable(let problem):
                lock.withLock { record(.unreadable, path: file.path, problem: problem) }
            case .interrupted:
                lock.withLock { tally.interrupted = true }
            case .matches(let matches, let bytes, let omitted):
                // What holds each copy is read from the same open file: the path is not
                // looked up again (it may name another file by now).
                let holders = matches.isEmpty ? [:] : CopyHolder.find(matches, in: file.descriptor, path: file.path,
                                                                      declaredKinds: declaredKinds[file.id] ?? [])
                let copies = matches.map { FoundCopy(path: file.path, file: file.id, line: $0.line, needle: $0.needle, holder: holders[$0]) }
                lock.withLock {
                    tally.files += 1
                    tally.bytes += bytes
                    tally.omitted += omitted
                    found += copies
                }
            }
        }
    }
}

/// A scan without a configuration: these needles, these trees (the benchmark's driver).
public enum PlainScan {
    /// Each copy's path, 1-based line and needle index, in path and line order.
    public static func copies(of needles: [ScanNeedle], in roots: [String]) throws -> [(path: String, line: Int, needle: Int)] {
        CopyScan(needles: ScanNeedles(needles), skipping: []).run(roots).copies.map { ($0.path, $0.line, $0.needle) }
    }
}
