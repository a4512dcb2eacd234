import FuzzSupport
@testable import RotorCore

/// Durations, templates and JSON pointers from arbitrary text: no crash, and what
/// parses prints back to something that parses to the same thing.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: input(data, size), as: UTF8.self)
    if let duration = RotorDuration(parsing: text) {
        require(duration.seconds >= 0, "negative duration from \(text.debugDescription)")
        require(RotorDuration(parsing: duration.description)?.seconds == duration.seconds, "\(duration) does not round-trip")
    }
    if case .success(let template) = Template.parse(text) {
        require(template.source == text, "template source changed")
        _ = template.render([.secret: "s", .key: "k", .date: "2026-01-01"])
    }
    if let pointer = JSONPointer(text) {
        require(pointer.source == text, "pointer source changed")
    }
    return 0
}

/// libFuzzer's runtime refers to this name; the driver below calls `fuzzOne` itself.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size) }

runFuzzer(fuzzOne)
