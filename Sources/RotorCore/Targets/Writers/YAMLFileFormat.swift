/// A scalar in a YAML file at a dotted path. The scalar is found with rotor's own loader
/// and replaced in place using libyaml's marks, so comments, layout and every other byte
/// stay. The new value keeps the old quoting style where that is safe.
struct YAMLFileFormat: FileTargetFormat {
    var keyPath: [String]

    private var dotted: String { keyPath.joined(separator: ".") }

    func read(_ bytes: [UInt8]) -> Result<String, TargetReadProblem> {
        switch locate(bytes) {
        case .failure(let problem): return .failure(problem)
        case .success(let node):
            guard let text = node.scalarText else { return .failure(.unreadable("\(dotted) is not a scalar")) }
            return .success(text)
        }
    }

    func replaceUnverified(in bytes: [UInt8], with value: String, create: Bool) -> Result<[UInt8], TargetEditError> {
        let node: Node
        switch locate(bytes) {
        case .success(let found): node = found
        case .failure(.missing(let reason)):
            return .failure(TargetEditError(create
                ? "\(reason); rotor does not add keys to YAML files yet: add '\(dotted)' with a placeholder value"
                : "\(reason) (add it to the file first)"))
        case .failure(let problem): return .failure(TargetEditError(problem.reason))
        }
        guard case .scalar(_, let style) = node.content else { return .failure(TargetEditError("\(dotted) is not a scalar")) }
        guard node.start.line == node.end.line, style != .literal, style != .folded else {
            return .failure(TargetEditError("\(dotted) is a multi-line or block scalar; rotor rewrites single-line scalars only: write it on one line"))
        }
        let start = Self.byteOffset(ofCharacter: node.start.characterOffset, in: bytes)
        let end = Self.byteOffset(ofCharacter: node.end.characterOffset, in: bytes)
        return .success(bytes.replacing(start..<end, with: Self.encode(value, like: style).utf8))
    }

    private func locate(_ bytes: [UInt8]) -> Result<Node, TargetReadProblem> {
        let loaded = YAMLLoader.load(bytes)
        if let error = loaded.allErrors.first { return .failure(.unreadable("YAML error at \(error.mark): \(error.message)")) }
        guard let root = loaded.documents.first?.root else { return .failure(.missing("the file is empty")) }
        switch YAMLPathLookup.node(at: keyPath, in: root) {
        case .success(let node): return .success(node)
        case .failure(let missing): return .failure(.missing(missing.message))
        }
    }

    /// libyaml counts characters; files are bytes.
    static func byteOffset(ofCharacter characterOffset: Int, in bytes: [UInt8]) -> Int {
        var characters = 0
        var index = 0
        while index < bytes.count, characters < characterOffset {
            index += 1
            while index < bytes.count, bytes[index] & 0xC0 == 0x80 { index += 1 }  // continuation bytes
            characters += 1
        }
        return index
    }

    /// The value as a YAML scalar: plain when the old one was plain and the value cannot be
    /// read as anything but this string, single-quoted when that suffices, else double-quoted.
    static func encode(_ value: String, like style: ScalarStyle) -> String {
        let hasControl = value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        if style == .plain, isSafePlain(value) { return value }
        if style != .doubleQuoted, !hasControl { return "'" + value.replacingOccurrences(of: "'", with: "''") + "'" }
        return DoubleQuoted.literal(value) { "\\x" + String($0, radix: 16).leftPadded(to: 2, with: "0") }
    }

    private static let resolvableWords: Set<String> = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".nan", ".inf", "-.inf", "+.inf",
    ]

    private static func isSafePlain(_ value: String) -> Bool {
        guard let first = value.unicodeScalars.first, first.properties.isAlphabetic || first == "_" else { return false }
        guard !resolvableWords.contains(value.lowercased()) else { return false }
        return value.unicodeScalars.allSatisfy { scalar in
            (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-/+=@%".unicodeScalars.contains(scalar)))
        }
    }
}
