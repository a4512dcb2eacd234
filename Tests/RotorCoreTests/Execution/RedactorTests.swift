import Foundation
import Testing
@testable import RotorCore

/// What stands between a secret and an error message, a log line or the journal.
@Suite struct RedactorTests {
    let secret = "whsec_Canary+Value/With\"Quote\\And\u{1}Control"

    @Test func aKnownSecretIsMaskedRawAndJSONEscaped() throws {
        let redactor = Redactor([Secret(secret)])
        let escaped = String(JSONLocator.encodeString(secret).dropFirst().dropLast())
        #expect(escaped != secret)
        for text in ["vendor said: \(secret)!", "{\"error\": \"bad key \(escaped)\"}", "\(secret)\(secret)"] {
            let redacted = redactor.redact(text)
            #expect(!redacted.contains(secret) && !redacted.contains(escaped), "\(redacted)")
            #expect(redacted.contains("(redacted)"))
        }
    }

    @Test func partsOfTheSecretDoNotSurviveEither() {
        let redacted = Redactor([Secret(secret)]).redact("prefix \(secret) suffix")
        #expect(!redacted.contains("Canary+Value"))
        #expect(redacted.hasPrefix("prefix ") && redacted.hasSuffix(" suffix"), "the rest of the text stays: \(redacted)")
    }

    @Test func aCredentialShapedTokenRotorHasNotSeenIsMaskedToo() {
        let unseen = "sk-live-4f8a9b2c7d1e6f3a0b5c8d2e9f1a4b7c"
        let redacted = Redactor().redact("create failed: key \(unseen) already exists")
        #expect(!redacted.contains(unseen), "\(redacted)")
        #expect(redacted.hasPrefix("create failed: key "))
    }

    @Test func ordinaryTextIsLeftAlone() {
        let text = "POST 127.0.0.1/v3/api_keys answered 503: service unavailable (try again in 2 s)"
        #expect(Redactor([Secret(secret)]).redact(text) == text)
    }

    @Test func longTextIsCut() {
        let redacted = Redactor().redact(String(repeating: "word ", count: 1_000), limit: 100)
        #expect(redacted.count == 101 && redacted.hasSuffix("…"))
    }

    /// Found by an attacker: a vendor's escape sequences reached the terminal raw, and a
    /// secret split by one (`vk-ab\e[0mcd`) escaped the mask while a terminal showed it whole.
    @Test func controlCharactersAreEscapedBeforeMasking() {
        let secret = Secret("vk-0123456789abcdefghij")
        let split = "vk-0123456789\u{1B}[0mabcdefghij"
        let text = Redactor([secret]).redact("refused \u{1B}]0;owned\u{07}\u{1B}[2J \(split) and \(secret.reveal())")
        #expect(!text.contains("\u{1B}") && !text.contains("\u{07}"))
        #expect(text.contains("\\x1b]0;owned\\x07\\x1b[2J"), "\(text)")
        #expect(!text.contains(secret.reveal()))
    }
}
