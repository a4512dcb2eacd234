import Foundation
import Testing
@testable import RotorCore

/// Runs every case of the official YAML test suite through rotor's event parser and
/// loader. libyaml 0.2.5's own known differences are expected, not failed on; what must
/// never happen is a crash, a hang, or an error without a line and column.
@Suite struct YAMLTestSuiteTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var id: String
        var folder: URL
        var isError: Bool
        /// libyaml 0.2.5's known disagreement: REJECTED-VALID, ACCEPTED-INVALID or WRONG-EVENTS.
        var libyamlDiffers: String?
        var testDescription: String { id }
    }

    static let cases: [Case] = {
        let root = TestPaths.yamlTestSuite
        let differs = (try? String(contentsOf: root.appendingPathComponent("LIBYAML-0.2.5-DIFFERS.txt"), encoding: .utf8)) ?? ""
        var known: [String: String] = [:]
        for line in differs.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2)
            if fields.count >= 2 { known[String(fields[0])] = String(fields[1]) }
        }
        let fileManager = FileManager.default
        var result: [Case] = []
        let ids = ((try? fileManager.contentsOfDirectory(atPath: root.path)) ?? []).sorted()
        for id in ids {
            let folder = root.appendingPathComponent(id)
            let variants = fileManager.fileExists(atPath: folder.appendingPathComponent("in.yaml").path)
                ? [("", folder)]
                : ((try? fileManager.contentsOfDirectory(atPath: folder.path)) ?? []).sorted().map { ("/" + $0, folder.appendingPathComponent($0)) }
            for (suffix, variantFolder) in variants where fileManager.fileExists(atPath: variantFolder.appendingPathComponent("in.yaml").path) {
                let caseID = id + suffix
                result.append(Case(id: caseID, folder: variantFolder,
                                   isError: fileManager.fileExists(atPath: variantFolder.appendingPathComponent("error").path),
                                   libyamlDiffers: known[caseID]))
            }
        }
        return result
    }()

    @Test func theSuiteIsPresent() {
        #expect(Self.cases.count > 350, "expected the YAML test suite at \(TestPaths.yamlTestSuite.path)")
    }

    @Test(arguments: cases)
    func eventsMatchTheSuite(_ testCase: Case) throws {
        let input = try [UInt8](Data(contentsOf: testCase.folder.appendingPathComponent("in.yaml")))
        let (events, error) = Self.events(input)
        if let error {
            #expect(error.mark.line >= 1 && error.mark.column >= 1, "error without a position: \(error)")
        }
        switch (testCase.isError, testCase.libyamlDiffers) {
        case (_, "WRONG-EVENTS"?), (_, "ACCEPTED-INVALID"?):
            return  // libyaml's known behaviour; only no crash and positioned errors are required
        case (true, _):
            #expect(error != nil, "invalid YAML was accepted")
        case (false, "REJECTED-VALID"?):
            #expect(error != nil, "libyaml 0.2.5 is known to reject this valid case; if it now passes, update the list")
        case (false, _):
            #expect(error == nil, "valid YAML was rejected: \(String(describing: error))")
            let expected = try String(contentsOf: testCase.folder.appendingPathComponent("test.event"), encoding: .utf8)
                .split(separator: "\n").map(String.init)
            #expect(events == expected)
        }
    }

    @Test(arguments: cases)
    func loaderBuildsNodesOrReportsAPositionedError(_ testCase: Case) throws {
        let input = try [UInt8](Data(contentsOf: testCase.folder.appendingPathComponent("in.yaml")))
        let result = YAMLLoader.load(input)
        for error in result.allErrors {
            #expect(error.mark.line >= 1 && error.mark.column >= 1, "error without a position: \(error)")
            #expect(!error.message.isEmpty)
        }
        if testCase.isError, testCase.libyamlDiffers == nil {
            #expect(result.fatal != nil)
        }
        if !testCase.isError, testCase.libyamlDiffers == nil {
            #expect(result.fatal == nil)
            let expected = try String(contentsOf: testCase.folder.appendingPathComponent("test.event"), encoding: .utf8)
            let documentCount = expected.split(separator: "\n").filter { $0.hasPrefix("+DOC") }.count
            #expect(result.documents.count == documentCount)
        }
    }

    /// The event stream in the suite's `test.event` notation, and the error that ended it.
    static func events(_ input: [UInt8]) -> ([String], YAMLError?) {
        YAMLEventParser.withParser(over: input) { parser in
            var lines: [String] = []
            do throws(YAMLError) {
                while true {
                    let event = try parser.next()
                    lines.append(notation(event))
                    if case .streamEnd = event { return (lines, nil) }
                }
            } catch {
                return (lines, error)
            }
        }
    }

    static func notation(_ event: YAMLEvent) -> String {
        func properties(_ anchor: String?, _ tag: String?) -> String {
            (anchor.map { " &\($0)" } ?? "") + (tag.map { " <\($0)>" } ?? "")
        }
        switch event {
        case .streamStart: return "+STR"
        case .streamEnd: return "-STR"
        case .documentStart(_, let implicit): return implicit ? "+DOC" : "+DOC ---"
        case .documentEnd(_, let implicit): return implicit ? "-DOC" : "-DOC ..."
        case .mappingStart(let anchor, let tag, let flow, _): return "+MAP" + (flow ? " {}" : "") + properties(anchor, tag)
        case .mappingEnd: return "-MAP"
        case .sequenceStart(let anchor, let tag, let flow, _): return "+SEQ" + (flow ? " []" : "") + properties(anchor, tag)
        case .sequenceEnd: return "-SEQ"
        case .alias(let anchor, _): return "=ALI *\(anchor)"
        case .scalar(let value, let anchor, let tag, let style, _, _):
            let indicator = switch style {
            case .plain: ":"
            case .singleQuoted: "'"
            case .doubleQuoted: "\""
            case .literal: "|"
            case .folded: ">"
            }
            return "=VAL" + properties(anchor, tag) + " " + indicator + escape(value)
        }
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\0": out += "\\0"
            case "\u{08}": out += "\\b"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
