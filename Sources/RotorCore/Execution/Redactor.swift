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

    /// `text` without any known secret, cut to `limit` characters.
    public func redact(_ text: String, limit: Int = 2_000) -> String {
        var result = text
        for secret in secrets where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: Fingerprint.mask(secret) + "(redacted)")
        }
        // Anything else that looks like a credential (a provider echoing a key rotor has
        // not seen yet) is masked too.
        result = result.split(separator: " ", omittingEmptySubsequences: false).map { word in
            CredentialDetector.reason(String(word)) == nil ? String(word) : Fingerprint.mask(String(word)) + "(redacted)"
        }.joined(separator: " ")
        if result.count > limit { result = String(result.prefix(limit)) + "…" }
        return result
    }
}
