/// Removes secrets from text before it reaches an error, a log or the journal: every
/// secret the run knows is replaced by its mask, in raw and JSON-escaped form.
public struct Redactor: Sendable {
    private var secrets: [String] = []

    public init(_ secrets: [Secret] = []) {
        for secret in secrets { add(secret) }
    }

    public mutating func add(_ secret: Secret) {
        let value = secret.reveal()
        guard value.count >= 4 else { return }
        secrets.append(value)
        let escaped = String(JSONLocator.encodeString(value).dropFirst().dropLast())
        if escaped != value { secrets.append(escaped) }
    }

    /// Masks every run of token characters (letters, digits, `_-+/=.`) that looks like a
    /// credential, wherever it stands (inside JSON, after a colon…).
    static func scrubTokens(_ text: String) -> String {
        var output = ""
        var run = ""
        func flush() {
            if !run.isEmpty {
                output += CredentialDetector.reason(run) == nil ? run : Fingerprint.mask(run) + "(redacted)"
                run = ""
            }
        }
        for character in text {
            if character.isASCII, character.isLetter || character.isNumber || "_-+/=.".contains(character) {
                run.append(character)
            } else {
                flush()
                output.append(character)
            }
        }
        flush()
        return output
    }

    /// `text` without any known secret, cut to `limit` characters. Terminal control
    /// characters are escaped first (`\x1b`): a vendor's message must not drive the
    /// terminal, nor hide a secret from the mask by splitting it with an escape sequence.
    public func redact(_ text: String, limit: Int = 2_000) -> String {
        var result = ControlCharacters.escape(text)
        for secret in secrets where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: Fingerprint.mask(secret) + "(redacted)")
        }
        // Anything else that looks like a credential (a provider echoing a key rotor has
        // not seen yet) is masked too.
        result = Self.scrubTokens(result)
        if result.count > limit { result = String(result.prefix(limit)) + "…" }
        return result
    }
}
