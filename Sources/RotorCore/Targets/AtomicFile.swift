import CPosix
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Replaces a file's content atomically: a temporary file created exclusively in the same
/// folder, written, fsync'd, given the original's owner, mode, ACL and extended attributes
/// (SELinux label included), renamed over the
/// original, then the folder fsync'd. A reader sees the old bytes or the new ones,
/// never a mix. A crash can leave a stray `.NAME.rotor-tmp-*` file beside the target
/// (it may hold a new secret): recovery removes those with `removeStrayTemporaries`.
///
/// A symlink is followed to the end of its chain: the file there is replaced and every
/// link stays.
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// Test hook, inert unless set: fail writes to paths ending with this suffix.
    static let failingSuffix = ProcessInfo.processInfo.environment["ROTOR_TEST_FAIL_WRITE"]

    public static func write(_ bytes: [UInt8], to path: String, newFileMode: mode_t = 0o600) throws(WriteError) {
        // Every link of a chain followed: the file at its end is replaced, each link stays.
        try write(bytes, toFile: resolved(path), shownAs: path, newFileMode: newFileMode, noSymlinks: false)
    }

    /// Writes `path`, which must name the file itself: a symlink anywhere on it (a folder
    /// swapped for a link since the path was resolved, or the file itself) refuses the
    /// write. Everything happens through one open handle on the folder — the original's
    /// attributes read, the temporary file made, the rename — so nothing can redirect it
    /// between those steps.
    public static func write(_ bytes: [UInt8], toResolvedPath path: String, newFileMode: mode_t = 0o600) throws(WriteError) {
        try write(bytes, toFile: path, shownAs: path, newFileMode: newFileMode, noSymlinks: true)
    }

    private static func write(_ bytes: [UInt8], toFile target: String, shownAs path: String, newFileMode: mode_t, noSymlinks: Bool) throws(WriteError) {
        if let suffix = failingSuffix, !suffix.isEmpty, target.hasSuffix(suffix) {
            throw WriteError(path: path, reason: "write refused by ROTOR_TEST_FAIL_WRITE")
        }
        let parent = (target as NSString).deletingLastPathComponent
        let folderPath = parent.isEmpty ? "." : parent  // a bare name (`--metrics-file metrics.prom`)
        let name = (target as NSString).lastPathComponent
        let folder = noSymlinks ? rotor_open_no_symlinks(folderPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
            : open(folderPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else {
            throw WriteError(path: path, reason: errno == ELOOP ? "a folder on its path was replaced by a symlink: refused, not followed" : errnoText())
        }
        defer { close(folder) }
        var original = stat()
        let exists = fstatat(folder, name, &original, AT_SYMLINK_NOFOLLOW) == 0
        if exists, noSymlinks, original.st_mode & S_IFMT != S_IFREG {
            throw WriteError(path: path, reason: "it is no longer a regular file (a symlink or something else took its place): refused, not followed")
        }
        let temporary = (temporaryPrefix(for: target) as NSString).lastPathComponent + UUID().uuidString
        let descriptor = openat(folder, temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw WriteError(path: path, reason: errnoText()) }
        var renamed = false
        defer {
            if !renamed { unlinkat(folder, temporary, 0) }
        }
        do {
            defer { close(descriptor) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                guard written > 0 else { throw WriteError(path: path, reason: errnoText()) }
                offset += written
            }
            if exists {
                if original.st_uid != geteuid() || original.st_gid != getegid() {
                    guard fchown(descriptor, original.st_uid, original.st_gid) == 0 else { throw WriteError(path: path, reason: errnoText()) }
                }
                guard fchmod(descriptor, original.st_mode & 0o7777) == 0 else { throw WriteError(path: path, reason: errnoText()) }
                // After the mode: an ACL sets the group bits as its mask.
                let source = openat(folder, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
                guard source >= 0 else { throw WriteError(path: path, reason: errnoText()) }
                defer { close(source) }
                if let problem = ExtendedAttributes.copy(from: source, to: descriptor) { throw WriteError(path: path, reason: problem) }
            } else {
                guard fchmod(descriptor, newFileMode) == 0 else { throw WriteError(path: path, reason: errnoText()) }
            }
            guard fsync(descriptor) == 0 else { throw WriteError(path: path, reason: errnoText()) }
        }
        guard renameat(folder, temporary, folder, name) == 0 else { throw WriteError(path: path, reason: errnoText()) }
        renamed = true
        fsync(folder)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// The file `path` names, every symlink followed (realpath); `path` itself when it names
    /// nothing. Two names of one file have one canonical path.
    public static func canonical(_ path: String) -> String { realPath(path) ?? path }

    /// As `canonical`, but a dangling link gives its own destination (a write creates it).
    static func resolved(_ path: String) -> String {
        realPath(path) ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map { link in
            link.hasPrefix("/") ? link : ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(link)
        } ?? path
    }

    private static func realPath(_ path: String) -> String? {
        guard let real = realpath(path, nil) else { return nil }
        defer { free(real) }
        return String(cString: real)
    }

    /// `/folder/.NAME.rotor-tmp-`: every temporary file made while writing `path` starts so.
    static func temporaryPrefix(for path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        return (folder as NSString).appendingPathComponent(".\((path as NSString).lastPathComponent).rotor-tmp-")
    }

    /// Removes temporary files a killed writer of `path` left behind.
    public static func removeStrayTemporaries(for path: String) {
        let prefix = temporaryPrefix(for: path)
        let folder = (prefix as NSString).deletingLastPathComponent
        // Never through a link: a folder swapped for one must not make root delete elsewhere.
        guard canonical(folder) == folder else { return }
        let name = (prefix as NSString).lastPathComponent
        for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where file.hasPrefix(name) {
            unlink((folder as NSString).appendingPathComponent(file))
        }
    }
}

/// A file's extended attributes — its POSIX ACL (`system.posix_acl_access`), SELinux label
/// (`security.selinux`), `user.*` — carried over to the file that replaces it: a service
/// that reads its env file through an ACL must still read it after a rotation.
enum ExtendedAttributes {
    /// Copies every attribute of the open file `source` to `descriptor`; nil when done, else why
    /// not (the write is refused rather than drop what grants a service its access).
    static func copy(from source: Int32, to descriptor: Int32) -> String? {
        let size = flistxattr(source, nil, 0)
        guard size > 0 else { return size == 0 || errno == ENOTSUP ? nil : "cannot list its extended attributes: \(AtomicFile.errnoText())" }
        var names = [CChar](repeating: 0, count: size)
        let listed = flistxattr(source, &names, size)
        guard listed >= 0 else { return "cannot list its extended attributes: \(AtomicFile.errnoText())" }
        for name in names[0..<listed].split(separator: 0).map({ String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }) {
            let length = fgetxattr(source, name, nil, 0)
            guard length >= 0 else { return "cannot read its extended attribute \(name): \(AtomicFile.errnoText())" }
            var value = [UInt8](repeating: 0, count: length)
            guard fgetxattr(source, name, &value, length) == length, fsetxattr(descriptor, name, value, length, 0) == 0 else {
                return "cannot keep its extended attribute \(name) (\(AtomicFile.errnoText())): rotor does not replace a file whose ACL or label it would drop"
            }
        }
        return nil
    }
}
