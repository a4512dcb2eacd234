/// Why a value could not be read from a file target.
public enum TargetReadProblem: Error, Equatable, Sendable {
    /// The file itself is not there (`create: true` does not help: it adds entries, not files).
    case fileMissing
    /// The variable, pointer, path or key is not there.
    case missing(String)
    /// The file cannot be parsed, or the place holds something that is not a value.
    case unreadable(String)

    /// What a person reads.
    var reason: String {
        switch self {
        case .fileMissing: TargetObservation.fileMissingReason
        case .missing(let reason), .unreadable(let reason): reason
        }
    }
}

/// One file format rotor edits surgically: it reads the value at the target's place and
/// replaces it, leaving every other byte of the file as it was.
protocol FileTargetFormat: Sendable {
    /// The value at the target's place in `bytes`.
    func read(_ bytes: [UInt8]) -> Result<String, TargetReadProblem>
    /// `bytes` with the value replaced, or added when it is missing and `create` is set.
    /// Fails with a message that says why (a preflight refusal). Callers use `replace`,
    /// which also proves the result reads back.
    func replaceUnverified(in bytes: [UInt8], with value: String, create: Bool) -> Result<[UInt8], TargetEditError>
}

extension FileTargetFormat {
    /// `replaceUnverified`, then the edited bytes read back with this format's own reader:
    /// an edit that would not read back exactly as written is refused, not written. The
    /// fuzzers found files where that happens (an unterminated quote before an appended
    /// env line; an empty YAML value followed by a comment), and any writer bug of that
    /// kind becomes a preflight refusal instead of a consumer holding a wrong value.
    func replace(in bytes: [UInt8], with value: String, create: Bool) -> Result<[UInt8], TargetEditError> {
        switch replaceUnverified(in: bytes, with: value, create: create) {
        case .failure(let error): return .failure(error)
        case .success(let edited):
            guard case .success(value) = read(edited) else {
                return .failure(TargetEditError(
                    "rotor cannot write a value here that would read back exactly (an unterminated quote or a comment where the value goes?); fix the file by hand first"))
            }
            return .success(edited)
        }
    }
}

public struct TargetEditError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension TargetSpec {
    /// The format of a file target; nil for exec targets.
    var fileFormat: (any FileTargetFormat)? {
        switch kind {
        case .envFile(_, let variable): EnvFileFormat(variable: variable)
        case .jsonFile(_, let pointer): JSONFileFormat(pointer: pointer)
        case .yamlFile(_, let keyPath): YAMLFileFormat(keyPath: keyPath)
        case .iniFile(_, let section, let key): INIFileFormat(section: section, key: key)
        case .exec: nil
        }
    }
}

extension Array where Element == UInt8 {
    /// The bytes with `range` replaced by `replacement`.
    func replacing(_ range: Range<Int>, with replacement: some Collection<UInt8>) -> [UInt8] {
        var result = self
        result.replaceSubrange(range, with: replacement)
        return result
    }

    /// `\r\n` when the file's first line ends so, else `\n`.
    var lineEnding: String {
        guard let newline = firstIndex(of: UInt8(ascii: "\n")) else { return "\n" }
        return newline > 0 && self[newline - 1] == UInt8(ascii: "\r") ? "\r\n" : "\n"
    }
}
