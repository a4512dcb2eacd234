import Foundation
import Testing
@testable import RotorCore

/// rotor's JSON output (`--json`, saved plans): what Foundation reads back from it.
@Suite struct JSONOutputTests {
    struct Inner: Codable, Equatable {
        var name: String
        var tags: [String]
        var ratio: Double
    }

    struct Document: Codable, Equatable {
        enum Outcome: String, Codable { case rotated, failed }
        var text: String
        var count: Int
        var flag: Bool
        var missing: String?
        var present: String?
        var outcome: Outcome
        var at: Date
        var inner: Inner
        var list: [Inner]
        var empty: [Int]
        var map: [String: Int]
    }

    let sample = Document(
        text: "quote \" backslash \\ slash / newline \n tab \t bell \u{07} é ✓", count: -42, flag: true, missing: nil, present: "yes",
        outcome: .failed, at: Date(timeIntervalSince1970: 1_795_000_000), inner: Inner(name: "a", tags: ["x", "y"], ratio: 0.25),
        list: [Inner(name: "b", tags: [], ratio: 3)], empty: [], map: ["zeta": 1, "alpha": 2])

    @Test func foundationReadsBackWhatItWrote() throws {
        let text = JSONOutput.encode(sample)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        #expect(try decoder.decode(Document.self, from: Data(text.utf8)) == sample)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["missing"] == nil)
        #expect(object["at"] as? String == "2026-11-18T11:06:40Z")
    }

    @Test func keysAreSorted() {
        struct Small: Encodable { var b = 1; var a = [true]; var c = "x" }
        let text = JSONOutput.encode(Small())
        let positions = ["\"a\"", "\"b\"", "\"c\""].compactMap { text.range(of: $0)?.lowerBound }
        #expect(positions.count == 3 && positions == positions.sorted())
    }

    @Test func controlCharactersAreEscapedAndSlashesAreNot() {
        #expect(JSONOutput.encode(["k": "a/b\u{01}\u{1F}"]) == "{\n  \"k\" : \"a/b\\u0001\\u001f\"\n}\n")
    }

    @Test func numbersKeepTheirValue() throws {
        let values: [Double] = [0, 1, -1, 0.1, 1e-7, 123456.789, 1e20]
        let text = JSONOutput.encode(values)
        #expect(try JSONDecoder().decode([Double].self, from: Data(text.utf8)) == values)
        #expect(JSONOutput.encode([Double.nan]) == "{}\n")
    }

    /// Foundation's encoder configured as `JSONOutput` is: what `JSONWriter` must match.
    static func foundation(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(DateFormatting.iso8601(date))
        }
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}
