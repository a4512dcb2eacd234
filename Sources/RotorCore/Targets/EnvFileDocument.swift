/// An env file read for its assignments, with the byte range of each value, so a value
/// can be fingerprinted now and replaced surgically later without touching other bytes.
///
/// Reading follows what dotenv readers agree on: `[export ]NAME=value`; unquoted values
/// end at a ` #` comment and are trimmed; `'…'` is literal; `"…"` understands `\n`,
/// `\t`, `\"`, `\\` and `\$`. Quoted values may span lines.
public struct EnvFileDocument: Sendable {
    public enum Quote: Sendable { case none, single, double }

    public struct Assignment: Sendable {
        public var name: String
        public var value: String
        /// Bytes of the value as written, quotes included (empty range for `NAME=`).
        public var valueRange: Range<Int>
        public var quote: Quote
        public var hasExport: Bool
        /// 1-based line of the assignment.
        public var line: Int
    }

    public let bytes: [UInt8]
    public private(set) var assignments: [Assignment] = []
    public let usesCRLF: Bool

    public init(bytes: [UInt8]) {
        self.bytes = bytes
        usesCRLF = Self.detectCRLF(bytes)
        var assignments: [Assignment] = []
        Self.scan(bytes, wanting: { _ in true }) { assignments.append($0) }
        self.assignments = assignments
    }

    /// The last assignment of `name` (the one every reader ends up with).
    public func assignment(_ name: String) -> Assignment? {
        assignments.last { $0.name == name }
    }

    /// `EnvFileDocument(bytes:).assignment(name)`, making strings for `name`'s lines only:
    /// how `plan` reads 10,000 env files, each for one variable.
    public static func lastAssignment(of name: String, in bytes: [UInt8]) -> Assignment? {
        let wanted = Array(name.utf8)
        var last: Assignment?
        scan(bytes, wanting: { bytes[$0].elementsEqual(wanted) }) { last = $0 }
        return last
    }

    private static func detectCRLF(_ bytes: [UInt8]) -> Bool {
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return false }
        return newline > 0 && bytes[newline - 1] == UInt8(ascii: "\r")
    }

    /// Reads every assignment in file order; calls `found` with those whose name bytes
    /// `wanted` accepts. The others are still read to their end (a quoted value may span
    /// lines), but no string is made for them.
    private static func scan(_ bytes: [UInt8], wanting wanted: (Range<Int>) -> Bool, found: (Assignment) -> Void) {
        var index = 0
        var line = 1
        let count = bytes.count
        func at(_ i: Int) -> UInt8? { i < count ? bytes[i] : nil }
        func isBlank(_ b: UInt8?) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }

        while index < count {
            let lineStart = index
            var cursor = index
            while isBlank(at(cursor)) { cursor += 1 }
            var hasExport = false
            if bytes[cursor..<min(cursor + 7, count)].elementsEqual("export ".utf8) {
                hasExport = true
                cursor += 7
                while isBlank(at(cursor)) { cursor += 1 }
            }
            let nameStart = cursor
            while let b = at(cursor), isNameByte(b) { cursor += 1 }
            let nameRange = nameStart..<cursor
            var afterName = cursor
            while isBlank(at(afterName)) { afterName += 1 }
            guard !nameRange.isEmpty, at(afterName) == UInt8(ascii: "=") else {
                // Comment, blank or unparsable line: skip to the next line.
                index = skipLine(bytes, from: lineStart)
                line += 1
                continue
            }
            let isWanted = wanted(nameRange)
            cursor = afterName + 1
            while isBlank(at(cursor)) { cursor += 1 }
            let valueStart = cursor
            var value = ""
            var quote = Quote.none
            var valueEnd = cursor
            var linesSpanned = 0
            if at(cursor) == UInt8(ascii: "'") || at(cursor) == UInt8(ascii: "\"") {
                let quoteByte = bytes[cursor]
                quote = quoteByte == UInt8(ascii: "'") ? .single : .double
                var scan = cursor + 1
                var raw: [UInt8] = []
                var closed = false
                while let b = at(scan) {
                    if b == quoteByte { closed = true; break }
                    if quote == .double, b == UInt8(ascii: "\\"), let next = at(scan + 1) {
                        if isWanted {
                            switch next {
                            case UInt8(ascii: "n"): raw.append(UInt8(ascii: "\n"))
                            case UInt8(ascii: "t"): raw.append(UInt8(ascii: "\t"))
                            case UInt8(ascii: "r"): raw.append(UInt8(ascii: "\r"))
                            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"), UInt8(ascii: "`"): raw.append(next)
                            default: raw.append(b); raw.append(next)
                            }
                        }
                        if next == UInt8(ascii: "\n") { linesSpanned += 1 }
                        scan += 2
                        continue
                    }
                    if b == UInt8(ascii: "\n") { linesSpanned += 1 }
                    if isWanted { raw.append(b) }
                    scan += 1
                }
                if closed {
                    if isWanted { value = String(decoding: raw, as: UTF8.self) }
                    valueEnd = scan + 1
                } else {
                    // An unclosed quote: readers disagree; take the rest of the line literally.
                    quote = .none
                    linesSpanned = 0
                }
            }
            if quote == .none {
                var scan = cursor
                while let b = at(scan), b != UInt8(ascii: "\n") {
                    if b == UInt8(ascii: "#"), scan > valueStart, isBlank(at(scan - 1)) { break }
                    scan += 1
                }
                var end = scan
                while end > valueStart, isBlank(at(end - 1)) || at(end - 1) == UInt8(ascii: "\r") { end -= 1 }
                if isWanted { value = String(decoding: bytes[valueStart..<end], as: UTF8.self) }
                valueEnd = end
            }
            if isWanted {
                found(Assignment(name: String(decoding: bytes[nameRange], as: UTF8.self), value: value, valueRange: valueStart..<valueEnd,
                                 quote: quote, hasExport: hasExport, line: line))
            }
            index = skipLine(bytes, from: valueEnd)
            line += 1 + linesSpanned
        }
    }

    private static func skipLine(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start
        while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
        return index + 1
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
    }
}
