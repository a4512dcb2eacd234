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
    /// the size rotor reads a target at). A file that is a declared target is read as the
    /// kind its targets declare; any other by its name. On one line, each holder whose value
    /// is the copy goes to one of the copies there; a copy left without one (a comment, a
    /// list item, a value inside a longer string) has none — it is not a target's.
    static func find(_ matches: [CopyFinder.Match], needles: ScanNeedles, in descriptor: Int32, path: String,
                     declaredKinds: [TargetSpec.Kind]) -> [CopyFinder.Match: CopyHolder] {
        guard let bytes = readWhole(descriptor) else { return [:] }
        var byLine: [Int: [Candidate]] = [:]
        for candidate in values(in: bytes, named: (path as NSString).lastPathComponent, declaredKinds: declaredKinds) {
            byLine[candidate.line, default: []].append(candidate)
        }
        var holders: [CopyFinder.Match: CopyHolder] = [:]
        let groups = Dictionary(grouping: matches) { [$0.line, $0.needle] }
        for (group, copies) in groups {
            let needle = needles.needles[group[1]]
            // The value itself first, then values holding it in longer text (a target's
            // `value: "Bearer {secret}"`), each holder given to one copy.
            let onLine = (byLine[group[0]] ?? []).filter { !$0.shadowed }
            let exact = onLine.filter { Fingerprint.of($0.value) == needle.fingerprint }
            let within = onLine.filter { candidate in !exact.contains { $0.holder == candidate.holder } && contains(candidate.value, needle) }
            for (copy, candidate) in zip(copies.sorted { $0.offset < $1.offset }, exact + within) { holders[copy] = candidate.holder }
        }
        return holders
    }

    /// Whether `text` holds the needle's value somewhere inside it.
    private static func contains(_ text: String, _ needle: ScanNeedle) -> Bool {
        let bytes = Array(text.utf8)
        if let value = needle.value { return bytes.count > value.count && text.contains(String(decoding: value, as: UTF8.self)) }
        for length in Set(needle.shapes.map(\.length)) where bytes.count > length {
            for start in 0...(bytes.count - length) where Fingerprint.of(bytes: Array(bytes[start..<start + length])) == needle.fingerprint {
                return true
            }
        }
        return false
    }

    private struct Candidate {
        var holder: CopyHolder
        var value: String
        var line: Int
        /// An env variable or INI entry set again further down: readers (and rotor's
        /// writer) take the last, so a copy here is nobody's target.
        var shadowed = false
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

    private enum Kind { case env, json, yaml, ini }

    /// Every value of the file as its kind reads it.
    private static func values(in bytes: [UInt8], named name: String, declaredKinds: [TargetSpec.Kind]) -> [Candidate] {
        var kinds: [Kind] = declaredKinds.map { kind in
            switch kind {
            case .envFile: .env
            case .jsonFile: .json
            case .yamlFile: .yaml
            case .iniFile: .ini
            case .exec: .env
            }
        }
        if kinds.isEmpty {
            let lowered = name.lowercased()
            if lowered.hasSuffix(".json") { kinds = [.json] }
            else if lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") { kinds = [.yaml] }
            else if [".ini", ".cfg", ".conf"].contains(where: lowered.hasSuffix) || lowered == "credentials" || lowered == "config" { kinds = [.ini] }
            else { kinds = [.env] }
        }
        var candidates: [Candidate] = []
        for kind in Set(kinds) {
            switch kind {
            case .json:
                JSONValues.strings(in: bytes) { tokens, value, line in
                    let pointer = JSONPointer(tokens.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }.joined())!
                    candidates.append(Candidate(holder: .jsonPointer(pointer), value: value, line: line))
                }
            case .yaml:
                let loaded = YAMLLoader.load(bytes)
                guard loaded.allErrors.isEmpty, let root = loaded.documents.first?.root else { continue }
                walkYAML(root, path: []) { path, node in
                    candidates.append(Candidate(holder: .yamlPath(path), value: node.scalarText ?? "", line: node.start.line))
                }
            case .ini:
                let entries = INIFileDocument(bytes: bytes).entries
                var last: [String: Int] = [:]
                for (index, entry) in entries.enumerated() { last[entry.section + "\u{0}" + entry.key] = index }
                for (index, entry) in entries.enumerated() {
                    candidates.append(Candidate(holder: .iniEntry(section: entry.section, key: entry.key), value: unquoted(entry.value), line: entry.line,
                                                shadowed: last[entry.section + "\u{0}" + entry.key] != index))
                }
            case .env:
                let assignments = EnvFileDocument(bytes: bytes).assignments
                var last: [String: Int] = [:]
                for (index, assignment) in assignments.enumerated() { last[assignment.name] = index }
                for (index, assignment) in assignments.enumerated() {
                    candidates.append(Candidate(holder: .envVariable(assignment.name), value: assignment.value, line: assignment.line,
                                                shadowed: last[assignment.name] != index))
                }
            }
        }
        return candidates
    }

    private static func unquoted(_ value: String) -> String {
        guard value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" else { return value }
        return String(value.dropFirst().dropLast())
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
