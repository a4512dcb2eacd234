import Foundation
import Testing
@testable import RotorCore

@Suite struct YAMLLoaderTests {
    /// Loads `text` as `file.yaml` and renders every loader error exactly as rotor prints it.
    func rendered(_ text: String, limits: YAMLLoadLimits = .default) -> String {
        let result = YAMLLoader.load(text, limits: limits)
        var sources = SourceFiles()
        sources.add(Array(text.utf8), for: "file.yaml")
        let diagnostics = result.allErrors.map { Diagnostic.error($0.message, at: SourceLocation(file: "file.yaml", mark: $0.mark)) }
        return DiagnosticRenderer(sources: sources, colored: false).render(diagnostics)
    }

    @Test func marksAreOneBased() throws {
        let result = YAMLLoader.load("a: 1\nbb:\n  - x\n")
        let root = try #require(result.documents.first?.root)
        guard case .mapping(let entries) = root.content else { Issue.record("not a mapping"); return }
        #expect(entries[0].key.start == Mark(line: 1, column: 1, characterOffset: 0))
        #expect(entries[1].key.start.line == 2)
        guard case .sequence(let items) = entries[1].value.content else { Issue.record("not a sequence"); return }
        #expect(items[0].start.line == 3 && items[0].start.column == 5)
    }

    @Test func scalarsKeepTheirTextAndStyle() throws {
        let result = YAMLLoader.load("a: NO\nb: 'NO'\nc: !!str 123\nd: 0755\ne: ~\n")
        let root = try #require(result.documents.first?.root)
        guard case .mapping(let entries) = root.content else { Issue.record("not a mapping"); return }
        #expect(entries.map(\.value.scalarText) == ["NO", "NO", "123", "0755", "~"])
        #expect(entries[0].value.isPlain && !entries[1].value.isPlain)
        #expect(entries[2].value.tag == .str)
        #expect(entries[4].value.isNull && !entries[0].value.isNull)
    }

    @Test func duplicateKeysAreErrors() {
        #expect(rendered("a: 1\nb: 2\na: 3\n") == """
            file.yaml:3:1: error: duplicate key 'a' (first defined at line 1, column 1)
            a: 3
            ^

            """)
    }

    @Test func duplicateKeysAreFoundInLargeMappings() {
        let lines = (0..<100).map { "k\($0): v" } + ["k42: again"]
        let result = YAMLLoader.load(lines.joined(separator: "\n"))
        #expect(result.problems.map(\.message) == ["duplicate key 'k42' (first defined at line 43, column 1)"])
        #expect(result.problems.first?.mark.line == 101)
    }

    /// The index of a large mapping grows several times; every duplicate is still found,
    /// whatever its spelling (quoted or plain), and prefixes are not mistaken for it.
    @Test func everyDuplicateIsFoundWhileTheKeyIndexGrows() {
        var lines = (0..<5_000).map { "k\($0): v" }
        lines.insert("k3: early", at: 10)       // found by the linear scan of the first keys
        lines.append("\"k1\": quoted")          // the same bytes as k1
        lines.append("'': empty")
        lines.append("\"\": empty again")
        lines.append("k4999: last")
        let result = YAMLLoader.load(lines.joined(separator: "\n"))
        #expect(result.problems.map(\.message) == [
            "duplicate key 'k3' (first defined at line 4, column 1)",
            "duplicate key 'k1' (first defined at line 2, column 1)",
            "duplicate key '' (first defined at line 5003, column 1)",
            "duplicate key 'k4999' (first defined at line 5001, column 1)",
        ])
    }

    @Test func mergeKeysAreErrors() {
        #expect(rendered("base: &b {x: 1}\nother:\n  <<: *b\n") == """
            file.yaml:3:3: error: merge keys ('<<') are not supported; write the fields out in full
              <<: *b
              ^

            """)
    }

    @Test func nonStandardTagsAreErrors() {
        #expect(rendered("a: !!python/object:os.system x\nb: !custom y\nc: !!str ok\n") == """
            file.yaml:1:4: error: tag '!!python/object:os.system' is not allowed; rotor accepts only the standard tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq
            a: !!python/object:os.system x
               ^
            file.yaml:2:4: error: tag '!custom' is not allowed; rotor accepts only the standard tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq
            b: !custom y
               ^

            """)
    }

    @Test func syntaxErrorsNameTheirPlace() {
        #expect(rendered("a: [1, 2\nb: 3\n") == """
            file.yaml:2:2: error: did not find expected ',' or ']' while parsing a flow sequence
            b: 3
             ^

            """)
    }

    @Test func complexKeysAreErrors() {
        #expect(rendered("? [a, b]\n: c\n") == """
            file.yaml:1:3: error: a mapping key must be a scalar, not a sequence
            ? [a, b]
              ^

            """)
    }

    @Test func unknownAliasesAreErrors() {
        #expect(rendered("a: *nope\n") == """
            file.yaml:1:4: error: unknown alias '*nope': no anchor '&nope' before it in this document
            a: *nope
               ^

            """)
    }

    // MARK: Hostile input: each ends in a clear error, fast, with bounded memory.

    @Test func deepFlowNestingStopsAtTheLimit() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let result = YAMLLoader.load(text)
        #expect(result.fatal?.message == "nesting is deeper than 64 levels; rotor refuses such files")
        #expect(result.fatal?.mark == Mark(line: 1, column: 65, characterOffset: 64))
    }

    @Test func deepBlockNestingStopsAtTheLimit() {
        let text = String(repeating: "- ", count: 100_000) + "x\n"
        #expect(YAMLLoader.load(text).fatal?.message == "nesting is deeper than 64 levels; rotor refuses such files")
        let mappings = (0..<100).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n")
        let result = YAMLLoader.load(mappings)
        #expect(result.fatal?.message == "nesting is deeper than 64 levels; rotor refuses such files")
        #expect(result.fatal?.mark == Mark(line: 65, column: 65, characterOffset: result.fatal?.mark.characterOffset ?? 0))
    }

    @Test func billionLaughsIsRefused() {
        var lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for (previous, name) in zip("abcdefgh", "bcdefghi") {
            lines.append("\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]")
        }
        let result = YAMLLoader.load(lines.joined(separator: "\n"))
        #expect(result.fatal?.message == "aliases expand to more than 100000 nodes (a 'billion laughs' file?); rotor refuses it")
        #expect(result.fatal?.mark.line == 6)
    }

    @Test func aFewAliasesAreFine() throws {
        let result = YAMLLoader.load("common: &c {every: 30d}\na: *c\nb: *c\n")
        #expect(result.allErrors.isEmpty)
        guard case .mapping(let entries) = try #require(result.documents.first?.root).content else { return }
        #expect(entries[2].value.start.line == 3)
    }

    @Test func oversizedInputIsRefusedBeforeParsing() {
        let limits = YAMLLoadLimits(maxBytes: 1_000)
        let result = YAMLLoader.load(String(repeating: "a", count: 2_000), limits: limits)
        #expect(result.fatal?.message == "file is 2000 bytes; rotor reads configuration files of at most 1000 bytes")
    }

    @Test func multipleDocuments() {
        let result = YAMLLoader.load("a: 1\n---\nb: 2\n---\n")
        #expect(result.documents.count == 3)
        #expect(result.documents[1].start.line == 2)
        #expect(result.documents[2].root == nil || result.documents[2].root?.isNull == true)
    }

    @Test func anAliasSharesItsAnchorsContentAndHasItsOwnPlace() throws {
        let result = YAMLLoader.load("a: &x {k: [1, 2]}\nb: *x\nc: &s text\nd: *s\n")
        let root = try #require(result.documents.first?.root)
        guard case .mapping(let entries) = root.content else { Issue.record("not a mapping"); return }
        #expect(entries[1].value.start.line == 2 && entries[1].value.start.column == 4)
        guard case .mapping(let aliased) = entries[1].value.content,
              case .sequence(let items) = aliased.first?.value.content else { Issue.record("alias lost its content"); return }
        #expect(items.map(\.scalarText) == ["1", "2"])
        #expect(entries[3].value.scalarText == "text" && entries[3].value.start.line == 4)
    }

    @Test func largeFilesKeepEveryNodeWhenStorageGrowsPastItsFirstGuess() throws {
        // Short lines make more nodes than the loader's first guess for this size, and the
        // storage crosses from malloc to mapped memory as it grows.
        let items = (0..<200_000).map { "- \($0 % 10)" }.joined(separator: "\n")
        let result = YAMLLoader.load(items)
        let root = try #require(result.documents.first?.root)
        guard case .sequence(let nodes) = root.content else { Issue.record("not a sequence"); return }
        #expect(nodes.count == 200_000)
        #expect(nodes[199_999].scalarText == "9" && nodes[199_999].start.line == 200_000)
        #expect(nodes.indices.allSatisfy { nodes[$0].scalarText == String($0 % 10) })
    }

    /// A replica (for another thread) reads the same nodes from the same storage.
    @Test func aNodeViewedThroughAReplicaReadsTheSame() throws {
        let result = YAMLLoader.load("a: [1, {b: two}]\n", limits: .default)
        let root = try #require(result.documents.first?.root)
        let replica = root.tree.replica()
        #expect(replica !== root.tree && replica.shares(with: root.tree))
        #expect(!YAMLLoader.load("a: 1\n", limits: .default).documents[0].root!.tree.shares(with: root.tree))
        let viewed = root.viewed(through: replica)
        guard case .mapping(let entries) = viewed.content, case .sequence(let items) = entries[0].value.content,
              case .mapping(let inner) = items[1].content else { Issue.record("not the same shape"); return }
        #expect(entries[0].key.tree === replica)
        #expect(items[0].scalarText == "1" && inner[0].value.scalarText == "two" && inner[0].value.start.line == 1 && inner[0].value.start.column == 12)
    }

    @Test func anAliasAddsOneRecordNotACopyOfItsSubtree() throws {
        // Memory follows the file, not the alias-expanded tree: 50 aliases of a 1,000-item
        // sequence add 50 records, not 50,000.
        let items = (0..<1_000).map { "  - item\($0)" }.joined(separator: "\n")
        let aliases = (0..<50).map { "b\($0): *big" }.joined(separator: "\n")
        let result = YAMLLoader.load("big: &big\n\(items)\n\(aliases)\n", limits: YAMLLoadLimits(maxAliasedNodes: 100_000))
        #expect(result.allErrors.isEmpty)
        let root = try #require(result.documents.first?.root)
        #expect(root.tree.recordCount == 1 + 2 + 1_000 + 50 * 2)  // root, big: and its sequence, items, 50 keys and aliases
        guard case .mapping(let entries) = root.content, case .sequence(let aliased) = entries[50].value.content else {
            Issue.record("the last alias is not the sequence"); return
        }
        #expect(aliased.count == 1_000 && aliased[999].scalarText == "item999")
    }
}
