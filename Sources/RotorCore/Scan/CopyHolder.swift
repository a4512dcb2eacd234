import Foundation

/// What holds a copy inside its file, in the terms of a manifest target: an env file's
/// variable, a JSON pointer, a YAML dotted path, an INI section and key. Found by parsing
/// the file as its kind and fingerprinting each value on the copy's line; nil when no
/// value there is exactly the copy (a plain text file, a value inside a longer string).
enum CopyHolder: Hashable, Sendable {
    case envVariable(String)
    case jsonPointer(JSONPointer)
    case yamlPath([String])
    case iniEntry(section: String, key: String)

    /// The manifest fields of a target for this holder in `path`, in the order a person
    /// writes them (`env_file`, `var`).
    func targetFields(path: String) -> [(String, String)] {
        switch self {
        case .envVariable(let name): [("env_file", path), ("var", name)]
        case .jsonPointer(let pointer): [("json_file", path), ("pointer", pointer.source)]
        case .yamlPath(let components): [("yaml_file", path), ("path", components.joined(separator: "."))]
        case .iniEntry(let section, let key): [("ini_file", path), ("section", section), ("key", key)]
        }
    }

    /// Whether a declared target addresses this holder (its file is compared separately).
    func isAddressed(by kind: TargetSpec.Kind) -> Bool {
        switch (self, kind) {
        case (.envVariable(let name), .envFile(_, let variable)): name == variable
        case (.jsonPointer(let pointer), .jsonFile(_, let declared)): pointer.tokens == declared.tokens
        case (.yamlPath(let path), .yamlFile(_, let declared)): path == declared
        case (.iniEntry(let section, let key), .iniFile(_, let declaredSection, let declaredKey)): section == declaredSection && key == declaredKey
        default: false
        }
    }

    /// The holder of each match, from the whole file (read again from `descriptor`, at most
    /// the size rotor reads a target at).
    static func find(_ matches: [CopyFinder.Match], needles: ScanNeedles, in descriptor: Int32, path: String) -> [CopyFinder.Match: CopyHolder] {
        guard let bytes = readWhole(descriptor) else { return [:] }
        let candidates = values(in: bytes, named: (path as NSString).lastPathComponent)
        var holders: [CopyFinder.Match: CopyHolder] = [:]
        var fingerprints: [Int: String] = [:]
        for match in matches {
            let wanted = needles.needles[match.needle].fingerprint
            for candidate in candidates where candidate.line() == match.line {
                let fingerprint = fingerprints[candidate.index] ?? Fingerprint.of(candidate.value)
                fingerprints[candidate.index] = fingerprint
                if fingerprint == wanted {
                    holders[match] = candidate.holder
                    break
                }
            }
        }
        return holders
    }

    private struct Candidate {
        var index: Int
        var holder: CopyHolder
        var value: String
        /// Lazy: a JSON value's line is found only when asked.
        var line: () -> Int
    }

    private static func readWhole(_ descriptor: Int32) -> [UInt8]? {
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_size <= FileTargetReader.maxBytes else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            offset += count
        }
        return Array(bytes.prefix(offset))
    }

    /// Every value of the file as its kind (by its name) reads it.
    private static func values(in bytes: [UInt8], named name: String) -> [Candidate] {
        let lowered = name.lowercased()
        var candidates: [Candidate] = []
        func add(_ holder: CopyHolder, _ value: String, line: @escaping () -> Int) {
            candidates.append(Candidate(index: candidates.count, holder: holder, value: value, line: line))
        }
        if lowered.hasSuffix(".json") {
            guard let root = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { return [] }
            walkJSON(root, tokens: []) { tokens, value in
                let pointer = JSONPointer(tokens.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }.joined())!
                add(.jsonPointer(pointer), value) {
                    guard case .success(.found(let range)) = JSONLocator.locate(pointer, in: bytes) else { return 0 }
                    return 1 + bytes[..<range.lowerBound].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                }
            }
        } else if lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") {
            let loaded = YAMLLoader.load(bytes)
            guard loaded.allErrors.isEmpty, let root = loaded.documents.first?.root else { return [] }
            walkYAML(root, path: []) { path, node in
                let line = node.start.line
                add(.yamlPath(path), node.scalarText ?? "") { line }
            }
        } else if [".ini", ".cfg", ".conf"].contains(where: lowered.hasSuffix) || lowered == "credentials" || lowered == "config" {
            for entry in INIFileDocument(bytes: bytes).entries {
                let line = entry.line
                add(.iniEntry(section: entry.section, key: entry.key), unquoted(entry.value)) { line }
            }
        } else {
            for assignment in EnvFileDocument(bytes: bytes).assignments {
                let line = assignment.line
                add(.envVariable(assignment.name), assignment.value) { line }
            }
        }
        return candidates
    }

    private static func unquoted(_ value: String) -> String {
        guard value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" else { return value }
        return String(value.dropFirst().dropLast())
    }

    private static func walkJSON(_ value: Any, tokens: [String], _ visit: ([String], String) -> Void) {
        switch value {
        case let object as [String: Any]:
            for (name, member) in object { walkJSON(member, tokens: tokens + [name], visit) }
        case let array as [Any]:
            for (index, element) in array.enumerated() { walkJSON(element, tokens: tokens + [String(index)], visit) }
        case let string as String:
            visit(tokens, string)
        default:
            break
        }
    }

    /// Scalars under mappings whose keys are plain names (a dotted path cannot say `a.b` as
    /// one key, nor a sequence's index).
    private static func walkYAML(_ node: Node, path: [String], _ visit: ([String], Node) -> Void) {
        switch node.content {
        case .scalar:
            if !path.isEmpty { visit(path, node) }
        case .mapping(let entries):
            for entry in entries {
                guard let name = entry.key.scalarText, !name.isEmpty, !name.contains(".") else { continue }
                walkYAML(entry.value, path: path + [name], visit)
            }
        case .sequence:
            break
        }
    }
}
