import Foundation
import FuzzSupport
@testable import RotorCore

/// The YAML loader and the configuration decoder on arbitrary bytes: no crash, no hang
/// (libFuzzer's -timeout), every diagnostic placed at a real line and column, and
/// rendering every diagnostic with its source line works. The loader with libyaml's
/// events pulled on another thread (`YAMLEventPipe`, used for large files) must load
/// exactly what it loads pulling them in place.
let folder: String = {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-fuzz-config-\(getpid())").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()
let file = folder + "/fuzz.yaml"

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = [UInt8](input(data, size))
    FileManager.default.createFile(atPath: file, contents: Data(bytes))
    let result = ConfigurationLoader(workingDirectory: folder).load(paths: [file])
    // YAML breaks lines at \n, \r\n and a lone \r (and NEL, LS, PS in libyaml).
    let text = String(decoding: bytes, as: UTF8.self)
    let lineCount = 1 + text.unicodeScalars.split(omittingEmptySubsequences: false) {
        ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"].contains($0)
    }.count
    for diagnostic in result.diagnostics.all {
        guard let location = diagnostic.location, location.file == "fuzz.yaml" else { continue }
        require(location.line >= 1 && location.column >= 1, "diagnostic at \(location)")
        require(location.line <= lineCount + 1, "diagnostic at line \(location.line) of a \(lineCount)-line file")
    }
    _ = DiagnosticRenderer(sources: result.sources, colored: false).render(result.diagnostics.all)
    let inPlace = YAMLLoader.load(bytes, publishingEntriesTo: nil, pipedFrom: .max).outline
    let piped = YAMLLoader.load(bytes, publishingEntriesTo: nil, pipedFrom: 0).outline
    require(piped == inPlace, "piped load differs:\n\(piped)\n--- in place:\n\(inPlace)")
    return 0
}

/// libFuzzer's runtime refers to this name; the driver below calls `fuzzOne` itself.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size) }

runFuzzer(fuzzOne)
