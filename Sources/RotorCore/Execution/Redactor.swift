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
///
/// In text from outside (`Redactor.redact`: what commands print, what vendors answer), a
/// value of 16 bytes or more is also masked in pieces: any run of 8 bytes or more of it
/// (a value wrapped by `fold`, split by a space, its head or tail alone), as far as the
/// text follows the value. Not in rotor's own text (`Redactor.known`): it names generation
/// ids, and some vendors' secrets begin with their id (`key_e510feaf534b.…`). Pieces that read as words — a space in them, or only one kind
/// of character among lower case, upper case and digits — are not indexed, so that a
/// value made of words does not garble every message that uses them.
final class KnownSecrets: @unchecked Sendable {
    static let shared = KnownSecrets()

    static let replacement = "[REDACTED]"
    private static let indexedLength = 6
    private static let shortestMasked = 4
    private static let pieceLength = 8
    private static let shortestInPieces = 16

    private let lock = NSLock()
    /// Forms of the long values (as UTF-8), by their first four bytes.
    private var byPrefix: [UInt32: [[UInt8]]] = [:]
    private var known: Set<String> = []
    private var shortValues: [String] = []
    /// Values masked in pieces, and where each 8-byte piece of them starts.
    private var pieceValues: [[UInt8]] = []
    private var pieces: [UInt64: [Piece]] = [:]

    struct Piece {
        var value: Int
        var offset: Int
    }

    func add(_ value: String) {
        guard value.utf8.count >= Self.shortestMasked else { return }
        lock.withLock {
            guard known.insert(value).inserted else { return }
            let raw = Array(value.utf8)
            if raw.count >= Self.shortestInPieces {
                pieceValues.append(raw)
                for offset in 0...(raw.count - Self.pieceLength) where Self.isRandomLooking(raw[offset..<offset + Self.pieceLength]) {
                    pieces[Self.word(raw, at: offset), default: []].append(Piece(value: pieceValues.count - 1, offset: offset))
                }
            }
            let forms = Self.forms(of: value)
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

    /// The ways a value is commonly echoed by accident: as is, JSON-escaped (also with `\/`
    /// and `\u00e9` for non-ASCII, as Python writes it), with control characters escaped,
    /// percent-encoded (a query string, a form body), and base64 (an `Authorization`
    /// header, a config dump). A hostile command can always encode it some other way —
    /// commands that receive a secret are trusted with it (docs/reliability.md).
    static func forms(of value: String) -> Set<String> {
        let json = String(JSONLocator.encodeString(value).dropFirst().dropLast())
        var asciiJSON = "", upperJSON = ""
        for scalar in json.unicodeScalars {
            if scalar.isASCII { asciiJSON.unicodeScalars.append(scalar); upperJSON.unicodeScalars.append(scalar); continue }
            for unit in String(scalar).utf16 {
                asciiJSON += String(format: "\\u%04x", unit)
                upperJSON += String(format: "\\u%04X", unit)
            }
        }
        let bytes = Data(value.utf8)
        let base64 = bytes.base64EncodedString()
        let base64URL = base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        var forms: Set<String> = [value, json, json.replacingOccurrences(of: "/", with: "\\/"), asciiJSON,
                                  asciiJSON.replacingOccurrences(of: "/", with: "\\/"), upperJSON, ControlCharacters.escape(value),
                                  base64, base64URL, String(base64.prefix { $0 != "=" }), String(base64URL.prefix { $0 != "=" })]
        // Every byte but the unreserved ones; also keeping '/' (Python's quote(), encodeURI).
        for (hex, space, kept) in [("%02X", "%20", "-._~"), ("%02x", "%20", "-._~"), ("%02X", "+", "-._~"), ("%02X", "%20", "-._~/")] {
            var encoded = ""
            for byte in value.utf8 {
                if byte == 0x20 { encoded += space; continue }
                let unreserved = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || kept.utf8.contains(byte)
                encoded += unreserved ? String(UnicodeScalar(byte)) : "%" + String(format: hex, byte)
            }
            forms.insert(encoded)
        }
        return forms
    }

    /// `text` with every known value replaced by `[REDACTED]`; with `inPieces`, every piece
    /// of 8 bytes or more of a value of 16 or more too.
    func redact(_ text: String, inPieces: Bool = false) -> String {
        let (index, short, pieces, pieceValues) = lock.withLock { (byPrefix, shortValues, inPieces ? self.pieces : [:], self.pieceValues) }
        var result = index.isEmpty ? text : Self.maskIndexed(text, index, pieces: pieces, pieceValues: pieceValues)
        for value in short where result.contains(value) {
            result = Self.maskStandingAlone(value, in: result)
        }
        return result
    }

    private static func prefix(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    /// Eight bytes as one number, for the pieces' index.
    private static func word(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var word: UInt64 = 0
        for byte in bytes[offset..<offset + pieceLength] { word = word << 8 | UInt64(byte) }
        return word
    }

    /// No white space, and at least two kinds of character among lower case, upper case
    /// and digits: a piece of a random value, not of a word.
    private static func isRandomLooking(_ piece: ArraySlice<UInt8>) -> Bool {
        var lower = false, upper = false, digit = false
        for byte in piece {
            switch byte {
            case 0x09, 0x0A, 0x0D, 0x20: return false
            case UInt8(ascii: "a")...UInt8(ascii: "z"): lower = true
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): upper = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = true
            default: break
            }
        }
        return [lower, upper, digit].filter { $0 }.count >= 2
    }

    /// How many bytes from `position` follow a known value from one of its pieces (0: none).
    private static func pieceMatch(_ bytes: [UInt8], at position: Int, _ pieces: [UInt64: [Piece]], _ values: [[UInt8]]) -> Int {
        guard !pieces.isEmpty, position + pieceLength <= bytes.count, let hits = pieces[word(bytes, at: position)] else { return 0 }
        var longest = 0
        for hit in hits {
            let value = values[hit.value]
            var length = pieceLength
            while position + length < bytes.count, hit.offset + length < value.count, bytes[position + length] == value[hit.offset + length] { length += 1 }
            longest = max(longest, length)
        }
        return longest
    }

    private static func maskIndexed(_ text: String, _ index: [UInt32: [[UInt8]]], pieces: [UInt64: [Piece]], pieceValues: [[UInt8]]) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count >= indexedLength else { return text }
        var output: [UInt8] = []
        var position = 0, copiedUpTo = 0
        var changed = false
        while position + 4 <= bytes.count {
            var length = 0
            if let candidates = index[prefix(bytes, at: position)],
               let match = candidates.first(where: { position + $0.count <= bytes.count && bytes[position..<position + $0.count].elementsEqual($0) }) {
                length = match.count
            } else {
                length = pieceMatch(bytes, at: position, pieces, pieceValues)
            }
            if length > 0 {
                output += bytes[copiedUpTo..<position]
                output += Array(replacement.utf8)
                position += length
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
        var result = scrubTokens(KnownSecrets.shared.redact(ControlCharacters.escape(text), inPieces: true))
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

    /// A vendor prefix or a random-looking token (CredentialDetector), or one holding 32 hex
    /// digits or more in a row with letters and digits both (`vs_7c33…`: a hex key's
    /// entropy per character is too low for the random-token rule).
    private static func looksLikeACredential(_ token: String) -> Bool {
        if CredentialDetector.reason(token) != nil { return true }
        var run = 0, letters = false, digits = false
        for byte in token.utf8 {
            guard byte.isHexDigit else { run = 0; letters = false; digits = false; continue }
            run += 1
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { digits = true } else { letters = true }
            if run >= 32, letters, digits { return true }
        }
        return false
    }
}

private extension UInt8 {
    var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
