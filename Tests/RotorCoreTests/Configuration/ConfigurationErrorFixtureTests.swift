import Foundation
import Testing
@testable import RotorCore

/// One fixture per class of configuration error, each with the whole rendered output
/// expected beside it (`NAME.expected`): file, line, column, message, source line and
/// caret. Set ROTOR_UPDATE_FIXTURES=1 to rewrite the expectations, then review the diff.
@Suite struct ConfigurationErrorFixtureTests {
    static let folder = TestPaths.fixtures.appendingPathComponent("ConfigErrors")

    static let fixtures: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { !$0.hasSuffix(".expected") }.sorted()
    }()

    @Test func everyFixtureHasAnExpectation() {
        #expect(Self.fixtures.count >= 18)
        for name in Self.fixtures {
            let expected = Self.folder.appendingPathComponent(Self.expectationName(name)).path
            #expect(FileManager.default.fileExists(atPath: expected) || ProcessInfo.processInfo.environment["ROTOR_UPDATE_FIXTURES"] != nil,
                    "\(name) has no \(Self.expectationName(name))")
        }
    }

    @Test(arguments: fixtures)
    func rendersExactly(_ name: String) throws {
        let loader = ConfigurationLoader(workingDirectory: Self.folder.path)
        let result = loader.load(paths: [name])
        #expect(result.diagnostics.hasErrors, "\(name) should not load cleanly")
        let rendered = DiagnosticRenderer(sources: result.sources, colored: false).render(result.diagnostics.sorted)
        let expectedURL = Self.sourceFolder.appendingPathComponent(Self.expectationName(name))
        if ProcessInfo.processInfo.environment["ROTOR_UPDATE_FIXTURES"] != nil {
            try rendered.write(to: expectedURL, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: Self.folder.appendingPathComponent(Self.expectationName(name)), encoding: .utf8)
        #expect(rendered == expected)
    }

    static func expectationName(_ fixture: String) -> String {
        (fixture.hasSuffix(".yaml") ? String(fixture.dropLast(5)) : fixture) + ".expected"
    }

    /// The fixtures in the source tree (the bundle holds a copy), for rewriting expectations.
    static let sourceFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/ConfigErrors")
}

@Suite struct DiagnosticExcerptTests {
    @Test func longLinesAreCutAroundTheColumnAndTheCaretFollows() {
        let line = String(repeating: "a", count: 500) + "X" + String(repeating: "b", count: 500)
        let (excerpt, column) = DiagnosticRenderer.excerpt(of: line, around: 501)
        #expect(excerpt.hasPrefix("…") && excerpt.hasSuffix("…"))
        #expect(Array(excerpt.unicodeScalars)[column - 1] == "X")
        #expect(excerpt.unicodeScalars.count == 162)
        let short = "  key: value"
        #expect(DiagnosticRenderer.excerpt(of: short, around: 3) == (short, 3))
        let (start, startColumn) = DiagnosticRenderer.excerpt(of: line, around: 1)
        #expect(!start.hasPrefix("…") && start.hasSuffix("…") && startColumn == 1)
    }
}
