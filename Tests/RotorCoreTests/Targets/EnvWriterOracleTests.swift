import Foundation
import Testing
@testable import RotorCore

/// The env-file writing rule, checked against real readers: every value rotor accepts is
/// written into a realistic file and read back identically by python-dotenv (PyPI) and by
/// `bash -c 'set -a; . FILE'`; every value it refuses is refused before anything is written.
@Suite struct EnvWriterOracleTests {
    /// Every printable ASCII character at the start, in the middle and at the end, plus
    /// spaces, tabs, newlines and realistic secrets.
    static let corpus: [String] = {
        var values: [String] = []
        for byte in UInt8(0x20)...UInt8(0x7E) {
            let c = String(UnicodeScalar(byte))
            values += [c + "start", "mid" + c + "dle", "end" + c]
        }
        values += ["two words", " leading", "trailing ", "tab\there", "new\nline", "\ttab-first", "multi\nline\nvalue",
                   "sk-live-0123456789abcdefABCDEF", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLc", "a=b=c", "p@ss:w0rd%^,",
                   "it's", "say \"hi\"", "$HOME", "${HOME}", "back\\slash", "double\\\\backslash", "trailing\\", "`cmd`", "#not-comment", "a #b", ""]
        return values
    }()

    @Test func acceptedValuesReadBackIdenticallyInPythonDotenvAndBash() throws {
        let folder = try TemporaryFolder()
        var accepted: [(index: Int, value: String)] = []
        var refused = 0
        // Each value goes into lines of every quoting style, so kept styles are checked too.
        let styles = ["placeholder", "'placeholder'", "\"placeholder\""]
        var file = 0
        for value in Self.corpus {
            for style in styles {
                let template = "# service config\nexport PORT=8080\nexport KEY=\(style) # rotated by rotor\nAFTER=yes\n"
                switch EnvFileFormat(variable: "KEY").replace(in: Array(template.utf8), with: value, create: false) {
                case .success(let bytes):
                    try Data(bytes).write(to: folder.url.appendingPathComponent("\(file).env"))
                    accepted.append((file, value))
                    file += 1
                case .failure:
                    guard case .failure = EnvValueEncoding.encode(value) else { Issue.record("refused but encodable: \(value.debugDescription)"); continue }
                    refused += 1
                }
            }
        }
        #expect(accepted.count > 750, "the rule should accept most of the corpus")
        #expect(refused > 0)

        let python = try Self.run("/usr/bin/env", ["python3", "-c", """
            import json, sys
            from dotenv import dotenv_values
            out = {}
            for name in sys.argv[1:]:
                values = dotenv_values(name)
                out[name] = [values.get("KEY"), values.get("AFTER"), values.get("PORT")]
            print(json.dumps(out))
            """] + accepted.map { folder.path + "/\($0.index).env" })
        let pythonValues = try JSONSerialization.jsonObject(with: Data(python.utf8)) as! [String: [String?]]

        let bash = try Self.run("/bin/bash", ["-c", #"for f in "$@"; do (set -a; . "$f"; printf '%s\0%s\0' "$KEY" "$AFTER"); done"#, "bash"]
                                + accepted.map { folder.path + "/\($0.index).env" })
        let bashValues = bash.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)

        for (position, item) in accepted.enumerated() {
            let name = folder.path + "/\(item.index).env"
            #expect(pythonValues[name] == [item.value, "yes", "8080"], "python-dotenv read \(String(describing: pythonValues[name])) for \(item.value.debugDescription)")
            #expect(bashValues[position * 2] == item.value, "bash read \(bashValues[position * 2].debugDescription) for \(item.value.debugDescription)")
            #expect(bashValues[position * 2 + 1] == "yes")
        }
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
        return String(decoding: data, as: UTF8.self)
    }
}
