/// The string values of a JSON document that `wanted` asks for (by the byte range of the
/// literal, quotes included), each with its pointer, in one pass: what holds a copy in a
/// JSON file (looking each pointer up again cost a pass per value — hours for a large file;
/// keeping every value's pointer cost memory with the depth). A document that does not
/// parse yields what came before the error; nothing is guessed after it.
enum JSONValues {
    static func strings(in bytes: [UInt8], wanted: (Range<Int>) -> Bool, _ visit: ([String], Range<Int>) -> Void) {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        _ = parser.value(wanted: wanted, visit)
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var depth = 0
        /// The pointer's tokens to the value being read.
        var path: [String] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x0A, 0x20, 0x09, 0x0D: index += 1
                default: return
                }
            }
        }

        /// A string literal's byte range, quotes included; nil when it is not one.
        mutating func literal() -> Range<Int>? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let start = index
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\\"): index += 2
                case UInt8(ascii: "\""):
                    index += 1
                    return start..<index
                case 0x0A: return nil  // not inside a JSON string
                default: index += 1
                }
            }
            return nil
        }

        /// false when the document does not parse here.
        mutating func value(wanted: (Range<Int>) -> Bool, _ visit: ([String], Range<Int>) -> Void) -> Bool {
            guard index < bytes.count, depth < 512, !Interruption.shared.requested else { return false }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                guard let range = literal() else { return false }
                if wanted(range) { visit(path, range) }
                return true
            case UInt8(ascii: "{"):
                depth += 1
                defer { depth -= 1 }
                index += 1
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return true }
                while true {
                    skipSpace()
                    guard let name = literal().flatMap({ JSONLocator.decodeString(bytes[$0]) }) else { return false }
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                    index += 1
                    skipSpace()
                    path.append(name)
                    guard value(wanted: wanted, visit) else { return false }
                    path.removeLast()
                    skipSpace()
                    guard index < bytes.count else { return false }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "}") { index += 1; return true }
                    return false
                }
            case UInt8(ascii: "["):
                depth += 1
                defer { depth -= 1 }
                index += 1
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return true }
                var position = 0
                while true {
                    skipSpace()
                    path.append(String(position))
                    guard value(wanted: wanted, visit) else { return false }
                    path.removeLast()
                    position += 1
                    skipSpace()
                    guard index < bytes.count else { return false }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "]") { index += 1; return true }
                    return false
                }
            default:
                // A number, true, false or null: up to the next delimiter.
                while index < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x09, 0x0D].contains(bytes[index]) { index += 1 }
                return true
            }
        }
    }
}
