import Foundation
import Testing
@testable import RotorCore

@Suite struct EnvFileFormatTests {
    let format = EnvFileFormat(variable: "KEY")

    func replaced(_ text: String, _ value: String, create: Bool = false) throws -> String {
        String(decoding: try format.replace(in: Array(text.utf8), with: value, create: create).get(), as: UTF8.self)
    }

    @Test func onlyTheValueChanges() throws {
        let text = "# header\nexport KEY='old-value' # rotated by rotor\nOTHER=1\n"
        #expect(try replaced(text, "new-value") == "# header\nexport KEY='new-value' # rotated by rotor\nOTHER=1\n")
        #expect(try replaced("KEY=old\n", "new-value") == "KEY=new-value\n")
        #expect(try replaced("KEY=\"old\"\n", "new value") == "KEY=\"new value\"\n")
        #expect(try replaced("KEY=\"old\"\n", "new$value") == "KEY='new$value'\n")
        #expect(try replaced(text, "has space") == "# header\nexport KEY='has space' # rotated by rotor\nOTHER=1\n")
        #expect(try replaced(text, "it's") == "# header\nexport KEY=\"it's\" # rotated by rotor\nOTHER=1\n")
    }

    @Test func crlfFilesStayCRLF() throws {
        #expect(try replaced("A=1\r\nKEY=old\r\nB=2\r\n", "new") == "A=1\r\nKEY=new\r\nB=2\r\n")
        #expect(try replaced("A=1\r\n", "new", create: true) == "A=1\r\nKEY=new\r\n")
    }

    @Test func missingVariableNeedsCreate() throws {
        #expect(throws: TargetEditError.self) { try replaced("A=1\n", "x") }
        #expect(try replaced("A=1", "x", create: true) == "A=1\nKEY=x\n")
    }

    @Test func refusedValuesSayWhyAndWhatToDo() {
        guard case .failure(let refusal) = EnvValueEncoding.encode("it's \"quoted\"") else { Issue.record("accepted"); return }
        #expect(refusal.description == "the value contains a single quote and a double quote; dotenv readers disagree on such values, so rotor will not write it into an env file — use a json_file, yaml_file or exec target for this key")
    }
}

@Suite struct JSONFileFormatTests {
    let text = """
        {
          "title": "Dashboard",
          "nested": {"list": [1, {"key": "old\\u0041"}], "n": 3},
          "empty": {}
        }

        """

    func edit(_ pointer: String, _ value: String, create: Bool = false) -> Result<String, TargetEditError> {
        JSONFileFormat(pointer: JSONPointer(pointer)!).replace(in: Array(text.utf8), with: value, create: create)
            .map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func readsThroughObjectsAndArrays() {
        #expect(JSONFileFormat(pointer: JSONPointer("/nested/list/1/key")!).read(Array(text.utf8)) == .success("oldA"))
        #expect(JSONFileFormat(pointer: JSONPointer("/nested/n")!).read(Array(text.utf8)) == .failure(.unreadable("/nested/n holds a non-string value")))
        #expect(JSONFileFormat(pointer: JSONPointer("/nope")!).read(Array(text.utf8)) == .failure(.missing("/nope is not in the file")))
        #expect(JSONFileFormat(pointer: JSONPointer("/a")!).read(Array("{\"a\": 1,}".utf8)) == .failure(.unreadable("not valid JSON")))
    }

    @Test func onlyTheStringTokenChanges() throws {
        let edited = try edit("/nested/list/1/key", "new \"value\"\n").get()
        #expect(edited == text.replacingOccurrences(of: "\"old\\u0041\"", with: "\"new \\\"value\\\"\\n\""))
        let parsed = try JSONSerialization.jsonObject(with: Data(edited.utf8)) as? [String: Any]
        #expect(((parsed?["nested"] as? [String: Any])?["list"] as? [Any])?.count == 2)
    }

    @Test func createAddsAMember() throws {
        #expect(try edit("/empty/k", "v", create: true).get().contains("\"empty\": {\"k\": \"v\"}"))
        #expect(try edit("/nested/k", "v", create: true).get().contains("\"n\": 3, \"k\": \"v\"}"))
        #expect((try? edit("/nested/k", "v").get()) == nil)
    }
}

@Suite struct YAMLFileFormatTests {
    let text = """
        # chart values
        replicas: 2
        skytells:
          apiKey: "sk-old-value"  # rotated by rotor
          plain: oldplain
          single: 'old'
          model: base
        """

    func edit(_ path: String, _ value: String) -> Result<String, TargetEditError> {
        YAMLFileFormat(keyPath: path.split(separator: ".").map(String.init)).replace(in: Array(text.utf8), with: value, create: false)
            .map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func replacesTheScalarInPlaceKeepingStyle() throws {
        #expect(try edit("skytells.apiKey", "sk-new").get() == text.replacingOccurrences(of: "\"sk-old-value\"", with: "\"sk-new\""))
        #expect(try edit("skytells.plain", "newplain").get() == text.replacingOccurrences(of: "oldplain", with: "newplain"))
        #expect(try edit("skytells.plain", "yes").get() == text.replacingOccurrences(of: "oldplain", with: "'yes'"))
        #expect(try edit("skytells.single", "it's").get() == text.replacingOccurrences(of: "'old'", with: "'it''s'"))
    }

    @Test(arguments: ["plain", "with space", "it's", "quote\"d", "back\\slash", "new\nline", "tab\there", "ünïcødé", "#hash", ": colon", "- dash", "true", "0755"])
    func everyValueReadsBackIdentically(_ value: String) throws {
        for path in ["skytells.apiKey", "skytells.plain", "skytells.single"] {
            let edited = try edit(path, value).get()
            let read = YAMLFileFormat(keyPath: path.split(separator: ".").map(String.init)).read(Array(edited.utf8))
            #expect(read == .success(value), "\(path) = \(value.debugDescription) → \(edited)")
        }
    }

    @Test func multiByteCharactersBeforeTheScalar() throws {
        let text = "ä: ö\nkey: old # ü\n"
        let edited = YAMLFileFormat(keyPath: ["key"]).replace(in: Array(text.utf8), with: "new", create: false).map { String(decoding: $0, as: UTF8.self) }
        #expect(edited == .success("ä: ö\nkey: new # ü\n"))
    }
}

@Suite struct INIFileFormatTests {
    let text = "[default]\nregion = eu-west-1\n\n[deploy-bot]\naws_access_key_id = AKIAOLD\naws_secret_access_key = oldsecret\n"

    @Test func replacesOnlyTheValue() throws {
        let edited = try INIFileFormat(section: "deploy-bot", key: "aws_secret_access_key").replace(in: Array(text.utf8), with: "newsecret", create: false).get()
        #expect(String(decoding: edited, as: UTF8.self) == text.replacingOccurrences(of: "oldsecret", with: "newsecret"))
    }

    @Test func createAddsToTheSectionOrANewOne() throws {
        let inSection = try INIFileFormat(section: "default", key: "output").replace(in: Array(text.utf8), with: "json", create: true).get()
        #expect(String(decoding: inSection, as: UTF8.self).hasPrefix("[default]\nregion = eu-west-1\noutput = json\n\n[deploy-bot]"))
        let newSection = try INIFileFormat(section: "other", key: "k").replace(in: Array(text.utf8), with: "v", create: true).get()
        #expect(String(decoding: newSection, as: UTF8.self).hasSuffix("oldsecret\n\n[other]\nk = v\n"))
    }
}

@Suite struct AtomicFileTests {
    @Test func keepsModeAndLeavesNoTemporaryFile() throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("target.env", "A=1\n")
        chmod(file.path, 0o640)
        try AtomicFile.write(Array("A=2\n".utf8), to: file.path)
        #expect(try folder.read("target.env") == "A=2\n")
        var info = stat()
        stat(file.path, &info)
        #expect(info.st_mode & 0o777 == 0o640)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["target.env"])
    }

    @Test func strayTemporariesOfAKilledWriterAreRemoved() throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("target.env", "A=1\n")
        try folder.write(".target.env.rotor-tmp-1234", "A=new-secret\n")
        try folder.write(".other.env.rotor-tmp-5678", "B=2\n")
        AtomicFile.removeStrayTemporaries(for: file.path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == [".other.env.rotor-tmp-5678", "target.env"])
    }

    @Test func followsSymlinksAndKeepsTheLink() throws {
        let folder = try TemporaryFolder()
        try folder.write("real.env", "A=1\n")
        try FileManager.default.createSymbolicLink(atPath: folder.path + "/link.env", withDestinationPath: "real.env")
        try AtomicFile.write(Array("A=2\n".utf8), to: folder.path + "/link.env")
        #expect(try folder.read("real.env") == "A=2\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: folder.path + "/link.env") == "real.env")
    }

    /// A target's path, resolved when the run began, is written through a handle on its
    /// folder: a folder on the way or the file itself swapped for a symlink since then
    /// refuses the write, and the file the link leads to is never touched (issue 17, item 2).
    @Test func aResolvedPathRefusesSymlinksThatAppearedOnIt() throws {
        let folder = try TemporaryFolder()
        try folder.write("real/app.env", "A=1\n")
        try folder.write("elsewhere/app.env", "A=victim\n")
        try folder.write("elsewhere/victim.env", "A=victim\n")
        let resolved = folder.path + "/real/app.env"
        try AtomicFile.write(Array("A=2\n".utf8), toResolvedPath: resolved)
        #expect(try folder.read("real/app.env") == "A=2\n")

        // The file itself becomes a link.
        unlink(resolved)
        #expect(symlink(folder.path + "/elsewhere/victim.env", resolved) == 0)
        #expect(throws: AtomicFile.WriteError.self) { try AtomicFile.write(Array("A=3\n".utf8), toResolvedPath: resolved) }
        if case .success = FileTargetReader.read(resolved, noSymlinks: true) { Issue.record("read through a link that appeared") }

        // A folder on the way becomes a link.
        unlink(resolved)
        #expect(rename(folder.path + "/real", folder.path + "/real-moved") == 0)
        #expect(symlink(folder.path + "/elsewhere", folder.path + "/real") == 0)
        #expect(throws: AtomicFile.WriteError.self) { try AtomicFile.write(Array("A=3\n".utf8), toResolvedPath: resolved) }
        if case .success = FileTargetReader.read(resolved, noSymlinks: true) { Issue.record("read through a folder link that appeared") }
        #expect(try folder.read("elsewhere/victim.env") == "A=victim\n")
        #expect(try folder.read("elsewhere/app.env") == "A=victim\n")
    }
}

/// Inputs the fuzzers found (fuzz/corpus/*/regression-*): edits that would not have read
/// back as written are refused, never written.
@Suite struct FuzzFindingTests {
    @Test func anEnvLineAppendedAfterAnUnterminatedQuoteIsRefused() {
        let format = EnvFileFormat(variable: "API_KEY")
        let bytes = Array("PORT=1\nOTHER=\"never closed ".utf8)  // no newline at the end, as the fuzzer wrote it
        // The appended line's own quote would close the open one, swallowing the line.
        guard case .failure(let error) = format.replace(in: bytes, with: "w#x=\"aw", create: true) else {
            Issue.record("an edit swallowed by an open quote was accepted")
            return
        }
        #expect(error.message.contains("fix the file by hand"))
        // With the quote closed, the same edit is fine.
        #expect((try? format.replace(in: Array("PORT=1\nOTHER=\"closed\"\n".utf8), with: "w#x=\"aw", create: true).get()) != nil)
    }

    /// `apiKey: # comment` holds no value: where a written value would go, YAML reads a
    /// comment, so rotor refuses every value (before, this test only checked values that were
    /// written, and none was) and says to fix the file.
    @Test func anEmptyYAMLValueFollowedByACommentIsRefusedWithAWayOn() {
        let format = YAMLFileFormat(keyPath: ["auth", "apiKey"])
        for value in ["sk-new", "s\u{FFFD}plicas: x\"d\"", "a # b", "#x"] {
            let bytes = Array("auth:\n  apiKey: # old key was here\n".utf8)
            guard case .failure(let error) = format.replace(in: bytes, with: value, create: false) else {
                Issue.record("\(value.debugDescription) was written where YAML reads a comment")
                continue
            }
            #expect(error.message.contains("fix the file by hand"), "\(error.message)")
        }
        // With a value in place, the same edit is made and reads back.
        let filled = Array("auth:\n  apiKey: old # old key was here\n".utf8)
        let edited = try? format.replace(in: filled, with: "sk-new", create: false).get()
        #expect(edited.map { format.read($0) } == .success("sk-new"))
    }

    /// fuzz/corpus/fuzz-json-writer/regression-c5b23c47c4e4: a value with a NUL, beside a
    /// key full of escapes and a `false`. The write changes the one value, byte for byte
    /// (the finding was the harness's comparison, not the writer).
    @Test func aValueWithANulChangesOnlyThatValue() {
        let format = JSONFileFormat(pointer: JSONPointer("/auth/apiKey")!)
        let document = "{\"na\\\\\\\\#\\f\\\\p$0e\": false, \"auth\": {\"apiKey\": \"old\"}, \"list\": [0, 2]}\n"
        #expect((try? JSONSerialization.jsonObject(with: Data(document.utf8))) != nil, "the document is JSON")
        guard case .success(let written) = format.replace(in: Array(document.utf8), with: "sB\u{0}new", create: false) else {
            Issue.record("the write was refused")
            return
        }
        #expect(String(decoding: written, as: UTF8.self) == document.replacingOccurrences(of: #""old""#, with: #""sB\u0000new""#))
        #expect(format.read(written) == .success("sB\u{0}new"))
    }

    /// Most JSON readers keep the last of two same-named members; rotor would have written
    /// the first, leaving the app on the old key. Now such a file is unreadable for rotor.
    @Test func aJSONMemberNamedTwiceIsRefused() {
        let format = JSONFileFormat(pointer: JSONPointer("/auth/apiKey")!)
        let twice = Array(#"{"auth": {"apiKey": "a"}, "auth": {"apiKey": "b"}}"#.utf8)
        #expect(format.read(twice) == .failure(.unreadable("'auth' appears twice in one JSON object, and JSON readers disagree about which one counts; remove one")))
        guard case .failure = format.replace(in: twice, with: "new", create: false) else {
            Issue.record("a write into a duplicated member was accepted")
            return
        }
        #expect(format.read(Array(#"{"auth": {"apiKey": "a"}, "other": {"apiKey": "b"}}"#.utf8)) == .success("a"))
    }
}
