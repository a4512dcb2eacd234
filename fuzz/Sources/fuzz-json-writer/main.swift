import Foundation
import FuzzSupport
@testable import RotorCore

/// The surgical JSON writer at /auth/apiKey: first line a value, the rest a document. A
/// write must read back, must still be JSON when the input was, and must change nothing
/// else in the document.
let pointer = JSONPointer("/auth/apiKey")!

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let (value, document) = splitFirstLine(input(data, size))
    let format = JSONFileFormat(pointer: pointer)
    _ = format.read(document)
    guard case .success(let written) = format.replace(in: document, with: value, create: false) else { return 0 }
    guard case .success(let readBack) = format.read(written) else {
        require(false, "wrote a value it cannot read back")
        return 0
    }
    require(readBack == value, "read back \(readBack.debugDescription), wrote \(value.debugDescription)")
    if var original = (try? JSONSerialization.jsonObject(with: Data(document), options: [.fragmentsAllowed])) as? [String: Any] {
        let parsed = try? JSONSerialization.jsonObject(with: Data(written), options: [.fragmentsAllowed])
        require(parsed != nil, "valid JSON became invalid")
        if var auth = original["auth"] as? [String: Any] {
            auth["apiKey"] = value
            original["auth"] = auth
            require(sameJSON(original, parsed as Any), "something besides /auth/apiKey changed")
        }
    }
    return 0
}

/// Whether two parsed JSON values serialize the same with sorted keys. (NSDictionary's
/// `isEqual` cannot say: on Linux two parses of `{"a": false}` differ, a Swift `Bool`
/// comparing by identity — a false finding of this fuzzer once.)
func sameJSON(_ a: Any, _ b: Any) -> Bool {
    let options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed]
    guard let left = try? JSONSerialization.data(withJSONObject: a, options: options),
          let right = try? JSONSerialization.data(withJSONObject: b, options: options) else { return false }
    return left == right
}

/// libFuzzer's runtime refers to this name; the driver below calls `fuzzOne` itself.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size) }

runFuzzer(fuzzOne)
