import CPosix
import Foundation

/// The account a consumer's files are read and written as (`user: NAME`), when rotor runs
/// as root and the target's folder belongs to that account: its links can then reach only
/// what that account could, never root's files.
///
/// File access changes on the calling thread only (setfsuid/setfsgid and the account's
/// own groups), around synchronous work: `perform` must not span a suspension point, or
/// the work could continue on another thread.
struct FileIdentity: Sendable, Hashable {
    let name: String
    let uid: uid_t
    let gid: gid_t
    /// Its primary and supplementary groups (getgrouplist).
    private(set) var groups: [gid_t]

    /// The account `name`, or nil when it does not exist.
    init?(named name: String) {
        guard let entry = getpwnam(name) else { return nil }
        self.name = name
        uid = entry.pointee.pw_uid
        gid = entry.pointee.pw_gid
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &list, &count) < 0 {
            list = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, gid, &list, &count)
        }
        groups = Array(list.prefix(Int(max(count, 0))))
    }

    /// rotor's own account when it does not run as root (nil as root, who may give a file
    /// any owner): a target whose owner or group it cannot keep is refused at preflight,
    /// not at the write (found by an attacker in #18).
    /// The process's own groups count (what the kernel checks), not /etc/group's, and a uid
    /// with no account (usual in containers) is one too.
    static let unprivileged: FileIdentity? = geteuid() == 0 ? nil : FileIdentity(process: ())

    private init(process: Void) {
        uid = geteuid()
        gid = getegid()
        name = getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(uid)"
        let count = getgroups(0, nil)
        var list = [gid_t](repeating: 0, count: Int(max(count, 0)))
        let read = count > 0 ? getgroups(count, &list) : 0
        groups = Array(Set(list.prefix(Int(max(read, 0))) + [gid]))
    }

    /// Why a file with this owner and group could not keep them when replaced as this
    /// account (only root may give a file away), or nil.
    func cannotKeep(owner: uid_t, group: gid_t) -> String? {
        if owner != uid {
            return "it belongs to \(getpwuid(owner).map { String(cString: $0.pointee.pw_name) } ?? "uid \(owner)"), and as user \(name) rotor cannot give the new file that owner: make \(name) its owner"
        }
        if !groups.contains(group) {
            return "its group is \(getgrgid(group).map { String(cString: $0.pointee.gr_name) } ?? "\(group)"), which user \(name) is not in, so the new file could not keep it"
        }
        return nil
    }

    /// Runs `body` with this thread's file access as the account.
    func perform<T>(_ body: () throws -> T) throws -> T {
        guard rotor_fs_as(uid, gid, groups, Int32(groups.count)) == 0 else {
            throw TargetEditError("cannot act as user \(name) (\(String(cString: strerror(errno)))): rotor must run as root to use 'user:'")
        }
        defer { rotor_fs_as_self() }
        return try body()
    }
}

extension Optional where Wrapped == FileIdentity {
    /// `body` as the identity, or as rotor itself when there is none.
    func perform<T>(_ body: () throws -> T) throws -> T {
        guard let identity = self else { return try body() }
        return try identity.perform(body)
    }
}

/// logrotate's rule: as root, a target whose folder someone other than root can write is
/// refused — that someone could swap the target for a link to any file.
enum FolderOwnership {
    /// Why rotor, as root, will not touch the file at `path` (which led to `resolved` when
    /// the run began) for `consumer`: a folder anywhere on the way to it that another
    /// account can change, unless the consumer names `user:`; or a `user:` that does not
    /// exist. nil when fine.
    static func refusal(path: String, resolved: String? = nil, consumer: ConsumerSpec) -> String? {
        if let user = consumer.user {
            return FileIdentity(named: user.value) == nil ? "consumer '\(consumer.name.value)' names user '\(user.value)', which does not exist" : nil
        }
        guard geteuid() == 0 else { return nil }
        var files = [path]
        // The file the links lead to, when there are any (most paths have none: no realpath).
        if let resolved, resolved != path { files.append(resolved) } else if resolved == nil, hasLink(onPathTo: path) { files.append(AtomicFile.canonical(path)) }
        // Every link met on the way, too: whoever can write a link's folder can re-point it
        // (a root link to a link in the app user's folder reached any file).
        if files.count > 1 { files += linksOnTheWay(to: path) }
        for file in files {
            guard let (folder, writer) = otherWriter(onPathTo: file) else { continue }
            let owner = writer.hasPrefix("group ") || writer == "anyone" ? "NAME" : writer
            return "its folder \(folder) can be written by \(writer), not only root, who could swap the target (or a folder above it) for any file; "
                + "as root rotor refuses it (as logrotate does): set 'user: \(owner)' on consumer '\(consumer.name.value)' to read and write its files as that user, or run rotor as that user"
        }
        return nil
    }

    /// The first folder on the way to `file` (from its own folder up to `/`) that an account
    /// other than root can change — rename or replace what it holds — and who; nil when
    /// none. A sticky folder of root's (`/tmp`) counts only when the entry below it on the
    /// path is not root's (its owner could still rename it).
    static func otherWriter(onPathTo file: String) -> (folder: String, writer: String)? {
        let folder = PathNormalizer.parent(of: file)
        if let fact = facts.fact(folder), fact.isDirectory, let writer = writer(of: fact, childOwnedByRoot: { ownedByRoot(file) }) {
            return (folder, writer)
        }
        guard folder != "/", !folder.isEmpty, PathNormalizer.parent(of: folder) != folder else { return nil }
        return facts.writerAbove(folder)
    }

    /// The first folder above `folder` (its parent, up to `/`) that another account can
    /// change, and who; each folder's answer found once per process, as `FolderFacts` is.
    fileprivate static func firstWriter(above folder: String) -> (folder: String, writer: String)? {
        let parent = PathNormalizer.parent(of: folder)
        if let fact = facts.fact(parent), fact.isDirectory, let writer = writer(of: fact, childOwnedByRoot: { facts.fact(folder)?.uid == 0 }) {
            return (parent, writer)
        }
        guard parent != "/", !parent.isEmpty, PathNormalizer.parent(of: parent) != parent else { return nil }
        return facts.writerAbove(parent)
    }

    /// Whether the entry at `path` (not followed) is root's; a file is asked once, so not kept.
    private static func ownedByRoot(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_uid == 0
    }

    /// Every symbolic link met while resolving `path` as the system does (at most 40), each
    /// as the absolute path of the link itself.
    static func linksOnTheWay(to path: String) -> [String] {
        var links: [String] = []
        var pending = path.split(separator: "/").map(String.init)
        var current = ""
        while !pending.isEmpty, links.count <= 40 {
            let part = pending.removeFirst()
            if part.isEmpty || part == "." { continue }
            if part == ".." { current = PathNormalizer.parent(of: current.isEmpty ? "/" : current); if current == "/" { current = "" }; continue }
            let candidate = current + "/" + part
            guard facts.fact(candidate)?.isLink == true, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: candidate) else {
                current = candidate
                continue
            }
            links.append(candidate)
            if target.hasPrefix("/") { current = "" }
            pending = target.split(separator: "/").map(String.init) + pending
        }
        return links
    }

    /// Whether the file or a folder on its way is a symlink.
    private static func hasLink(onPathTo file: String) -> Bool {
        var info = stat()
        if lstat(file, &info) == 0, info.st_mode & S_IFMT == S_IFLNK { return true }
        let folder = PathNormalizer.parent(of: file)
        guard folder != file, !folder.isEmpty else { return false }
        return facts.hasLink(folder)
    }

    /// `hasLink` of a folder, found once per process (the folders' answers are kept).
    fileprivate static func folderHasLink(_ folder: String) -> Bool {
        if facts.fact(folder)?.isLink == true { return true }
        let parent = PathNormalizer.parent(of: folder)
        guard parent != folder, !parent.isEmpty else { return false }
        return facts.hasLink(parent)
    }

    /// Who besides root can change the folder at `path` (no link), or nil. A sticky folder
    /// of root's (`/tmp`) protects only entries of root's: `entryOwnedByRoot` says whether
    /// the one that matters is.
    static func otherWriter(ofFolder path: String, entryOwnedByRoot: Bool) -> String? {
        guard let fact = facts.fact(path), fact.isDirectory else { return nil }
        return writer(of: fact, childOwnedByRoot: { entryOwnedByRoot })
    }

    /// Who besides root can change the folder `fact` describes, or nil.
    private static func writer(of fact: FolderFacts.Fact, childOwnedByRoot: () -> Bool) -> String? {
        if fact.uid != 0 { return getpwuid(fact.uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(fact.uid)" }
        if fact.mode & S_ISVTX != 0, childOwnedByRoot() { return nil }
        if fact.mode & 0o002 != 0 { return "anyone" }
        if fact.mode & 0o020 != 0, fact.gid != 0 { return "group " + (getgrgid(fact.gid).map { String(cString: $0.pointee.gr_name) } ?? "\(fact.gid)") }
        return nil
    }

    private static let facts = FolderFacts()
}

/// `lstat` of the folders on targets' paths, each asked once per process, and the answers
/// built on them (a link on the way, the first folder another account can change): `plan`
/// checks 100,000 targets whose paths share most of their folders, and walking each path
/// up to `/` through one shared table cost it a third of its time.
private final class FolderFacts: @unchecked Sendable {
    struct Fact {
        var isDirectory: Bool
        var isLink: Bool
        var uid: uid_t
        var gid: gid_t
        var mode: mode_t
    }

    private let lock = NSLock()
    private var known: [String: Fact?] = [:]
    private var linkOnTheWay: [String: Bool] = [:]
    private var writersAbove: [String: (folder: String, writer: String)?] = [:]

    func fact(_ path: String) -> Fact? {
        if let cached = lock.withLock({ known[path] }) { return cached }
        var info = stat()
        let fact = lstat(path, &info) == 0
            ? Fact(isDirectory: info.st_mode & S_IFMT == S_IFDIR, isLink: info.st_mode & S_IFMT == S_IFLNK, uid: info.st_uid, gid: info.st_gid, mode: info.st_mode)
            : nil
        lock.withLock { known[path] = .some(fact) }
        return fact
    }

    /// Whether the folder or one above it is a symlink.
    func hasLink(_ folder: String) -> Bool {
        if let cached = lock.withLock({ linkOnTheWay[folder] }) { return cached }
        let answer = FolderOwnership.folderHasLink(folder)
        lock.withLock { linkOnTheWay[folder] = answer }
        return answer
    }

    /// `FolderOwnership.firstWriter(above:)`, kept.
    func writerAbove(_ folder: String) -> (folder: String, writer: String)? {
        if let cached = lock.withLock({ writersAbove[folder] }) { return cached }
        let answer = FolderOwnership.firstWriter(above: folder)
        lock.withLock { writersAbove[folder] = .some(answer) }
        return answer
    }
}
