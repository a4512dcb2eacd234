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
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .failure(.missing("the file does not exist")) }
        guard !isDirectory.boolValue else { return .failure(.unreadable("it is a folder, not a file")) }
        guard let data = FileManager.default.contents(atPath: path) else { return .failure(.unreadable("permission denied")) }
        return .success([UInt8](data))
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
