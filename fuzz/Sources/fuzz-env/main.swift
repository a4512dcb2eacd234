import FuzzSupport
@testable import RotorCore

/// The env-file writer: first line of the input is a value, the rest an env file. When
/// rotor agrees to write the value, the file must read back that value, and every other
/// variable must keep its value.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let (value, document) = splitFirstLine(input(data, size))
    let format = EnvFileFormat(variable: "API_KEY")
    let before = EnvFileDocument(bytes: document)
    guard case .success(let written) = format.replace(in: document, with: value, create: true) else { return 0 }
    guard case .success(let readBack) = format.read(written) else {
        require(false, "wrote a value it cannot read back")
        return 0
    }
    require(readBack == value, "read back \(readBack.debugDescription), wrote \(value.debugDescription)")
    let after = EnvFileDocument(bytes: written)
    for assignment in before.assignments where assignment.name != "API_KEY" {
        require(after.assignment(assignment.name)?.value == before.assignment(assignment.name)?.value, "\(assignment.name) changed")
    }
    return 0
}

/// libFuzzer's runtime refers to this name; the driver below calls `fuzzOne` itself.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size) }

runFuzzer(fuzzOne)
