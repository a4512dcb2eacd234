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

    /// rotor's encoder against Foundation's, configured as rotor used it before: same bytes.
    static func foundation(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(DateFormatting.iso8601(date))
        }
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }

    struct Everything: Encodable {
        class Base: Encodable { var base = "b"; func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(base, forKey: .base)
        } }
        final class Derived: Base { var own = 2; override func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(own, forKey: .own)
            try super.encode(to: container.superEncoder())
        } }
        enum Keys: String, CodingKey { case base, own }

        var controls = String((0..<0x20).map { Character(Unicode.Scalar($0)!) }) + "\u{7F} é ✓ 😀 \u{2028} / \\ \""
        var numbers: [Double] = [0, -0.0, 1, 0.5, 1.5e-7, 100, 1e16, 12345678901234568, 3.14159, -2.5]
        var integers: [Int] = [0, -1, Int.max, Int.min]
        var small: [UInt8] = [0, 255]
        var floats: [Float] = [0.1, 1, 2.5e-8]
        var mixed = Mixed()
        struct Mixed: Encodable {
            var a: Int8 = -8, b: UInt64 = .max, c: Float = 0.1, d: Int32 = 7
        }
        var nested: [[String: [Int]]] = [["b": [], "a": [1, 2]], [:]]
        var keys = ["k10": 1, "k2": 2, "K3": 3, "": 4, "a b": 5, "ä": 6, "z": 7, "_": 8]
        var optional: String? = nil
        var optionals: [Int?] = [1, nil]
        var derived = Derived()
        var emptyObject: [String: String] = [:]
        var at = Date(timeIntervalSince1970: 1_795_000_000)
        var url = URL(string: "https://example.com/a?b=c")!
    }

    @Test func writesExactlyWhatFoundationWrites() throws {
        #expect(JSONOutput.encode(sample) == (try Self.foundation(sample)))
        #expect(JSONOutput.encode(Everything()) == (try Self.foundation(Everything())))
        #expect(JSONOutput.encode("top") == (try Self.foundation("top")))
        #expect(JSONOutput.encode([Int]()) == (try Self.foundation([Int]())))
    }
}
