import Foundation
import Testing
@testable import RotorCore

/// rotor formats dates by arithmetic; Foundation's ISO 8601 formatter is the oracle.
@Suite struct DateFormattingTests {
    @Test func agreesWithFoundationAcrossCenturiesLeapDaysAndNegativeTimes() {
        let oracle = ISO8601DateFormatter()
        oracle.formatOptions = [.withInternetDateTime]
        var generator = SystemRandomNumberGenerator()
        let fixed: [TimeInterval] = [0, -1, 86_399, 86_400, 951_782_400 /* 2000-02-29 */, 4_107_542_399 /* 2100-02-28T23:59:59 */, -2_208_988_800 /* 1900-01-01 */]
        let random = (0..<5_000).map { _ in TimeInterval(Int.random(in: -2_208_988_800...7_258_118_400, using: &generator)) }
        for seconds in fixed + random {
            let date = Date(timeIntervalSince1970: seconds)
            let expected = oracle.string(from: date)
            #expect(DateFormatting.iso8601(date) == expected, "\(seconds)")
            #expect(DateFormatting.day(date) == String(expected.prefix(10)))
            #expect(DateFormatting.compactTimestamp(date) == expected.filter { $0 != "-" && $0 != ":" })
        }
    }

    @Test func fractionsOfASecondRoundDown() {
        #expect(DateFormatting.iso8601(Date(timeIntervalSince1970: 59.999)) == "1970-01-01T00:00:59Z")
        #expect(DateFormatting.iso8601(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59Z")
    }

    @Test func fingerprintsAreLowerCaseHex() {
        #expect(Fingerprint.of("initial-key-00000-secret-value") == "sha256:4c98b3ae452f")
        #expect(Fingerprint.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        // SHA-256 of "abc" and of nothing, against the published vectors.
        #expect(Fingerprint.of("abc") == "sha256:ba7816bf8f01")
        #expect(Fingerprint.of(bytes: []) == "sha256:e3b0c44298fc")
        #expect(Fingerprint.digest(Array("abc".utf8)) == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Fingerprint.of("é✓😀") == Fingerprint.of(bytes: Array("é✓😀".utf8)))
    }
}
