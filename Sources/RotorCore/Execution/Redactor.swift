import Foundation

/// Every secret value this process has held — each `Secret` made registers itself here:
/// new and old generations, provider tokens, a manual key's `--secret-env` value — so that
/// one redaction, applied wherever text is made (provider errors, command output, the
/// journal, the audit log, webhooks, reports), knows them all, whatever their shape.
///
/// Values of six bytes or more are masked wherever they appear (raw, JSON-escaped, with
/// control characters escaped), found through an index of their first four bytes so a
/// fleet's thousands of values cost one pass over the text. Values of four or five bytes
/// are masked only where they stand alone (between characters that are not letters or
/// digits): masking every `abcd` inside every word would make output unreadable and hide
/// nothing. Values under four bytes are not secrets anyone could keep (and masking every
/// `old` would garble every message), so they are not masked.
final class KnownSecrets: @unchecked Sendable {
    static let shared = KnownSecrets()

    static let replacement = "[REDACTED]"
    private static let indexedLength = 6
    private static let shortestMasked = 4

    private let lock = NSLock()
    /// Forms of the long values (as UTF-8), by their first four bytes.
    private var byPrefix: [UInt32: [[UInt8]]] = [:]
    private var known: Set<String> = []
    private var shortValues: [String] = []

    func add(_ value: String) {
        guard value.utf8.count >= Self.shortestMasked else { return }
        lock.withLock {
            guard known.insert(value).inserted else { return }
            let forms = Set([value, String(JSONLocator.encodeString(value).dropFirst().dropLast()), ControlCharacters.escape(value)])
            for form in forms {
                let bytes = Array(form.utf8)
                if bytes.count >= Self.indexedLength {
                    byPrefix[Self.prefix(bytes, at: 0), default: []].append(bytes)
                    // Longest first, so that a value containing another is masked whole.
                    byPrefix[Self.prefix(bytes, at: 0)]?.sort { $0.count > $1.count }
                } else if bytes.count >= Self.shortestMasked {
                    shortValues.append(form)
                }
            }
        }
    }

    /// `text` with every known value replaced by `[REDACTED]`.
    func redact(_ text: String) -> String {
        let (index, short) = lock.withLock { (byPrefix, shortValues) }
        var result = index.isEmpty ? text : Self.maskIndexed(text, index)
        for value in short where result.contains(value) {
            result = Self.maskStandingAlone(value, in: result)
        }
        return result
    }

    private static func prefix(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    private static func maskIndexed(_ text: String, _ index: [UInt32: [[UInt8]]]) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count >= indexedLength else { return text }
        var output: [UInt8] = []
        var position = 0, copiedUpTo = 0
        var changed = false
        while position + 4 <= bytes.count {
            if let candidates = index[prefix(bytes, at: position)],
               let match = candidates.first(where: { position + $0.count <= bytes.count && bytes[position..<position + $0.count].elementsEqual($0) }) {
                output += bytes[copiedUpTo..<position]
                output += Array(replacement.utf8)
                position += match.count
                copiedUpTo = position
                changed = true
            } else {
                position += 1
            }
        }
        guard changed else { return text }
        output += bytes[copiedUpTo...]
        return String(decoding: output, as: UTF8.self)
    }

    private static func maskStandingAlone(_ value: String, in text: String) -> String {
        var result = ""
        var rest = text[...]
        while let range = rest.range(of: value) {
            let before = range.lowerBound == rest.startIndex ? (result.last) : rest[rest.index(before: range.lowerBound)]
            let after = range.upperBound == rest.endIndex ? nil : rest[range.upperBound]
            let alone = !(before.map(isWordCharacter) ?? false) && !(after.map(isWordCharacter) ?? false)
            result += rest[..<range.lowerBound]
            result += alone ? replacement : String(rest[range])
            rest = rest[range.upperBound...]
        }
        return result + rest
    }

    private static func isWordCharacter(_ character: Character) -> Bool { character.isLetter || character.isNumber }
}

/// Removes secrets from text before it reaches an error, a log, the journal or a report.
public enum Redactor {
    /// `text` with control characters escaped and every value rotor knows masked: the pass
    /// for text rotor itself writes (journal details, report messages), which quotes ids
    /// and fingerprints that a shape heuristic would mangle.
    public static func known(_ text: String) -> String {
        KnownSecrets.shared.redact(ControlCharacters.escape(text))
    }

    /// `text` from outside (a provider's answer, a command's output): control characters
    /// escaped first (`\x1b`) — a vendor's message must not drive the terminal, nor hide a
    /// secret from the mask by splitting it with an escape sequence — then every known
    /// value masked, then anything shaped like a credential (a value rotor has never
    /// seen), cut to `limit` characters.
    public static func redact(_ text: String, limit: Int = 2_000) -> String {
        var result = scrubTokens(known(text))
        if result.count > limit { result = String(result.prefix(limit)) + "…" }
        return result
    }

    /// Masks every run of token characters (letters, digits, `_-+/=.`) that looks like a
    /// credential, wherever it stands (inside JSON, after a colon…).
    static func scrubTokens(_ text: String) -> String {
        var output = ""
        var run = ""
        func flush() {
            if !run.isEmpty {
                output += looksLikeACredential(run) ? KnownSecrets.replacement : run
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

    /// A vendor prefix or a random-looking token (CredentialDetector), or 32 hex digits or
    /// more with letters and digits both (a hex key's entropy per character is too low for
    /// the random-token rule).
    private static func looksLikeACredential(_ token: String) -> Bool {
        if CredentialDetector.reason(token) != nil { return true }
        guard token.utf8.count >= 32, token.utf8.allSatisfy({ $0.isHexDigit }) else { return false }
        return token.utf8.contains(where: { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
            && token.utf8.contains(where: { !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
    }
}

private extension UInt8 {
    var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
