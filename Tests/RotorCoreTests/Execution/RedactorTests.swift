import Foundation
import Testing
@testable import RotorCore

/// What stands between a secret and an error message, a log line or the journal: every
/// `Secret` made is known to one redactor, whatever its shape.
@Suite struct RedactorTests {
    let secret = "whsec_Canary+Value/With\"Quote\\And\u{1}Control"

    @Test func aKnownSecretIsMaskedRawJSONEscapedAndControlEscaped() throws {
        _ = Secret(secret)
        let escaped = String(JSONLocator.encodeString(secret).dropFirst().dropLast())
        #expect(escaped != secret)
        for text in ["vendor said: \(secret)!", "{\"error\": \"bad key \(escaped)\"}", "\(secret)\(secret)"] {
            let redacted = Redactor.redact(text)
            #expect(!redacted.contains(secret) && !redacted.contains(escaped) && !redacted.contains("Canary+Value"), "\(redacted)")
            #expect(redacted.contains("[REDACTED]"))
        }
        #expect(Redactor.known("prefix \(secret) suffix") == "prefix [REDACTED] suffix")
    }

    /// Found by an attacker (#18): a vendor CLI echoed values the shape heuristic misses —
    /// a short one, 40 hex digits, words with spaces — into the journal and the audit log.
    @Test func valuesOfAnyShapeAreMaskedOnceKnown() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
        let spaced = "correct horse battery staple"
        let short = "k3Xq"
        for value in [hex, spaced, short] { _ = Secret(value) }
        let text = Redactor.known("cannot delete AK1 (secret \(hex)); (secret \(spaced)); (secret \(short))")
        #expect(text == "cannot delete AK1 (secret [REDACTED]); (secret [REDACTED]); (secret [REDACTED])", "\(text)")
        // A short value is masked where it stands alone, not inside every word holding it.
        #expect(Redactor.known("k3Xqz and xk3Xq stay") == "k3Xqz and xk3Xq stay")
    }

    /// Found by an attacker (#22): a reload that printed the key it loaded wrapped at 16
    /// columns (`fold -w 16`) put every piece of a live secret on the report page; a head or
    /// tail alone, or halves split by a space, passed too. Pieces of 8 bytes or more of a
    /// value of 16 or more are masked; pieces that read as words (one kind of character,
    /// or a space) are not, so ordinary messages are not garbled.
    @Test func piecesOfAKnownValueAreMasked() {
        let value = "whsec_Gt5SKY1X2xW1GWeZBexaWedV8bTKx7J0QaH3NRkoRo"
        _ = Secret(value)
        let folded = stride(from: 0, to: value.count, by: 16).map { String(value.dropFirst($0).prefix(16)) }.joined(separator: "\n")
        let redacted = Redactor.redact("reload failed after rollback: loaded\n\(folded)\n")
        for piece in folded.split(separator: "\n") where piece.count >= 8 {
            #expect(!redacted.contains(piece), "\(piece) in \(redacted)")
        }
        #expect(Redactor.redact("head \(value.prefix(12)) tail \(value.suffix(10))") == "head [REDACTED] tail [REDACTED]")
        #expect(Redactor.redact("\(value.prefix(24)) \(value.dropFirst(24))") == "[REDACTED] [REDACTED]")
        // A piece is masked whole, as far as it follows the value, and no further.
        #expect(Redactor.redact("id=\(value.dropFirst(3).prefix(20))ZZZ") == "id=[REDACTED]ZZZ")
        // Under 8 bytes, or a value under 16, is not cut into pieces.
        #expect(Redactor.redact("x \(value.prefix(7)) y") == "x \(value.prefix(7)) y")
        _ = Secret("Short9Value1x")
        #expect(Redactor.redact("Short9Value") == "Short9Value")
        // Pieces that read as words are not masked: a value made of words stays whole-only.
        _ = Secret("correct horse battery staple 42")
        #expect(Redactor.redact("the correct horse was battery powered") == "the correct horse was battery powered")
    }

    /// Found by a second attack: some vendors' secrets begin with the key's id
    /// (`key_e510feaf534b.…`), and pieces masked in rotor's own messages hid the id
    /// ("rotated to [REDACTED]"). Rotor's own text masks whole values only; what commands
    /// and vendors print is masked in pieces.
    @Test func rotorsOwnTextKeepsAnIdThatBeginsTheSecret() {
        _ = Secret("key_e510feaf534b.Qm7Xz2Lp9Rt4Vw6Yb1Nc")
        #expect(Redactor.known("rotated to key_e510feaf534b") == "rotated to key_e510feaf534b")
        #expect(Redactor.redact("vendor echoed .Qm7Xz2Lp9Rt4") == "vendor echoed [REDACTED]")
    }

    @Test func aValueInsideALongerKnownValueDoesNotSplitIt() {
        _ = Secret("abcdefgh12")
        _ = Secret("abcdefgh1234567890")
        #expect(Redactor.known("x abcdefgh1234567890 y") == "x [REDACTED] y")
    }

    @Test func aCredentialShapedTokenRotorHasNotSeenIsMaskedToo() {
        let unseen = "sk-live-4f8a9b2c7d1e6f3a0b5c8d2e9f1a4b7c"
        let redacted = Redactor.redact("create failed: key \(unseen) already exists")
        #expect(redacted == "create failed: key [REDACTED] already exists", "\(redacted)")
        let hex = "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33"
        #expect(Redactor.redact("token \(hex)") == "token [REDACTED]")
        // Found by a reviewer (#18): 32 hex digits behind a vendor's own prefix.
        #expect(Redactor.redact("bad gateway, created vs_7c33141e0d1bec24319834737bb79631") == "bad gateway, created [REDACTED]")
        // …but not what rotor itself writes about ids (`known` applies no heuristic).
        #expect(Redactor.known("created AKIAI0SF0DNN7EXAMPLE") == "created AKIAI0SF0DNN7EXAMPLE")
    }

    @Test func ordinaryTextIsLeftAlone() {
        _ = Secret(secret)
        let text = "POST 127.0.0.1/v3/api_keys answered 503: service unavailable (try again in 2 s)"
        #expect(Redactor.redact(text) == text)
    }

    @Test func longTextIsCut() {
        let redacted = Redactor.redact(String(repeating: "word ", count: 1_000), limit: 100)
        #expect(redacted.count == 101 && redacted.hasSuffix("…"))
    }

    /// Found by an attacker: a vendor's escape sequences reached the terminal raw, and a
    /// secret split by one (`vk-ab\e[0mcd`) escaped the mask while a terminal showed it whole.
    @Test func controlCharactersAreEscapedBeforeMasking() {
        let secret = Secret("vk-0123456789abcdefghij")
        let split = "vk-0123456789\u{1B}[0mabcdefghij"
        let text = Redactor.redact("refused \u{1B}]0;owned\u{07}\u{1B}[2J \(split) and \(secret.reveal())")
        #expect(!text.contains("\u{1B}") && !text.contains("\u{07}"))
        #expect(text.contains("\\x1b]0;owned\\x07\\x1b[2J"), "\(text)")
        #expect(!text.contains(secret.reveal()))
    }

    /// A fleet's thousands of values are found through an index, not one search each.
    @Test func manyKnownValuesAreAllFound() {
        let values = (0..<3_000).map { "fleet-\($0)-" + String(repeating: "q", count: $0 % 17) }
        for value in values { _ = Secret(value) }
        for value in values.shuffled().prefix(200) {
            #expect(Redactor.known("(\(value))") == "([REDACTED])", "\(value)")
        }
    }

    /// Found by an attacker (#18): the forms an echo takes by accident.
    @Test func encodedFormsOfAKnownValueAreMasked() {
        let value = "pé/s+w:rd x&y=z?é~"
        _ = Secret(value)
        for form in ["p%C3%A9%2Fs%2Bw%3Ard%20x%26y%3Dz%3F%C3%A9~", "p%C3%A9%2Fs%2Bw%3Ard+x%26y%3Dz%3F%C3%A9~",
                     Data(value.utf8).base64EncodedString(), "p\\u00e9/s+w:rd x&y=z?\\u00e9~", "p\\u00e9\\/s+w:rd x&y=z?\\u00e9~",
                     // Python's quote() keeps '/' (so does encodeURI); JSON escapes in upper case.
                     "p%C3%A9/s%2Bw%3Ard%20x%26y%3Dz%3F%C3%A9~", "p\\u00E9/s+w:rd x&y=z?\\u00E9~"] {
            #expect(Redactor.known("echo: \(form).") == "echo: [REDACTED].", "\(form)")
        }
    }
}
