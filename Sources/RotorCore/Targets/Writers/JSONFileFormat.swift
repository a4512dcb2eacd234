/// A string inside a JSON document, found by a JSON pointer. Only that string token
/// changes; the rest of the file stays byte-identical.
struct JSONFileFormat: FileTargetFormat {
    var pointer: JSONPointer

    func read(_ bytes: [UInt8]) -> Result<String, TargetReadProblem> {
        switch JSONLocator.locate(pointer, in: bytes) {
        case .failure(let problem): return .failure(problem)
        case .success(let location):
            guard case .found(let range) = location else { return .failure(.missing("\(pointer) is not in the file")) }
            guard bytes[range.lowerBound] == UInt8(ascii: "\"") else { return .failure(.unreadable("\(pointer) holds a non-string value")) }
            return JSONLocator.decodeString(bytes[range]).map(Result.success) ?? .failure(.unreadable("\(pointer) holds a malformed string"))
        }
    }

    func replaceUnverified(in bytes: [UInt8], with value: String, create: Bool) -> Result<[UInt8], TargetEditError> {
        let encoded = JSONLocator.encodeString(value)
        switch JSONLocator.locate(pointer, in: bytes) {
        case .failure(let problem):
            if case .unreadable(let reason) = problem { return .failure(TargetEditError(reason)) }
            if case .missing(let reason) = problem { return .failure(TargetEditError(reason)) }
            return .failure(TargetEditError("cannot edit the file"))
        case .success(.found(let range)):
            guard bytes[range.lowerBound] == UInt8(ascii: "\"") else {
                return .failure(TargetEditError("\(pointer) holds a non-string value; rotor replaces only strings"))
            }
            return .success(bytes.replacing(range, with: encoded.utf8))
        case .success(.missingMember(let objectEnd, let isEmpty, let name)):
            guard create else { return .failure(TargetEditError("\(pointer) is not in the file (set create: true on the target to add it)")) }
            let member = (isEmpty ? "" : ", ") + JSONLocator.encodeString(name) + ": " + encoded
            var result = bytes
            result.insert(contentsOf: Array(member.utf8), at: objectEnd)
            return .success(result)
        case .success(.missing):
            return .failure(TargetEditError("\(pointer) is not in the file, and its parent object is missing too"))
        }
    }
}

/// Finds the byte range of the value at a JSON pointer without building a tree.
enum JSONLocator {
    enum Location: Equatable {
        case found(Range<Int>)
        /// The last token is missing from an object that exists: where its closing brace is.
        case missingMember(objectEnd: Int, isEmpty: Bool, name: String)
        case missing
    }

    static func locate(_ pointer: JSONPointer, in bytes: [UInt8]) -> Result<Location, TargetReadProblem> {
        var scanner = Scanner(bytes: bytes)
        do {
            scanner.skipWhitespace()
            var start = scanner.position
            var end = try scanner.skipValue()
            for (depth, token) in pointer.tokens.enumerated() {
                let isLast = depth == pointer.tokens.count - 1
                scanner.position = start
                switch bytes[start] {
                case UInt8(ascii: "{"):
                    guard let member = try scanner.findMember(token) else {
                        if isLast { return .success(.missingMember(objectEnd: end - 1, isEmpty: scanner.objectIsEmpty(start), name: token)) }
                        return .success(.missing)
                    }
                    (start, end) = member
                case UInt8(ascii: "["):
                    guard let index = Int(token), let element = try scanner.findElement(index) else { return .success(.missing) }
                    (start, end) = element
                default:
                    return .success(.missing)
                }
            }
            scanner.position = end
            scanner.skipWhitespace()
            if pointer.tokens.isEmpty, scanner.position != bytes.count { throw Scanner.Malformed() }
            return .success(.found(start..<end))
        } catch is Scanner.TooDeep {
            return .failure(.unreadable("it is nested deeper than \(Scanner.maxDepth) levels: not a configuration file rotor edits"))
        } catch let duplicate as Scanner.DuplicateMember {
            return .failure(.unreadable("'\(duplicate.name)' appears twice in one JSON object, and JSON readers disagree about which one counts; remove one"))
        } catch {
            return .failure(.unreadable("not valid JSON"))
        }
    }

    /// A JSON string literal for `value`: quotes, `\"`, `\\` and control characters escaped.
    static func encodeString(_ value: String) -> String {
        DoubleQuoted.literal(value) { "\\u" + String($0, radix: 16).leftPadded(to: 4, with: "0") }
    }

    /// Decodes a string literal (quotes included); nil when malformed.
    static func decodeString(_ literal: ArraySlice<UInt8>) -> String? {
        guard literal.count >= 2 else { return nil }
        var bytes: [UInt8] = []
        var index = literal.startIndex + 1
        let end = literal.endIndex - 1
        var pendingHigh: UInt32?
        while index < end {
            let byte = literal[index]
            guard byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                index += 1
                continue
            }
            guard index + 1 < end else { return nil }
            let escape = literal[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): bytes.append(escape)
            case UInt8(ascii: "u"):
                guard index + 4 <= end, let code = UInt32(String(decoding: literal[index..<index + 4], as: UTF8.self), radix: 16) else { return nil }
                index += 4
                var scalarValue = code
                if (0xD800...0xDBFF).contains(code) { pendingHigh = code; continue }
                if (0xDC00...0xDFFF).contains(code), let high = pendingHigh {
                    scalarValue = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
                    pendingHigh = nil
                }
                guard let scalar = Unicode.Scalar(scalarValue) else { return nil }
                bytes += Array(String(Character(scalar)).utf8)
            default: return nil
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A minimal JSON scanner over bytes: enough to skip values and find members.
    struct Scanner {
        struct Malformed: Error {}

        let bytes: [UInt8]
        var position = 0

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        /// Nesting deeper than this is refused: no configuration needs it, and a hostile file
        /// 150,000 arrays deep must not exhaust the stack.
        static let maxDepth = 512
        struct TooDeep: Error {}

        /// Skips one value starting at `position`; returns the index just after it.
        mutating func skipValue(depth: Int = 0) throws -> Int {
            guard depth < Self.maxDepth else { throw TooDeep() }
            skipWhitespace()
            guard position < bytes.count else { throw Malformed() }
            switch bytes[position] {
            case UInt8(ascii: "\""):
                try skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = bytes[position] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                let isObject = close == UInt8(ascii: "}")
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == close { position += 1; return position }
                while true {
                    if isObject {
                        skipWhitespace()
                        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Malformed() }
                        try skipString()
                        skipWhitespace()
                        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw Malformed() }
                        position += 1
                    }
                    _ = try skipValue(depth: depth + 1)
                    skipWhitespace()
                    guard position < bytes.count else { throw Malformed() }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    guard bytes[position] == close else { throw Malformed() }
                    position += 1
                    break
                }
            default:
                let start = position
                while position < bytes.count, !([0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[position])) {
                    position += 1
                }
                let word = String(decoding: bytes[start..<position], as: UTF8.self)
                guard word == "true" || word == "false" || word == "null" || Double(word) != nil else { throw Malformed() }
            }
            return position
        }

        mutating func skipString() throws {
            position += 1
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: "\\"): position += 2
                case UInt8(ascii: "\""): position += 1; return
                default: position += 1
                }
            }
            throw Malformed()
        }

        /// A member named twice in one object: JSON readers disagree about which one counts
        /// (most keep the last), so rotor refuses rather than write the one the app ignores.
        struct DuplicateMember: Error { var name: String }

        /// In the object at `position`: the range of member `name`'s value. The whole object
        /// is scanned, so a second member of that name is found. (Found by the fuzzer.)
        mutating func findMember(_ name: String) throws -> (Int, Int)? {
            position += 1
            var found: (Int, Int)?
            while true {
                skipWhitespace()
                guard position < bytes.count else { throw Malformed() }
                if bytes[position] == UInt8(ascii: "}") { return found }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                let keyStart = position
                try skipString()
                let key = JSONLocator.decodeString(bytes[keyStart..<position])
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw Malformed() }
                position += 1
                skipWhitespace()
                let valueStart = position
                let valueEnd = try skipValue()
                if key == name {
                    guard found == nil else { throw DuplicateMember(name: name) }
                    found = (valueStart, valueEnd)
                }
            }
        }

        /// In the array at `position`: the range of element `index`.
        mutating func findElement(_ index: Int) throws -> (Int, Int)? {
            position += 1
            var current = 0
            while true {
                skipWhitespace()
                guard position < bytes.count else { throw Malformed() }
                if bytes[position] == UInt8(ascii: "]") { return nil }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                let start = position
                let end = try skipValue()
                if current == index { return (start, end) }
                current += 1
            }
        }

        func objectIsEmpty(_ start: Int) -> Bool {
            var index = start + 1
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
            return index < bytes.count && bytes[index] == UInt8(ascii: "}")
        }
    }
}

/// A double-quoted literal as JSON and YAML both write it: `"`, `\`, newline, return and
/// tab escaped; other control characters in the format's own hex form.
enum DoubleQuoted {
    static func literal(_ value: String, controlEscape: (UInt32) -> String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += controlEscape(scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character) -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
