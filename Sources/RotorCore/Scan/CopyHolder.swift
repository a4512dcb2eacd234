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
    /// Names are shown through the redactor: a key's value used as a JSON member or an INI
    /// section name must not come out (found by an attacker).
    func targetFields(path: String) -> [(String, String)] {
        switch self {
        case .envVariable(let name): [("env_file", path), ("var", Redactor.known(name))]
        case .jsonPointer(let pointer): [("json_file", path), ("pointer", Redactor.known(pointer.source))]
        case .yamlPath(let components): [("yaml_file", path), ("path", Redactor.known(components.joined(separator: ".")))]
        case .iniEntry(let section, let key): [("ini_file", path), ("section", Redactor.known(section)), ("key", Redactor.known(key))]
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
    /// the size rotor reads a target at): the value whose bytes in the file hold the copy's
    /// bytes — not the value next to it (a holder whose value is escaped holds no raw copy).
    /// A file that is a declared target is read as the kind its targets declare; any other
    /// by its name. A copy in no value (a comment, a list item) has none: no target's.
    static func find(_ matches: [CopyFinder.Match], in descriptor: Int32, path: String,
                     declaredKinds: [TargetSpec.Kind]) -> [CopyFinder.Match: CopyHolder] {
        guard !matches.isEmpty, let bytes = readWhole(descriptor) else { return [:] }
        let offsets = matches.map(\.offset).sorted()
        /// Whether a copy starts inside `range`: only those values are kept.
        func holdsACopy(_ range: Range<Int>) -> Bool {
            var low = 0, high = offsets.count
            while low < high {
                let middle = (low + high) / 2
                if offsets[middle] < range.lowerBound { low = middle + 1 } else { high = middle }
            }
            return low < offsets.count && offsets[low] < range.upperBound
        }
        let candidates = values(in: bytes, named: (path as NSString).lastPathComponent, declaredKinds: declaredKinds, wanted: holdsACopy)
        var holders: [CopyFinder.Match: CopyHolder] = [:]
        for match in matches {
            let copy = match.offset..<(match.offset + match.length)
            if let holder = candidates.first(where: { $0.range.lowerBound <= copy.lowerBound && copy.upperBound <= $0.range.upperBound }), !holder.shadowed {
                holders[match] = holder.holder
            }
        }
        return holders
    }

    private struct Candidate {
        var holder: CopyHolder
        /// The value's bytes in the file (quotes included where it has them).
        var range: Range<Int>
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

    /// The values of the file, as its kind reads it, that `wanted` asks for (by byte range).
    private static func values(in bytes: [UInt8], named name: String, declaredKinds: [TargetSpec.Kind], wanted: (Range<Int>) -> Bool) -> [Candidate] {
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
                JSONValues.strings(in: bytes, wanted: wanted) { tokens, range in
                    let pointer = JSONPointer(tokens.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }.joined())!
                    candidates.append(Candidate(holder: .jsonPointer(pointer), range: range))
                }
            case .yaml:
                let loaded = YAMLLoader.load(bytes)
                guard loaded.allErrors.isEmpty, let root = loaded.documents.first?.root else { continue }
                walkYAML(root, path: []) { path, node in
                    let range = YAMLFileFormat.byteOffset(ofCharacter: node.start.characterOffset, in: bytes)..<YAMLFileFormat.byteOffset(ofCharacter: node.end.characterOffset, in: bytes)
                    if wanted(range) { candidates.append(Candidate(holder: .yamlPath(path), range: range)) }
                }
            case .ini:
                let entries = INIFileDocument(bytes: bytes).entries
                var last: [String: Int] = [:]
                for (index, entry) in entries.enumerated() { last[entry.section + "\u{0}" + entry.key] = index }
                for (index, entry) in entries.enumerated() where wanted(entry.valueRange) {
                    candidates.append(Candidate(holder: .iniEntry(section: entry.section, key: entry.key), range: entry.valueRange,
                                                shadowed: last[entry.section + "\u{0}" + entry.key] != index))
                }
            case .env:
                let assignments = EnvFileDocument(bytes: bytes).assignments
                var last: [String: Int] = [:]
                for (index, assignment) in assignments.enumerated() { last[assignment.name] = index }
                for (index, assignment) in assignments.enumerated() where wanted(assignment.valueRange) {
                    candidates.append(Candidate(holder: .envVariable(assignment.name), range: assignment.valueRange,
                                                shadowed: last[assignment.name] != index))
                }
            }
        }
        return candidates
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
