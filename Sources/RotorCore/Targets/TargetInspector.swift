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
        switch target.kind {
        case .exec(_, let read):
            return .notRead(read == nil ? "an exec target with no 'read' command" : "plan runs no commands")
        case .envFile(let path, let variable):
            return withFile(path) { bytes in
                guard let assignment = EnvFileDocument(bytes: bytes).assignment(variable) else {
                    return .missing("\(variable) is not set in the file")
                }
                return .present(fingerprint: Fingerprint.of(assignment.value))
            }
        case .jsonFile(let path, let pointer):
            return withFile(path) { bytes in
                guard let root = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
                    return .unreadable("not valid JSON")
                }
                switch JSONPointerLookup.value(at: pointer, in: root) {
                case .found(let value as String): return .present(fingerprint: Fingerprint.of(value))
                case .found: return .unreadable("\(pointer) holds a \(pointer.tokens.isEmpty ? "document" : "non-string value")")
                case .missing(let reason): return .missing(reason)
                }
            }
        case .yamlFile(let path, let keyPath):
            return withFile(path) { bytes in
                let loaded = YAMLLoader.load(bytes)
                if let error = loaded.allErrors.first { return .unreadable("YAML error at \(error.mark): \(error.message)") }
                guard let root = loaded.documents.first?.root else { return .missing("the file is empty") }
                switch YAMLPathLookup.node(at: keyPath, in: root) {
                case .success(let node):
                    guard let text = node.scalarText else { return .unreadable("\(keyPath.joined(separator: ".")) is not a scalar") }
                    return .present(fingerprint: Fingerprint.of(text))
                case .failure(let missing): return .missing(missing.message)
                }
            }
        case .iniFile(let path, let section, let key):
            return withFile(path) { bytes in
                let document = INIFileDocument(bytes: bytes)
                guard document.sections.contains(section) || section.isEmpty else { return .missing("no [\(section)] section") }
                guard let entry = document.entry(section: section, key: key) else { return .missing("no '\(key)' in [\(section)]") }
                return .present(fingerprint: Fingerprint.of(entry.value))
            }
        }
    }

    private func withFile(_ path: String, _ inspect: ([UInt8]) -> TargetObservation) -> TargetObservation {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .missing("the file does not exist") }
        guard !isDirectory.boolValue else { return .unreadable("it is a folder, not a file") }
        guard let data = FileManager.default.contents(atPath: path) else { return .unreadable("permission denied") }
        return inspect([UInt8](data))
    }
}

/// Follows a JSON pointer through values decoded by JSONSerialization.
enum JSONPointerLookup {
    enum Outcome { case found(Any), missing(String) }

    static func value(at pointer: JSONPointer, in root: Any) -> Outcome {
        var current = root
        var walked = ""
        for token in pointer.tokens {
            walked += "/" + token
            if let object = current as? [String: Any] {
                guard let next = object[token] else { return .missing("\(walked) is not in the file") }
                current = next
            } else if let array = current as? [Any] {
                guard let position = Int(token), array.indices.contains(position) else { return .missing("\(walked) is not in the file") }
                current = array[position]
            } else {
                return .missing("\(walked) is not in the file (its parent is not an object)")
            }
        }
        return .found(current)
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
