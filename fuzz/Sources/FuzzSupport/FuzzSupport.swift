import Foundation

/// A failed invariant: the input is a finding. Traps, so libFuzzer saves the input as a crash file.
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        FileHandle.standardError.write(Data("invariant broken: \(message())\n".utf8))
        abort()
    }
}

/// Splits an input into its first line (a value to write) and the rest (a document).
public func splitFirstLine(_ bytes: UnsafeRawBufferPointer) -> (value: String, document: [UInt8]) {
    let all = [UInt8](bytes)
    guard let newline = all.firstIndex(of: UInt8(ascii: "\n")) else { return (String(decoding: all, as: UTF8.self), []) }
    return (String(decoding: all[..<newline], as: UTF8.self), Array(all[(newline + 1)...]))
}

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// Hands the process to libFuzzer's driver (flags, corpus folders, -max_total_time…),
/// which calls `body` with each input. SwiftPM gives every executable its own `main`,
/// so the targets call the driver instead of relying on libFuzzer's `main`.
public func runFuzzer(_ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, body))
}

/// The input as bytes (libFuzzer may pass a null pointer for an empty input).
public func input(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
}
