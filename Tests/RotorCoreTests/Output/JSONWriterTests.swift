import Foundation
import Testing
@testable import RotorCore

/// `JSONWriter` writes the plan without `Encodable`; these hold it to the bytes the
/// `Encodable` path (and so Foundation's encoder) writes for the same values.
@Suite struct JSONWriterTests {
    /// The document `plan --json` wrote through `Encodable` before `JSONWriter`.
    struct EncodableDocument: Encodable {
        var version: Int
        var generatedAt: Date
        var keys: [KeyPlan]
        var summary: PlanSummary
        var warnings: [String]

        enum CodingKeys: String, CodingKey {
            case version, keys, summary, warnings
            case generatedAt = "generated_at"
        }
    }

    static let created = Date(timeIntervalSince1970: 1_790_000_000)

    /// Every member set, with text that needs escaping.
    static func fullKey(_ index: Int) -> KeyPlan {
        KeyPlan(
            key: "key-\(index)", provider: "vendor \"α\"", providerType: "http", due: true,
            reason: "current generation is 95d old (every 90d)\ttab", emergency: index % 2 == 0,
            current: GenerationRecord(id: "gen/\(index)", fingerprint: "sha256:0123456789ab", created: created,
                                      pendingDeletionAt: created.addingTimeInterval(3600)),
            nextDue: created.addingTimeInterval(86_400), blockers: ["svc: deploy/.env:API_KEY is unreadable: \\ back\u{01}"],
            steps: [
                PlanStep(step: .preflight, detail: "check 1 target"),
                PlanStep(step: .verifyKey, detail: "GET https://example.com/v1/me expects 200"),
                PlanStep(step: .update, consumer: "svc-\(index)", target: "deploy/svc/.env:API_KEY", targetType: "env_file",
                         current: "sha256:ba9876543210", detail: "write the new generation to env_file deploy/svc/.env:API_KEY as \"Bearer {secret}\"",
                         status: .ok),
            ])
    }

    /// Every optional member nil and every array empty.
    static func bareKey(_ index: Int) -> KeyPlan {
        KeyPlan(key: "bare-\(index)", provider: "p", providerType: "manual", due: false, reason: "rotated on demand only",
                emergency: false, current: GenerationRecord(id: "g", fingerprint: "f", created: created), nextDue: nil,
                blockers: [], steps: [])
    }

    func render(_ keys: [KeyPlan], warnings: [String]) throws -> (written: String, encoded: String, foundation: String) {
        let plan = Plan(generatedAt: Self.created, keys: keys)
        let document = EncodableDocument(version: plan.version, generatedAt: plan.generatedAt, keys: plan.keys,
                                         summary: PlanSummary(plan), warnings: warnings)
        return (PlanJSONRenderer.render(plan, warnings: warnings), JSONOutput.encode(document), try JSONOutputTests.foundation(document))
    }

    @Test func aPlanIsWrittenAsItsEncodableFormIsEncoded() throws {
        let small = try render([Self.fullKey(0), Self.bareKey(1)], warnings: ["a/.env holds key 'k'"])
        #expect(small.written == small.encoded)
        #expect(small.written == small.foundation)
        let empty = try render([], warnings: [])
        #expect(empty.written == empty.encoded)
    }

    /// Enough keys that they are written on every core, then joined in order.
    @Test func keysWrittenOnEveryCoreLandInOrder() throws {
        let keys = (0..<300).map { $0 % 3 == 0 ? Self.bareKey($0) : Self.fullKey($0) }
        let large = try render(keys, warnings: (0..<5).map { "file-\($0)" })
        #expect(large.written == large.encoded)
    }

    /// Long lists of strings (warnings; the summary's files, one level deeper) are written
    /// on every core too, as runs of elements joined in order.
    @Test func longListsOfStringsWrittenOnEveryCoreLandInOrder() throws {
        let keys = (0..<2_000).map { index in
            KeyPlan(key: "k\(index)", provider: "p", providerType: "generate", due: true, reason: "r", emergency: false,
                    current: nil, nextDue: nil, blockers: [],
                    steps: [PlanStep(step: .update, consumer: "c\(index)", target: "dir-\(index)/.env:K", targetType: "env_file", detail: "write")])
        }
        let large = try render(keys, warnings: (0..<3_000).map { "file-\($0) \"quoted\"\n" })
        #expect(large.written == large.encoded)
        #expect(large.written == large.foundation)
    }

    @Test func stringsAreEscapedAsTheEncoderEscapesThem() {
        let text = String((0..<0x20).map { Character(Unicode.Scalar($0)!) }) + "\u{7F} é ✓ 😀 / \\ \""
        var json = JSONWriter()
        json.string(text)
        #expect(String(decoding: json.bytes, as: UTF8.self) + "\n" == JSONOutput.encode(text))
    }

    /// Every byte that needs an escape, at every offset of a long string (the writer
    /// skips eight clean bytes at a time), against Foundation's encoder.
    @Test func escapesAreFoundAtEveryOffset() throws {
        let specials: [Character] = ["\"", "\\", "\n", "\u{01}", "\u{1F}", "\t", "é", "/", "\u{7F}"]
        for special in specials {
            for offset in 0..<20 {
                var text = String(repeating: "a", count: 24)
                text.insert(special, at: text.index(text.startIndex, offsetBy: offset))
                var json = JSONWriter()
                json.string(text)
                #expect(String(decoding: json.bytes, as: UTF8.self) + "\n" == (try JSONOutputTests.foundation(text)), "\(special) at \(offset)")
            }
        }
    }

    /// Indentation is copied from a row of 64 spaces; deeper levels take the slow path.
    /// Both are held to Foundation's layout, 40 levels down.
    @Test func deepNestingIsIndentedAsFoundationIndents() throws {
        indirect enum Nest: Encodable {
            case leaf(String), list([Nest])
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                switch self {
                case .leaf(let text): try container.encode(text)
                case .list(let items): try container.encode(items)
                }
            }
            func write(to json: inout JSONWriter) {
                switch self {
                case .leaf(let text): json.string(text)
                case .list(let items): json.array(items) { json, item in item.write(to: &json) }
                }
            }
        }
        let nest = (0..<40).reduce(Nest.leaf("bottom")) { inner, level in .list([inner, .leaf("level \(level)"), .list([])]) }
        var json = JSONWriter()
        nest.write(to: &json)
        #expect(String(decoding: json.bytes, as: UTF8.self) + "\n" == (try JSONOutputTests.foundation(nest)))
    }

    /// `status --json` as it was written through `Encodable`, against the writer.
    @Test func aStatusIsWrittenAsItsEncodableFormIsEncoded() throws {
        struct EncodableStatus: Encodable { var interrupted_runs: [String] = []; var version = 1; var keys: [StatusCommand.KeyStatus]; var warnings: [String] }
        let full = StatusCommand.KeyStatus(
            key: "k \"1\"", current: Self.fullKey(0).current, ageSeconds: 86_400, nextDue: Self.created, overdue: true,
            pendingDeletion: GenerationRecord(id: "old", fingerprint: "sha256:000000000000", created: Self.created),
            targets: [
                StatusCommand.TargetStatus(consumer: "api", target: "deploy/.env:API_KEY", type: "env_file", state: .inSync,
                                           fingerprint: "sha256:0123456789ab", reason: nil),
                StatusCommand.TargetStatus(consumer: "job", target: "[read-key]", type: "exec", state: .unknown,
                                           fingerprint: nil, reason: "an exec target with no 'read' command\n"),
            ])
        let bare = StatusCommand.KeyStatus(key: "bare", current: nil, ageSeconds: nil, nextDue: nil, overdue: false,
                                           pendingDeletion: nil, targets: [])
        for keys in [[full, bare], [], (0..<300).map { $0 % 2 == 0 ? full : bare }] {
            let warnings = keys.isEmpty ? [] : ["a/.env holds key 'k'"]
            let written = String(decoding: StatusCommand.jsonBytes(keys, warnings: warnings), as: UTF8.self)
            #expect(written == JSONOutput.encode(EncodableStatus(keys: keys, warnings: warnings)))
            #expect(written == (try JSONOutputTests.foundation(EncodableStatus(keys: keys, warnings: warnings))))
        }
    }
}
