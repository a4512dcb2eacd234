import FuzzSupport
@testable import RotorCore

/// The surgical YAML writer at auth.apiKey: first line a value, the rest a document. A
/// write must read back, and must still load without errors when the input did.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let (value, document) = splitFirstLine(input(data, size))
    let format = YAMLFileFormat(keyPath: ["auth", "apiKey"])
    guard case .success(let written) = format.replace(in: document, with: value, create: false) else { return 0 }
    guard case .success(let readBack) = format.read(written) else {
        require(false, "wrote a value it cannot read back")
        return 0
    }
    require(readBack == value, "read back \(readBack.debugDescription), wrote \(value.debugDescription)")
    if YAMLLoader.load(document).allErrors.isEmpty {
        let errors = YAMLLoader.load(written).allErrors
        require(errors.isEmpty, "a clean document gained errors: \(errors.map(\.message))")
    }
    return 0
}

/// libFuzzer's runtime refers to this name; the driver below calls `fuzzOne` itself.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size) }

runFuzzer(fuzzOne)
