import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where `rotor report --html FILE` may write: a new file, or a regular file it replaces
/// (keeping its mode and owner). Its folder may be reached through links; FILE itself is
/// never followed — a link there, planted by whoever owns the folder, would have root
/// overwrite any file — and is never a device, a FIFO, a folder, the state store, a
/// configuration file or a target.
struct PageFile {
    /// The file to write: its folder resolved, its own name as given.
    let path: String

    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    /// `shown` is FILE as the user wrote it; `joined` the same from the working folder, not
    /// normalized (`L/../x` goes up from where the link L leads, as the system does).
    init(shown: String, joined: String, configuration: Configuration, configurationFiles: [String], stateFiles: [String]) throws(Refusal) {
        let name = (joined as NSString).lastPathComponent
        let folder = (joined as NSString).deletingLastPathComponent
        guard let resolvedFolder = Self.realPath(folder.isEmpty ? "/" : folder) else {
            throw Refusal(description: "\(shown): its folder \(folder) does not exist (\(String(cString: strerror(errno)))); nothing was written")
        }
        path = (resolvedFolder == "/" ? "" : resolvedFolder) + "/" + name
        var info = stat()
        let exists = lstat(path, &info) == 0
        if exists {
            switch info.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFLNK:
                throw Refusal(description: "\(shown) is a symbolic link: refused, not followed (whoever can write its folder could point it at any file); remove it or name another file; nothing was written")
            default:
                throw Refusal(description: "\(shown) is not a regular file (a folder, device, FIFO or socket): refused; name a new or regular file; nothing was written")
            }
        }
        // As root, the rule for targets: no folder on the way — as written, through its
        // links, or resolved — that another account can change, or it chooses the file.
        // FILE's own folder may be root's sticky one (/tmp): no one else can replace an
        // entry of root's there, and FILE itself is never followed.
        if geteuid() == 0 {
            let refusal = { (owned: String, writer: String) in
                Refusal(description: "\(shown): the folder \(owned) can be written by \(writer), not only root, who could choose the file root writes; "
                    + "as root rotor writes no page there: name a file in a folder only root can change, then copy it; nothing was written")
            }
            for file in [folder.isEmpty ? "/" : folder, resolvedFolder] + FolderOwnership.linksOnTheWay(to: joined) {
                if let (owned, writer) = FolderOwnership.otherWriter(onPathTo: file) { throw refusal(owned, writer) }
            }
            // The page rotor makes is root's entry, whoever made a file of that name before.
            if let writer = FolderOwnership.otherWriter(ofFolder: resolvedFolder, entryOwnedByRoot: true) { throw refusal(resolvedFolder, writer) }
        }
        // The same file under another name (a link to its folder, a hard link) is the same
        // file: compared by device and inode when it exists, by resolved path when not.
        let identity = exists ? FileKey(info) : nil
        func isSame(_ other: String) -> Bool {
            var otherInfo = stat()
            if let identity, stat(other, &otherInfo) == 0 { return FileKey(otherInfo) == identity }
            let otherFolder = (other as NSString).deletingLastPathComponent
            guard let resolved = Self.realPath(otherFolder) else { return false }
            return (resolved == "/" ? "" : resolved) + "/" + (other as NSString).lastPathComponent == path
        }
        if stateFiles.contains(where: isSame) {
            throw Refusal(description: "\(shown) is the state store (or one of its files): refused; nothing was written")
        }
        if configurationFiles.contains(where: isSame) {
            throw Refusal(description: "\(shown) is a configuration file: refused; nothing was written")
        }
        for consumer in configuration.consumers {
            for target in consumer.targets {
                if let file = target.filePath, isSame(file) {
                    throw Refusal(description: "\(shown) is a target of consumer '\(ControlCharacters.escapeLine(consumer.name.value))': refused; nothing was written")
                }
            }
        }
    }

    /// A file's identity: its device and inode.
    private struct FileKey: Equatable {
        var device: UInt64
        var inode: UInt64
        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    func write(_ page: String) throws(AtomicFile.WriteError) {
        try AtomicFile.write(Array(page.utf8), toResolvedPath: path, newFileMode: 0o644)
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
