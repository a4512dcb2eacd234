import Foundation
import Testing
@testable import RotorCore

/// The matcher under `rotor scan`, on real files: exact copies only, wherever the reads cut
/// the file.
@Suite struct CopyFinderTests {
    static let hexKey = "0123456789abcdef0123456789abcdef"  // 32, [0-9a-f]
    static let base64Key = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9v+/=="  // 40, with '+', '/', '='

    /// `[needle, line]` of each copy, in order.
    private func find(_ text: [UInt8], _ needles: [ScanNeedle]) throws -> [[Int]] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("copy-finder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("f")
        try Data(text).write(to: file)
        let descriptor = open(file.path, O_RDONLY)
        defer { close(descriptor) }
        guard case .matches(let matches, let bytes, _) = CopyFinder(ScanNeedles(needles)).scan(descriptor) else {
            Issue.record("not searched")
            return []
        }
        #expect(bytes == text.count)
        return matches.map { [$0.needle, $0.line] }
    }

    private func byValue(_ value: String, key: String = "k") -> ScanNeedle {
        ScanNeedle(key: key, generation: .current, generationID: "g", value: Secret(value))
    }

    @Test func aValueIsFoundAcrossEveryReadBoundary() throws {
        // The value at every offset around the first read's end (1 MiB + carry), in a line
        // of spaces and in a run of letters no needle could end.
        for offset in [CopyFinder.chunkSize - 40, CopyFinder.chunkSize - 1, CopyFinder.chunkSize + (64 << 10) - 20, CopyFinder.chunkSize + (64 << 10) + 3] {
            var text = [UInt8](repeating: UInt8(ascii: " "), count: offset)
            text += Array(Self.hexKey.utf8) + Array(" tail\nnext line\n".utf8)
            let matches = try find(text, [byValue(Self.hexKey)])
            #expect(matches == [[0, 1]], "offset \(offset)")
        }
        // A run of alphabet bytes longer than what is carried between reads: cut, and the
        // value at its end still found (a window at the cut is an exact copy too).
        let run = [UInt8](repeating: UInt8(ascii: "a"), count: 3 << 20)
        let matches = try find(Array("x\n".utf8) + run + Array(Self.hexKey.utf8) + Array("\n".utf8), [byValue(Self.hexKey)])
        #expect(matches == [[0, 2]])
    }

    /// Found by an attacker: with two keys of different alphabets, a copy of the narrower
    /// one inside a run of more than 64 KiB of their union was missed where the read was cut.
    @Test func aCopyAcrossAForcedCutIsFound() throws {
        let upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF"  // makes 'G'… part of the union
        for shift in [-40, -33, -32, -20, -1, 0, 1, 20, 31, 32, 40] {
            let cut = CopyFinder.chunkSize + (64 << 10) - 32  // where the first forced cut falls
            var text = [UInt8](repeating: UInt8(ascii: "G"), count: cut + shift)
            text += Array(Self.hexKey.utf8) + [UInt8](repeating: UInt8(ascii: "G"), count: 200_000) + Array("\n".utf8)
            let matches = try find(text, [byValue(Self.hexKey), byValue(upper, key: "u")])
            #expect(matches == [[0, 1]], "shift \(shift): \(matches)")
        }
    }

    @Test func copiesAreWholeRunsOrTheirEnds() throws {
        let needles = [byValue(Self.hexKey, key: "hex"), byValue(Self.base64Key, key: "b64")]
        let text = """
            HEX=\(Self.hexKey)
            B64=\(Self.base64Key)
            inside_\(Self.hexKey)_word
            \(Self.hexKey.dropLast())
            \(Self.hexKey)f
            "\(Self.base64Key)",
            \(Self.hexKey.prefix(16))
            \(Self.hexKey.dropFirst(16))
            """
        let matches = try find(Array(text.utf8), needles)
        // 1: '=' is not hex; 2: `B64=…` is one base64 run ('=' is base64) that ends with the
        // value; 3: '_' ends a hex run; 4: one short; 5: a run that starts with the value;
        // 6: quoted; 7–8: split across lines, not a copy.
        #expect(matches == [
            [0, 1], [1, 2], [0, 3],
            [0, 5], [1, 6],
        ], "\(matches)")
    }

    @Test func earlierGenerationsAreFoundByFingerprintOnly() throws {
        let old = "0000111122223333444455556666777f"
        let needle = ScanNeedle(key: "k", generation: .previous, generationID: "old", fingerprint: Fingerprint.of(old),
                                shapes: [ValueShape(of: Array(Self.hexKey.utf8))])
        let matches = try find(Array("a=\(Self.hexKey)\r\nb=\(old)\r\nc=\(old.dropLast())e\r\n".utf8), [needle])
        #expect(matches == [[0, 2]])
    }

    /// Found by an operator: an earlier generation was looked for with the characters of
    /// the value now, and one with a `-` the value now lacks was missed (2 of 10 rotations).
    @Test func aWidenedShapeFindsAnEarlierValueWithAnotherSymbol() throws {
        let now = ValueShape(of: Array("whsec_abcdefghABCDEFGH0123456789abcdefghABCDEFG".utf8))
        let old = "whsec_abc-efghABCDEFGH0123456789abcdefghABCDEFG"
        let narrow = ScanNeedle(key: "k", generation: .previous, generationID: nil, fingerprint: Fingerprint.of(old), shapes: [now])
        #expect(try find(Array("K=\(old)\n".utf8), [narrow]).isEmpty, "the narrow shape splits the value at '-'")
        let wide = ScanNeedle(key: "k", generation: .previous, generationID: nil, fingerprint: Fingerprint.of(old), shapes: [now.widened(by: "-_+/=")])
        #expect(try find(Array("K=\(old)\n".utf8), [wide]) == [[0, 1]])
    }

    @Test func aBinaryFileIsNotSearched() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("copy-finder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data([0x7F, 0x45, 0x4C, 0x46, 0] + Array(" \(Self.hexKey) ".utf8)).write(to: folder.appendingPathComponent("elf"))
        let descriptor = open(folder.appendingPathComponent("elf").path, O_RDONLY)
        defer { close(descriptor) }
        guard case .binary = CopyFinder(ScanNeedles([byValue(Self.hexKey)])).scan(descriptor) else {
            Issue.record("a file with a NUL in its first 8 KiB is binary")
            return
        }
    }

    /// Found by an attacker: files deleted while the scan ran were counted as unreadable,
    /// and the scan (and a rotation's preflight) failed. A file gone since the listing is
    /// simply not there.
    @Test func aFileGoneSinceTheListingIsNotAnError() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tree-walk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["a", "b", "c"] { try Data("x".utf8).write(to: folder.appendingPathComponent(name)) }
        var opened: [String] = []
        var skipped: [String] = []
        TreeWalk(skipping: []).walk(folder.path, found: { file in
            opened.append((file.path as NSString).lastPathComponent)
            close(file.descriptor)
            // Listed, then gone before they are opened.
            try? FileManager.default.removeItem(at: folder.appendingPathComponent("b"))
            try? FileManager.default.removeItem(at: folder.appendingPathComponent("sub"))
        }, skipped: { reason, path, _ in skipped.append("\(reason) \(path)") })
        #expect(opened == ["a", "c"] && skipped.isEmpty, "\(opened) \(skipped)")
    }

    /// Found in the second attack review: a file replaced by a folder (or a folder by a
    /// file) while the walk ran was counted as special (or a symlink), and the scan passed.
    @Test func anEntrySwappedForAnotherKindIsAnError() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tree-walk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("d"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["a", "f"] { try Data("x".utf8).write(to: folder.appendingPathComponent(name)) }
        var unread: [String] = []
        TreeWalk(skipping: []).walk(folder.path, found: { file in
            close(file.descriptor)
            guard (file.path as NSString).lastPathComponent == "a" else { return }
            try? FileManager.default.removeItem(at: folder.appendingPathComponent("d"))
            try? Data("now a file".utf8).write(to: folder.appendingPathComponent("d"))
            try? FileManager.default.removeItem(at: folder.appendingPathComponent("f"))
            try? FileManager.default.createDirectory(at: folder.appendingPathComponent("f"), withIntermediateDirectories: true)
        }, skipped: { reason, path, problem in
            if reason == .unreadable { unread.append("\((path as NSString).lastPathComponent): \(problem ?? "")") }
        })
        #expect(unread == ["d: it changed from a folder to a file while the scan ran", "f: it changed from a file to a folder while the scan ran"], "\(unread)")
    }

    /// Found in the second attack review: JSON holders cost memory with depth × values (948
    /// MB for 300 KB) and time with the square of the values on one line.
    @Test func jsonHoldersAreFoundForTheCopiesOnly() {
        var text = String(repeating: "{\"a\":", count: 400) + "[\"\(Self.hexKey)\","
        text += String(repeating: "\"\",", count: 50_000) + "\"\(Self.hexKey)\"]" + String(repeating: "}", count: 400)
        let bytes = Array(text.utf8)
        var found: [(String, Range<Int>)] = []
        let copies = [bytes.firstRange(of: Array(Self.hexKey.utf8))!.lowerBound, bytes.count - 400 - 2 - Self.hexKey.count]
        JSONValues.strings(in: bytes, wanted: { range in copies.contains { range.contains($0) } }) { tokens, range in
            found.append((tokens.last ?? "", range))
        }
        #expect(found.map(\.0) == ["0", "50001"], "\(found.map(\.0))")
        #expect(found.allSatisfy { String(decoding: bytes[$0.1], as: UTF8.self) == "\"\(Self.hexKey)\"" })
    }

    @Test func aRecordedShapeReadsBackAndNothingElseDoes() {
        for value in [Self.hexKey, Self.base64Key, "sk_live_AbC-12", "pass word\twith ümlaut"] {
            let shape = ValueShape(of: Array(value.utf8))
            #expect(ValueShape(recorded: shape.recorded) == shape, "\(shape.recorded)")
        }
        #expect(ValueShape(of: Array(Self.base64Key.utf8)).recorded == "40:0Aa+2b2f3d")
        for bad in ["", "40", "x:aA0", "0:a", "40:aB", "40:a+2", "40:a+zz", "40:a+0a", "99999:a"] {
            #expect(ValueShape(recorded: bad) == nil, "\(bad)")
        }
    }

    @Test func suggestedPathsAndScalarsReadBack() {
        #expect(ManifestSuggestion.relativePath("/srv/app/deploy/.env", from: "/srv/app/consumers") == "../deploy/.env")
        #expect(ManifestSuggestion.relativePath("/srv/app/consumers/x.env", from: "/srv/app/consumers") == "x.env")
        #expect(ManifestSuggestion.relativePath("/etc/app.env", from: "/srv/app/consumers") == "../../../etc/app.env")
        for text in ["API_KEY", "../deploy/.env", "a: b", "yes", "1.5", "#x", "it's", "tab\there", "\"q\"", "c1\u{9B}31m", "rtl\u{202E}x"] {
            #expect(!YAMLText.quotedIfNeeded(text).unicodeScalars.contains { $0.value == 0x9B || $0.value == 0x202E }, "escaped, not raw")
            let loaded = YAMLLoader.load("k: \(YAMLText.quotedIfNeeded(text))\n")
            guard let root = loaded.documents.first?.root, case .mapping(let entries) = root.content else {
                Issue.record("\(text) did not load")
                continue
            }
            #expect(entries.first?.value.scalarText == text && entries.first?.value.tag == nil, "\(text)")
        }
    }
}
