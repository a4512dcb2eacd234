import Foundation
import Testing
@testable import RotorCore

/// Hostile files on disk through the whole configuration loader: each ends in a clear
/// error that names the file, without reading more than the size limit.
@Suite struct HostileFileTests {
    @Test func aHundredMegabyteFileIsRefusedWithoutReadingIt() throws {
        let folder = try TemporaryFolder()
        let path = folder.url.appendingPathComponent("huge.yaml").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 100 * 1024 * 1024)  // sparse: 100 MB without writing them
        try handle.close()
        let result = ConfigurationLoader(workingDirectory: folder.url.path).load(paths: ["huge.yaml"])
        #expect(result.diagnostics.errors.map(\.message) == ["file is 104857600 bytes; rotor reads configuration files of at most 33554432 bytes"])
        #expect(result.diagnostics.errors.first?.location == SourceLocation(file: "huge.yaml", line: 1, column: 1))
    }

    @Test func deepNestingInAPolicyFile() throws {
        let folder = try TemporaryFolder()
        try folder.write("deep.yaml", "kind: RotationPolicy\nkeys: " + String(repeating: "{a: ", count: 100_000) + "x" + String(repeating: "}", count: 100_000))
        let result = ConfigurationLoader(workingDirectory: folder.url.path).load(paths: ["deep.yaml"])
        #expect(result.diagnostics.errors.first?.description == "deep.yaml:2:259: nesting is deeper than 64 levels; rotor refuses such files")
    }
}

extension Diagnostic: CustomStringConvertible {
    public var description: String { "\(location.map { "\($0): " } ?? "")\(message)" }
}
