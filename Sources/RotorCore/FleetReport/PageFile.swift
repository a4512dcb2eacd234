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

    /// `shown` is FILE as the user wrote it; `absolute` the same from the working folder.
    init(shown: String, absolute: String, configuration: Configuration, configurationFiles: [String], stateFiles: [String]) throws(Refusal) {
        let name = (absolute as NSString).lastPathComponent
        let folder = (absolute as NSString).deletingLastPathComponent
        guard let resolvedFolder = Self.realPath(folder.isEmpty ? "/" : folder) else {
            throw Refusal(description: "\(shown): its folder \(folder) does not exist (\(String(cString: strerror(errno)))); nothing was written")
        }
        path = (resolvedFolder == "/" ? "" : resolvedFolder) + "/" + name
        var info = stat()
        if lstat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFLNK:
                throw Refusal(description: "\(shown) is a symbolic link: refused, not followed (whoever can write its folder could point it at any file); remove it or name another file; nothing was written")
            default:
                throw Refusal(description: "\(shown) is not a regular file (a folder, device, FIFO or socket): refused; name a new or regular file; nothing was written")
            }
        }
        let own = Self.realPath(path) ?? path
        if stateFiles.contains(where: { Self.realPath($0) == own || $0 == own }) {
            throw Refusal(description: "\(shown) is the state store (or one of its files): refused; nothing was written")
        }
        if configurationFiles.contains(where: { Self.realPath($0) == own }) {
            throw Refusal(description: "\(shown) is a configuration file: refused; nothing was written")
        }
        for consumer in configuration.consumers {
            for target in consumer.targets {
                if let file = target.filePath, Self.realPath(file) == own {
                    throw Refusal(description: "\(shown) is a target of consumer '\(ControlCharacters.escapeLine(consumer.name.value))': refused; nothing was written")
                }
            }
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
