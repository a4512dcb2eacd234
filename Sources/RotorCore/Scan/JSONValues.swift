/// Every string value of a JSON document with its pointer and line, in one pass: what
/// holds a copy in a JSON file (looking each pointer up again cost a pass per value —
/// hours for a large file). A document that does not parse yields what came before the
/// error; nothing is guessed after it.
enum JSONValues {
    static func strings(in bytes: [UInt8], _ visit: ([String], String, Int) -> Void) {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        _ = parser.value(path: [], visit)
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        var depth = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x0A: line += 1
                case 0x20, 0x09, 0x0D: break
                default: return
                }
                index += 1
            }
        }

        /// A string literal's decoded text; nil when it is not one.
        mutating func string() -> String? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let start = index
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\\"): index += 2
                case UInt8(ascii: "\""):
                    index += 1
                    return JSONLocator.decodeString(bytes[start..<index])
                case 0x0A: return nil  // not inside a JSON string
                default: index += 1
                }
            }
            return nil
        }

        /// false when the document does not parse here.
        mutating func value(path: [String], _ visit: ([String], String, Int) -> Void) -> Bool {
            guard index < bytes.count, depth < 512 else { return false }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                let line = self.line
                guard let text = string() else { return false }
                visit(path, text, line)
                return true
            case UInt8(ascii: "{"):
                depth += 1
                defer { depth -= 1 }
                index += 1
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return true }
                while true {
                    skipSpace()
                    guard let name = string() else { return false }
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                    index += 1
                    skipSpace()
                    guard value(path: path + [name], visit) else { return false }
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
                    guard value(path: path + [String(position)], visit) else { return false }
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
