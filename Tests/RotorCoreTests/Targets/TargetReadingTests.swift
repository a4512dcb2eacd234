import Foundation
import Testing
@testable import RotorCore

@Suite struct EnvFileDocumentTests {
    func value(_ text: String, _ name: String) -> String? {
        EnvFileDocument(bytes: Array(text.utf8)).assignment(name)?.value
    }

    @Test func readsWhatDotenvReadersAgreeOn() {
        let text = """
            # comment
            export A=plain # trailing comment
            B='single # not a comment'
            C="double \\"quoted\\" \\n line"
            D=
            E = spaced
            F="multi
            line"
            G=a#b
            A=last wins
            """
        #expect(value(text, "A") == "last wins")
        #expect(value(text, "B") == "single # not a comment")
        #expect(value(text, "C") == "double \"quoted\" \n line")
        #expect(value(text, "D") == "")
        #expect(value(text, "E") == "spaced")
        #expect(value(text, "F") == "multi\nline")
        #expect(value(text, "G") == "a#b")
        #expect(value(text, "missing") == nil)
    }

    /// The one-variable reader `plan` uses finds what the whole document finds, lines,
    /// ranges and all, including after values that span lines or do not close.
    @Test func readingOneVariableAgreesWithTheWholeDocument() {
        let texts = [
            "# comment\nexport A=plain # c\nB='x # y'\nC=\"q \\\" \\n z\"\nD=\nE = spaced\nF=\"multi\nA=fake\"\nA=last\n",
            "A='unclosed\nB=after\nA=\"also\\\nspans\"\r\nC=1",
            "\u{FEFF}A=bom\n  export   B = \"\\$HOME\" \nA.B-c=d\n=novalue\nexport=1\n",
            "",
        ]
        for text in texts {
            let bytes = Array(text.utf8)
            let document = EnvFileDocument(bytes: bytes)
            for name in Set(document.assignments.map(\.name)).union(["missing", "a", "A.B"]) {
                let one = EnvFileDocument.lastAssignment(of: name, in: bytes), whole = document.assignment(name)
                #expect(one?.value == whole?.value && one?.valueRange == whole?.valueRange && one?.line == whole?.line
                        && one?.quote == whole?.quote && one?.hasExport == whole?.hasExport, "\(name) in \(text.debugDescription)")
            }
        }
    }

    @Test func keepsByteRangesAndLineEndings() throws {
        let text = "X=1\r\nexport KEY='abc' # note\r\n"
        let document = EnvFileDocument(bytes: Array(text.utf8))
        #expect(document.usesCRLF)
        let key = try #require(document.assignment("KEY"))
        #expect(key.hasExport && key.quote == .single && key.line == 2)
        #expect(String(decoding: document.bytes[key.valueRange], as: UTF8.self) == "'abc'")
    }
}

@Suite struct INIFileDocumentTests {
    @Test func readsSectionsAndKeys() throws {
        let text = "[default]\nregion = eu-west-1\n\n[deploy-bot]\naws_access_key_id = AKIAEXAMPLE\n; comment\naws_secret_access_key=abc \n"
        let document = INIFileDocument(bytes: Array(text.utf8))
        #expect(document.sections == ["default", "deploy-bot"])
        let secret = try #require(document.entry(section: "deploy-bot", key: "aws_secret_access_key"))
        #expect(secret.value == "abc" && secret.line == 7)
        #expect(document.entry(section: "default", key: "aws_access_key_id") == nil)
    }
}

@Suite struct TargetInspectorTests {
    let location = SourceLocation(file: "t.yaml", line: 1, column: 1)

    func target(_ kind: TargetSpec.Kind) -> TargetSpec {
        TargetSpec(kind: kind, value: Template(parts: [.placeholder(.secret)], source: "{secret}"), create: false, location: location)
    }

    @Test func fingerprintsEachFileKindAndNeverReturnsTheValue() throws {
        let folder = try TemporaryFolder()
        let canary = "CANARY-7f3a9e1b-secret-value"
        try folder.write(".env", "K=\(canary)\n")
        try folder.write("c.json", #"{"a": {"b": "\#(canary)"}, "n": 3}"#)
        try folder.write("v.yaml", "a:\n  b: \"\(canary)\" # note\n")
        try folder.write("creds", "[s]\nk = \(canary)\n")
        let inspector = TargetInspector()
        let expected = TargetObservation.present(fingerprint: Fingerprint.of(canary))
        #expect(inspector.observe(target(.envFile(path: folder.path + "/.env", variable: "K"))) == expected)
        #expect(inspector.observe(target(.jsonFile(path: folder.path + "/c.json", pointer: JSONPointer("/a/b")!))) == expected)
        #expect(inspector.observe(target(.yamlFile(path: folder.path + "/v.yaml", keyPath: ["a", "b"]))) == expected)
        #expect(inspector.observe(target(.iniFile(path: folder.path + "/creds", section: "s", key: "k"))) == expected)
        #expect(!"\(expected)".contains(canary))
    }

    @Test func saysWhatIsMissingOrUnreadable() throws {
        let folder = try TemporaryFolder()
        try folder.write("c.json", #"{"a": {"n": 3}}"#)
        try folder.write("bad.json", "{nope")
        let inspector = TargetInspector()
        #expect(inspector.observe(target(.envFile(path: folder.path + "/none.env", variable: "K"))) == .fileMissing)
        #expect(inspector.observe(target(.jsonFile(path: folder.path + "/c.json", pointer: JSONPointer("/a/b")!))) == .missing("/a/b is not in the file"))
        #expect(inspector.observe(target(.jsonFile(path: folder.path + "/c.json", pointer: JSONPointer("/a/n")!))) == .unreadable("/a/n holds a non-string value"))
        #expect(inspector.observe(target(.jsonFile(path: folder.path + "/bad.json", pointer: JSONPointer("/a")!))) == .unreadable("not valid JSON"))
        #expect(inspector.observe(target(.envFile(path: folder.path, variable: "K"))) == .unreadable("it is a folder, not a file"))
    }

    /// `plan`'s one look per target answers what `observe`, `TargetExposure` and
    /// `TargetAccess` answer one by one.
    @Test func anInspectionAgreesWithTheSeparateChecks() throws {
        let folder = try TemporaryFolder()
        try folder.write("open.env", "K=v\n")
        try folder.write("private.env", "K=v\n")
        try folder.write("locked/a.env", "K=v\n")
        chmod(folder.path + "/open.env", 0o644)
        chmod(folder.path + "/private.env", 0o600)
        chmod(folder.path + "/locked", 0o555)
        defer { chmod(folder.path + "/locked", 0o755) }
        symlink(folder.path + "/loop.env", folder.path + "/loop.env")
        let inspector = TargetInspector()
        for name in ["open.env", "private.env", "locked/a.env", "none.env", "locked", "loop.env"] {
            let path = folder.path + "/" + name
            let spec = target(.envFile(path: path, variable: "K"))
            let inspection = inspector.inspect(spec)
            #expect(inspection.observation == inspector.observe(spec), "\(name)")
            #expect(inspection.worldReadableMode == TargetExposure.worldReadableMode(path), "\(name)")
            let exists = access(path, F_OK) == 0
            #expect(inspection.writeProblem == (exists ? TargetAccess.writeProblem(path) : nil), "\(name)")
        }
        #expect(inspector.inspect(target(.envFile(path: folder.path + "/open.env", variable: "K"))).worldReadableMode == 0o644)
        #expect(inspector.inspect(target(.envFile(path: folder.path + "/private.env", variable: "K"))).worldReadableMode == nil)
    }
}
