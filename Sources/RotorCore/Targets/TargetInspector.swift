import Foundation

/// What a target holds now, as far as rotor may say: a fingerprint, never the value.
public enum TargetObservation: Sendable, Equatable {
    case present(fingerprint: String)
    /// The file, variable, pointer or path is not there.
    case missing(String)
    /// It is there but cannot be read or parsed.
    case unreadable(String)
    /// Not read on purpose (an exec target: `plan` runs no command).
    case notRead(String)

    /// `in-sync`-style state word used in output: present, missing, unreadable, not-read.
    public var state: String {
        switch self {
        case .present: "present"
        case .missing: "missing"
        case .unreadable: "unreadable"
        case .notRead: "not-read"
        }
    }

    public var fingerprint: String? {
        if case .present(let fingerprint) = self { return fingerprint }
        return nil
    }

    public var reason: String? {
        switch self {
        case .present: nil
        case .missing(let reason), .unreadable(let reason), .notRead(let reason): reason
        }
    }
}

/// Reads targets without changing them, to fingerprint what they hold.
public struct TargetInspector: Sendable {
    public init() {}

    public func observe(_ target: TargetSpec) -> TargetObservation {
        guard let path = target.filePath, let format = target.fileFormat else {
            if case .exec(_, let read) = target.kind {
                return .notRead(read == nil ? "an exec target with no 'read' command" : "plan runs no commands")
            }
            return .notRead("not a file target")
        }
        switch FileTargetReader.read(path) {
        case .failure(let problem): return Self.observation(problem)
        case .success(let bytes):
            switch format.read(bytes) {
            case .success(let value): return .present(fingerprint: Fingerprint.of(value))
            case .failure(let problem): return Self.observation(problem)
            }
        }
    }

    static func observation(_ problem: TargetReadProblem) -> TargetObservation {
        switch problem {
        case .missing(let reason): .missing(reason)
        case .unreadable(let reason): .unreadable(reason)
        }
    }
}

/// Reads a target file's bytes, saying why it cannot.
enum FileTargetReader {
    static func read(_ path: String) -> Result<[UInt8], TargetReadProblem> {
        // O_NONBLOCK: a FIFO put where a target should be must not hang rotor.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR: return .failure(.missing("the file does not exist"))
            case EISDIR: return .failure(.unreadable("it is a folder, not a file"))
            case EACCES, EPERM: return .failure(.unreadable("permission denied"))
            default: return .failure(.unreadable(String(cString: strerror(errno))))
            }
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        guard info.st_mode & S_IFMT != S_IFDIR else { return .failure(.unreadable("it is a folder, not a file")) }
        // Sized from fstat; grows if the file grows while it is read.
        var bytes = [UInt8](repeating: 0, count: max(Int(info.st_size), 0) + 1)
        var filled = 0
        while true {
            if filled == bytes.count { bytes.append(contentsOf: repeatElement(0, count: bytes.count)) }
            let count = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }  // an empty FIFO or socket: nothing to read now
                return .failure(.unreadable(String(cString: strerror(errno))))
            }
            filled += count
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
