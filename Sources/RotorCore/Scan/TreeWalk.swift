import Foundation

/// A file's device and inode: how `scan` tells a declared target, or rotor's state folder,
/// whatever path led to it.
public struct FileID: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// The file `path` names, symlinks followed; nil when there is none.
    static func of(_ path: String) -> FileID? {
        var info = stat()
        return stat(path, &info) == 0 ? FileID(info) : nil
    }
}

/// Walks the folders `scan` was given and opens every regular file in them, without ever
/// following a symlink: each folder is opened relative to its parent's descriptor with
/// `O_NOFOLLOW`, so a symlink swapped in while the walk runs is refused, not followed out of
/// the tree. Skips `.git/`, the files and folders in `skipping` (rotor's state), special
/// files (FIFOs, sockets, devices: opened without blocking, then refused) and symlinks.
struct TreeWalk {
    enum Skip: String, CaseIterable, Sendable {
        case symlink, special, git, state, unreadable, binary
    }

    /// An open regular file, for a scanning thread to read and close.
    struct OpenFile {
        var path: String
        var descriptor: Int32
        var id: FileID
    }

    let skipping: Set<FileID>
    /// Folders nested deeper are skipped: each level holds a descriptor open.
    static let maxDepth = 200

    /// Calls `found` with each file (which then owns its descriptor), and `skipped` with
    /// what was left out and why (a reason for unreadable ones — a root that does not exist
    /// or cannot be opened too: the other roots are still scanned, and the scan fails).
    func walk(_ root: String, stop: () -> Bool = { false }, found: (OpenFile) -> Void, skipped: (Skip, String, String?) -> Void) {
        // A path named on the command line is followed (the person chose it); nothing under it is.
        let descriptor = open(root, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else { return skipped(.unreadable, root, String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            close(descriptor)
            return skipped(.unreadable, root, String(cString: strerror(errno)))
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            defer { close(descriptor) }
            if skipping.contains(FileID(info)) { return skipped(.state, root, nil) }
            walkFolder(descriptor, path: root, depth: 0, stop: stop, found: found, skipped: skipped)
        case S_IFREG:
            found(OpenFile(path: root, descriptor: descriptor, id: FileID(info)))
        default:
            close(descriptor)
            skipped(.special, root, nil)
        }
    }

    private func walkFolder(_ folder: Int32, path: String, depth: Int, stop: () -> Bool, found: (OpenFile) -> Void, skipped: (Skip, String, String?) -> Void) {
        // Too deep is unread: a copy there would go unseen.
        guard depth < Self.maxDepth else { return skipped(.unreadable, path, "nested deeper than \(Self.maxDepth) folders") }
        // fdopendir takes the descriptor it is given: a copy, so `folder` stays for openat.
        let copy = dup(folder)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return skipped(.unreadable, path, String(cString: strerror(errno)))
        }
        // Names as the bytes they are: a name that is not UTF-8 is opened by its own bytes
        // (made into a String it would name another file, or none).
        var entries: [(name: [CChar], type: UInt8)] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.bindMemory(to: CChar.self).prefix { $0 != 0 }) + [0]
            }
            if name == [46, 0] || name == [46, 46, 0] { continue }  // . and ..
            entries.append((name, entry.pointee.d_type))
        }
        closedir(stream)
        let prefix = path == "." ? "" : path.hasSuffix("/") ? path : path + "/"
        for (name, listedType) in entries.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
            if stop() { return }
            let childPath = prefix + Self.shown(name)
            var type = listedType
            if type == UInt8(DT_UNKNOWN) {
                var info = stat()
                guard fstatat(folder, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                    if errno != ENOENT { skipped(.unreadable, childPath, String(cString: strerror(errno))) }  // ENOENT: gone since listed
                    continue
                }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: type = UInt8(DT_DIR)
                case S_IFREG: type = UInt8(DT_REG)
                case S_IFLNK: type = UInt8(DT_LNK)
                default: type = UInt8(DT_FIFO)
                }
            }
            switch type {
            case UInt8(DT_LNK):
                skipped(.symlink, childPath, nil)
            case UInt8(DT_DIR):
                if name == Array(".git".utf8CString) {
                    // Its objects are compressed: only its plain-text `config` is read (remote
                    // URLs and auth headers hold tokens; found by an attacker).
                    skipped(.git, childPath, nil)
                    let git = openat(folder, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard git >= 0 else { continue }
                    defer { close(git) }
                    let config = openat(git, "config", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
                    guard config >= 0 else { continue }
                    var info = stat()
                    if fstat(config, &info) == 0, info.st_mode & S_IFMT == S_IFREG {
                        found(OpenFile(path: childPath + "/config", descriptor: config, id: FileID(info)))
                    } else {
                        close(config)
                    }
                    continue
                }
                let child = openat(folder, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else {
                    switch errno {
                    case ENOENT: break  // gone since listed
                    case ELOOP: skipped(.symlink, childPath, nil)
                    // A folder replaced by a file while the scan ran: not read, so an error.
                    case ENOTDIR: skipped(.unreadable, childPath, "it changed from a folder to a file while the scan ran")
                    default: skipped(.unreadable, childPath, String(cString: strerror(errno)))
                    }
                    continue
                }
                var info = stat()
                if fstat(child, &info) == 0, skipping.contains(FileID(info)) {
                    skipped(.state, childPath, nil)
                } else {
                    walkFolder(child, path: childPath, depth: depth + 1, stop: stop, found: found, skipped: skipped)
                }
                close(child)
            case UInt8(DT_REG):
                // O_NONBLOCK and O_NOCTTY: a FIFO or a terminal swapped in since the listing
                // neither blocks the walk nor becomes rotor's terminal; fstat then refuses it.
                let file = openat(folder, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
                guard file >= 0 else {
                    if errno != ENOENT { skipped(errno == ELOOP ? .symlink : .unreadable, childPath, String(cString: strerror(errno))) }
                    continue
                }
                var info = stat()
                guard fstat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                    close(file)
                    // A file replaced by a folder while the scan ran: not read, so an error.
                    if info.st_mode & S_IFMT == S_IFDIR {
                        skipped(.unreadable, childPath, "it changed from a file to a folder while the scan ran")
                    } else {
                        skipped(.special, childPath, nil)
                    }
                    continue
                }
                if skipping.contains(FileID(info)) {
                    close(file)
                    skipped(.state, childPath, nil)
                    continue
                }
                found(OpenFile(path: childPath, descriptor: file, id: FileID(info)))
            default:
                skipped(.special, childPath, nil)
            }
        }
    }

    /// A name as text: UTF-8 as it is, any other byte as `\xHH` (so two names that differ
    /// only in bytes that are not UTF-8 are shown apart).
    static func shown(_ name: [CChar]) -> String {
        let bytes = name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var text = ""
        var index = 0
        while index < bytes.count {
            // The longest valid UTF-8 sequence here (1–4 bytes), else one byte escaped.
            var taken = false
            for length in (1...min(4, bytes.count - index)).reversed() {
                if let piece = String(validating: bytes[index..<index + length], as: UTF8.self) {
                    text += piece
                    index += length
                    taken = true
                    break
                }
            }
            if !taken {
                text += String(format: "\\x%02X", bytes[index])
                index += 1
            }
        }
        return text
    }
}
