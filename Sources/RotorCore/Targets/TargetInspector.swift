import CPosix
import Foundation

/// What a target holds now, as far as rotor may say: a fingerprint, never the value.
public enum TargetObservation: Sendable, Equatable {
    case present(fingerprint: String)
    /// The file itself is not there.
    case fileMissing
    /// The variable, pointer or path is not there.
    case missing(String)
    /// It is there but cannot be read or parsed.
    case unreadable(String)
    /// Not read on purpose (an exec target: `plan` runs no command).
    case notRead(String)

    /// The word output uses for each case (a saved plan keeps it where a fingerprint is not known).
    public enum Word: String, Sendable {
        case present, missing, unreadable
        case notRead = "not-read"
    }

    public var word: Word {
        switch self {
        case .present: .present
        case .missing, .fileMissing: .missing
        case .unreadable: .unreadable
        case .notRead: .notRead
        }
    }

    /// `in-sync`-style state word used in output: present, missing, unreadable, not-read.
    public var state: String { word.rawValue }

    static let fileMissingReason = "the file does not exist"
    /// What works when a target's file is missing: rotor edits files and never creates one
    /// (whose account, mode and folder would it be?); `create: true` adds the value to a
    /// file that exists.
    static func createFileHint(_ target: TargetSpec) -> String {
        let start: String
        switch target.typeName {
        case "json_file": start = "holding {} (e.g. echo '{}' | install -m 600 /dev/stdin FILE), then create: true on the target adds the value"
        case "yaml_file": start = "with the path written out and any value on one line (rotor rewrites a YAML value in place; it does not add one)"
        default: start = "(empty is fine, e.g. install -m 600 /dev/null FILE), then create: true on the target adds the value"
        }
        return " — rotor edits files, it does not create them: create it first, mode 0600 and owned by the account that reads it, " + start
    }

    public var fingerprint: String? {
        if case .present(let fingerprint) = self { return fingerprint }
        return nil
    }

    public var reason: String? {
        switch self {
        case .present: nil
        case .fileMissing: Self.fileMissingReason
        case .missing(let reason), .unreadable(let reason), .notRead(let reason): reason
        }
    }
}

/// What one look at a target tells `plan`: what it holds, and what it warns or blocks on.
public struct TargetInspection: Sendable {
    public var observation: TargetObservation
    /// The file's permission bits when every user may read it (see `TargetExposure`).
    public var worldReadableMode: Int?
    /// Why rotor could not replace the file (see `TargetAccess`); nil when it could, or
    /// when there is no file.
    public var writeProblem: String?
    /// The warning about `worldReadableMode` and the file's path, set by whoever knows the
    /// key and how to show the path (`plan`, with `TargetExposure.warning`).
    public var exposure: (path: String, warning: String)?
}

/// Reads targets without changing them, to fingerprint what they hold.
public struct TargetInspector: Sendable {
    public init() {}

    public func observe(_ target: TargetSpec) -> TargetObservation {
        guard let path = target.filePath, let format = target.fileFormat else { return Self.notRead(target) }
        return Self.observation(FileTargetReader.read(path), format: format)
    }

    /// `observe`, plus the file's exposure and writability, from the same `open` and `fstat`.
    public func inspect(_ target: TargetSpec) -> TargetInspection {
        guard let path = target.filePath, let format = target.fileFormat else {
            return TargetInspection(observation: Self.notRead(target))
        }
        var info = stat()
        let read = FileTargetReader.read(path, status: &info)
        var inspection = TargetInspection(observation: Self.observation(read, format: format))
        switch read {
        case .success(let bytes):
            let mode = Int(info.st_mode & 0o7777)
            if info.st_mode & S_IFMT == S_IFREG, mode & 0o004 != 0 { inspection.worldReadableMode = mode }
            // What preflight tries too: a value rotor could not rewrite in place (a YAML
            // block scalar) is refused there, so the plan says so (issue 19).
            let rewritable = inspection.observation.word == .present || (inspection.observation.word == .missing && target.create)
            if rewritable, case .failure(let error) = format.replace(in: bytes, with: "rotor-preflight-sample", create: target.create) {
                inspection.writeProblem = error.message
                return inspection
            }
        case .failure(.missing), .failure(.fileMissing):
            return inspection  // nothing to warn about or to replace
        case .failure(.unreadable):
            // Not opened or not a file (permission, a folder, a symlink loop): ask the path.
            guard access(path, F_OK) == 0 else { return inspection }
            inspection.worldReadableMode = TargetExposure.worldReadableMode(path)
        }
        // The reader's fstat, when it opened the file: the same file the path names.
        var opened = false
        if case .success = read { opened = true }
        inspection.writeProblem = TargetAccess.writeProblem(path, status: opened ? info : nil)
        return inspection
    }

    private static func notRead(_ target: TargetSpec) -> TargetObservation {
        if case .exec(_, let read) = target.kind {
            return .notRead(read == nil ? "an exec target with no 'read' command" : "plan runs no commands")
        }
        return .notRead("not a file target")
    }

    private static func observation(_ read: Result<[UInt8], TargetReadProblem>, format: any FileTargetFormat) -> TargetObservation {
        switch read {
        case .failure(let problem): return observation(problem)
        case .success(let bytes):
            switch format.read(bytes) {
            case .success(let value): return .present(fingerprint: Fingerprint.of(value))
            case .failure(let problem): return observation(problem)
            }
        }
    }

    static func observation(_ problem: TargetReadProblem) -> TargetObservation {
        switch problem {
        case .fileMissing: .fileMissing
        case .missing(let reason): .missing(reason)
        case .unreadable(let reason): .unreadable(reason)
        }
    }
}

/// Reads a target file's bytes, saying why it cannot.
enum FileTargetReader {
    /// The largest target rotor reads (as the YAML loader's own limit): a configuration file
    /// is far smaller; a log or an image put where a target should be is refused, not
    /// read into memory.
    static let maxBytes = 32 << 20

    /// `noSymlinks`: `path` names the file itself (resolved when the run began), and a
    /// symlink anywhere on it now refuses the read.
    static func read(_ path: String, noSymlinks: Bool = false) -> Result<[UInt8], TargetReadProblem> {
        var info = stat()
        return read(path, status: &info, noSymlinks: noSymlinks)
    }

    /// Also fills `status` with the opened file's `fstat` (when it was opened).
    static func read(_ path: String, status info: inout stat, noSymlinks: Bool = false) -> Result<[UInt8], TargetReadProblem> {
        // O_NONBLOCK: a FIFO put where a target should be must not hang rotor.
        let descriptor = noSymlinks ? rotor_open_no_symlinks(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0) : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            switch errno {
            case ELOOP where noSymlinks: return .failure(.unreadable("a symlink took the place of the file or of a folder on its path since the run began: refused, not followed"))
            case ENOENT, ENOTDIR: return .failure(.fileMissing)
            case EISDIR: return .failure(.unreadable("it is a folder, not a file"))
            case ENXIO: return .failure(.unreadable("it is not a regular file (a socket): only regular files are targets"))
            case EACCES, EPERM: return .failure(.unreadable("permission denied"))
            default: return .failure(.unreadable(String(cString: strerror(errno))))
            }
        }
        defer { close(descriptor) }
        guard fstat(descriptor, &info) == 0 else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        guard info.st_mode & S_IFMT != S_IFDIR else { return .failure(.unreadable("it is a folder, not a file")) }
        // A FIFO, a device (/dev/zero) or a socket is not a file rotor edits: reading one
        // could hang or never end, and writing would replace it with a regular file.
        guard info.st_mode & S_IFMT == S_IFREG else { return .failure(.unreadable("it is not a regular file (a FIFO, device or socket): only regular files are targets")) }
        let tooLarge = TargetReadProblem.unreadable("it is larger than \(maxBytes >> 20) MiB: not a configuration file rotor edits")
        guard Int(info.st_size) <= maxBytes else { return .failure(tooLarge) }
        // Sized from fstat, one byte more; grows if the file grows while it is read.
        var bytes = [UInt8](repeating: 0, count: max(Int(info.st_size), 0) + 1)
        var filled = 0
        while true {
            if filled > maxBytes { return .failure(tooLarge) }
            if filled == bytes.count { bytes.append(contentsOf: repeatElement(0, count: bytes.count)) }
            let count = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                return .failure(.unreadable(String(cString: strerror(errno))))
            }
            filled += count
            // A regular file reads short only at its end: no second read to hear it (at
            // 10,000 targets, a tenth of plan's system calls).
            if filled < bytes.count { break }
        }
        bytes.removeSubrange(filled...)
        return .success(bytes)
    }
}

/// Follows a dotted path (`skytells.apiKey`) through YAML mappings.
enum YAMLPathLookup {
    struct Missing: Error { var message: String }

    static func node(at path: [String], in root: Node) -> Result<Node, Missing> {
        var current = root
        var walked: [String] = []
        for component in path {
            walked.append(component)
            guard case .mapping(let entries) = current.content else {
                return .failure(Missing(message: "\(walked.dropLast().joined(separator: ".")) is not a mapping"))
            }
            guard let entry = entries.last(where: { $0.key.scalarText == component }) else {
                return .failure(Missing(message: "\(walked.joined(separator: ".")) is not in the file"))
            }
            current = entry.value
        }
        return .success(current)
    }
}
