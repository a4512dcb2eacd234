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
    let groups: [gid_t]

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
        let resolved = resolved ?? FileEditQueue.canonical(path)
        for file in Set([path, resolved]).sorted() {
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
        var child = file
        var folder = PathNormalizer.parent(of: file)
        while true {
            var info = stat()
            if lstat(folder, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, let writer = writer(of: info, childOwnedByRoot: { owner(of: child) == 0 }) {
                return (folder, writer)
            }
            guard folder != "/", !folder.isEmpty, PathNormalizer.parent(of: folder) != folder else { return nil }
            child = folder
            folder = PathNormalizer.parent(of: folder)
        }
    }

    private static func owner(of path: String) -> uid_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_uid : nil
    }

    /// Who besides root can change the folder `info` describes, or nil.
    private static func writer(of info: stat, childOwnedByRoot: () -> Bool) -> String? {
        if info.st_uid != 0 { return getpwuid(info.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(info.st_uid)" }
        if info.st_mode & S_ISVTX != 0, childOwnedByRoot() { return nil }
        if info.st_mode & 0o002 != 0 { return "anyone" }
        if info.st_mode & 0o020 != 0, info.st_gid != 0 { return "group " + (getgrgid(info.st_gid).map { String(cString: $0.pointee.gr_name) } ?? "\(info.st_gid)") }
        return nil
    }
}
