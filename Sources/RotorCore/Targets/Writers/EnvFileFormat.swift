/// `NAME=value` lines. Only the value's bytes change; `export `, the inline comment, the
/// line ending and everything else stay.
struct EnvFileFormat: FileTargetFormat {
    var variable: String

    func read(_ bytes: [UInt8]) -> Result<String, TargetReadProblem> {
        guard let assignment = EnvFileDocument.lastAssignment(of: variable, in: bytes) else {
            return .failure(.missing("\(variable) is not set in the file"))
        }
        return .success(assignment.value)
    }

    func replaceUnverified(in bytes: [UInt8], with value: String, create: Bool) -> Result<[UInt8], TargetEditError> {
        let document = EnvFileDocument(bytes: bytes)
        let encoded: String
        switch EnvValueEncoding.encode(value, preferring: document.assignment(variable)?.quote ?? .none) {
        case .success(let text): encoded = text
        case .failure(let refusal): return .failure(TargetEditError(refusal.description))
        }
        if let assignment = document.assignment(variable) {
            return .success(bytes.replacing(assignment.valueRange, with: encoded.utf8))
        }
        guard create else { return .failure(TargetEditError("\(variable) is not set in the file (set create: true on the target to add it)")) }
        var result = bytes
        let ending = bytes.lineEnding
        if let last = result.last, last != UInt8(ascii: "\n") { result += Array(ending.utf8) }
        result += Array("\(variable)=\(encoded)\(ending)".utf8)
        return .success(result)
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
