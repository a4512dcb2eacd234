import Foundation
import Testing
@testable import RotorCore

/// Events pulled on another thread (`YAMLEventPipe`) load exactly what pulling them in
/// place loads: the same nodes, marks, problems and fatal error, for every input.
@Suite struct YAMLEventPipeTests {
    static func bothWays(_ bytes: [UInt8], limits: YAMLLoadLimits = .default) -> (inPlace: String, piped: String) {
        let inPlace = YAMLLoader.load(bytes, limits: limits, publishingEntriesTo: nil, pipedFrom: .max).outline
        let piped = YAMLLoader.load(bytes, limits: limits, publishingEntriesTo: nil, pipedFrom: 0).outline
        return (inPlace, piped)
    }

    @Test(arguments: YAMLTestSuiteTests.cases)
    func everySuiteCaseLoadsTheSame(_ testCase: YAMLTestSuiteTests.Case) throws {
        let input = try [UInt8](Data(contentsOf: testCase.folder.appendingPathComponent("in.yaml")))
        let (inPlace, piped) = Self.bothWays(input)
        #expect(piped == inPlace)
    }

    /// Large files, many batches long, each ending or breaking in its own way.
    enum LargeCase: CaseIterable, Sendable {
        case clean, problemsThroughout, syntaxErrorAtTheEnd, tooDeepInTheMiddle, aliasesPastTheBound, severalDocuments
    }

    static func largeFile(_ largeCase: LargeCase) -> String {
        var text = "kind: ConsumerManifest\nconsumers:\n"
        for index in 0..<12_000 {
            text += "  c\(index):\n    uses: k\(index % 7)\n    targets:\n      - {env_file: ../d/\(index)/.env, var: 'API_KEY'}\n"
            switch (largeCase, index) {
            case (.problemsThroughout, let index) where index % 1_000 == 0:
                text += "    uses: again\n    tagged: !custom 1\n    note: !!str &n\(index) \"tagged \\u00e9\"\n"
            case (.tooDeepInTheMiddle, 6_000):
                text += "    deep: " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "\n"
            case (.aliasesPastTheBound, 0):
                text += "    shared: &big [" + Array(repeating: "x", count: 5_000).joined(separator: ", ") + "]\n"
            case (.aliasesPastTheBound, let index) where index > 0 && index % 100 == 0:
                text += "    again: *big\n"
            case (.severalDocuments, let index) where index % 3_000 == 2_999:
                text += "---\nconsumers:\n"
            default: break
            }
        }
        if largeCase == .syntaxErrorAtTheEnd { text += "  broken: [unclosed\n" }
        return text
    }

    @Test(arguments: LargeCase.allCases)
    func largeFilesLoadTheSame(_ largeCase: LargeCase) throws {
        let bytes = Array(Self.largeFile(largeCase).utf8)
        #expect(bytes.count >= YAMLLoader.pipedFromBytes)
        let (inPlace, piped) = Self.bothWays(bytes)
        #expect(piped == inPlace)
        let result = YAMLLoader.load(bytes)
        switch largeCase {
        case .clean, .severalDocuments: #expect(result.allErrors.isEmpty)
        case .problemsThroughout: #expect(result.problems.count == 24 && result.fatal == nil)
        case .syntaxErrorAtTheEnd: #expect(result.fatal?.mark.line == 48_004)
        case .tooDeepInTheMiddle: #expect(result.fatal?.message == "nesting is deeper than 64 levels; rotor refuses such files")
        case .aliasesPastTheBound: #expect(result.fatal?.message.hasPrefix("aliases expand to more than") == true)
        }
    }

    /// Entries published for decoding ahead are the same whichever way the events came.
    @Test func decodingAheadSeesTheSameEntries() throws {
        let bytes = Array(Self.largeFile(.problemsThroughout).utf8)
        var decoded: [[ConsumerSpec]] = []
        for pipedFrom in [Int.max, 0] {
            let stream = MappingEntryStream(handsOutEveryBatch: true)
            let ahead = BackgroundWork { ManifestDecoder.decodeAhead(stream, file: "m.yaml", directory: "/tmp") }
            _ = YAMLLoader.load(bytes, publishingEntriesTo: stream, pipedFrom: pipedFrom)
            decoded.append(try #require(ahead.result()).consumers)
        }
        #expect(decoded[0].count == 12_000)
        #expect(decoded[1] == decoded[0])
    }
}
