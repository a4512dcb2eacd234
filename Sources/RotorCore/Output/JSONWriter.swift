/// Writes rotor's `--json` layout — the bytes Foundation's `JSONEncoder` writes as `JSONOutput` configures it — straight from
/// values, with no `Encodable` tree in between: for the output that grows with the fleet
/// (`plan`'s keys and steps, 10,000 steps at fleet scale, where the tree cost a fifth of
/// `plan --json`).
///
/// The encoder sorts an object's members; here the caller writes them in key order
/// (code-unit order: `"a"` < `"a_b"` < `"ab"`). Tests hold every `JSONWritable` type to
/// the encoder's bytes for the same value, so a member added to one and not the other,
/// or out of order, fails there.
struct JSONWriter {
    /// What was written since the last piece ended (see `raw`).
    private var buffer: [UInt8] = []
    /// Finished pieces of the output, in order: long runs written ahead are kept as they
    /// are instead of copied into one buffer.
    private var finished: [[UInt8]] = []

    /// Everything written, as pieces to send one after another (`plan --json` writes its
    /// 6 MB without copying the keys' runs into one array: a copy and 1,500 page faults).
    var pieces: [[UInt8]] { finished + [buffer] }

    /// Everything written, in one array.
    var bytes: [UInt8] { finished.isEmpty ? buffer : Array(pieces.joined()) }
    /// The nesting level of the container being written.
    private var depth: Int
    /// Whether the container being written has no member or element yet.
    private var empty = true

    /// A writer for a value that lands at `depth` levels of nesting (see `raw`).
    init(depth: Int = 0, capacity: Int = 0) {
        self.depth = depth
        buffer.reserveCapacity(capacity)
    }

    /// An object; `body` writes its members, in key order.
    mutating func object(_ body: (inout JSONWriter) -> Void) {
        container(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), body)
    }

    /// An array of `items`, each written by `element`.
    mutating func array<Items: Sequence>(_ items: Items, _ element: (inout JSONWriter, Items.Element) -> Void) {
        container(open: UInt8(ascii: "["), close: UInt8(ascii: "]")) { writer in
            for item in items {
                writer.startElement()
                element(&writer, item)
            }
        }
    }

    /// One member whose value `value` writes (an object, an array, or bytes written ahead).
    mutating func member(_ key: StaticString, _ value: (inout JSONWriter) -> Void) {
        startMember(key)
        value(&self)
    }

    mutating func member(_ key: StaticString, _ value: String) {
        startMember(key)
        string(value)
    }

    /// Left out when nil, as `Encodable` leaves out a nil optional.
    mutating func member(_ key: StaticString, _ value: String?) {
        guard let value else { return }
        member(key, value)
    }

    mutating func member(_ key: StaticString, _ value: Int) {
        startMember(key)
        buffer.append(contentsOf: String(value).utf8)
    }

    /// Left out when nil.
    mutating func member(_ key: StaticString, _ value: Int?) {
        guard let value else { return }
        member(key, value)
    }

    mutating func member(_ key: StaticString, _ value: Bool) {
        startMember(key)
        buffer.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// A long list (`plan`'s warnings and files at fleet scale) is written on every core.
    mutating func member(_ key: StaticString, _ values: [String]) {
        guard values.count < 1_024 else { return member(key, WrittenElements(values, depth: depth + 1)) }
        startMember(key)
        array(values) { $0.string($1) }
    }

    mutating func member(_ key: StaticString, _ value: (some JSONWritable)?) {
        guard let value else { return }
        startMember(key)
        value.write(to: &self)
    }

    mutating func string(_ text: String) {
        JSONText.appendString(text, to: &buffer)
    }

    /// Bytes another writer wrote for this position (`init(depth:)` at this depth): how
    /// a long array is written on every core. A long run becomes a piece of its own.
    mutating func raw(_ written: [UInt8]) {
        guard written.count >= 1 << 16 else { return buffer.append(contentsOf: written) }
        finished.append(buffer)
        finished.append(written)
        buffer = []
    }

    /// The layout of Foundation's pretty printing: a newline and two spaces per level
    /// before each member or element, `[` newline newline `]` when empty.
    private mutating func container(open: UInt8, close: UInt8, _ body: (inout JSONWriter) -> Void) {
        buffer.append(open)
        let outerEmpty = empty
        empty = true
        depth += 1
        body(&self)
        depth -= 1
        buffer.append(0x0A)
        if empty { buffer.append(0x0A) }
        indent()
        buffer.append(close)
        empty = outerEmpty
    }

    /// Between two elements written ahead by one writer (see `WrittenElements`).
    fileprivate mutating func separateElement() {
        buffer.append(UInt8(ascii: ","))
        buffer.append(0x0A)
        indent()
    }

    private mutating func startElement() {
        if !empty { buffer.append(UInt8(ascii: ",")) }
        empty = false
        buffer.append(0x0A)
        indent()
    }

    private mutating func startMember(_ key: StaticString) {
        startElement()
        buffer.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: "\" : ".utf8)
    }

    private mutating func indent() {
        let count = 2 * depth
        // Copied from a row of spaces: appending a `repeatElement` goes byte by byte, and
        // every member and element of a 6 MB plan starts with an indentation.
        guard count <= Self.spaces.count else { return buffer.append(contentsOf: repeatElement(UInt8(ascii: " "), count: count)) }
        Self.spaces.withUnsafeBufferPointer { buffer.append(contentsOf: UnsafeBufferPointer(rebasing: $0[..<count])) }
    }

    private static let spaces = [UInt8](repeating: UInt8(ascii: " "), count: 64)
}

/// A value `JSONWriter` writes without `Encodable`.
protocol JSONWritable {
    func write(to json: inout JSONWriter)
}

/// The elements of a long array (`plan`'s keys, `status`'s keys, long lists of strings),
/// written ahead on every core: each core writes a run of consecutive elements, separated
/// as the array would separate them, and `member(_:_:)` puts the runs in place.
struct WrittenElements: Sendable {
    /// One run per core, none empty.
    let runs: [[UInt8]]

    /// `depth`: of the array's elements (2 for a top-level member's).
    init<Element: JSONWritable & Sendable>(_ values: [Element], depth: Int = 2) {
        runs = (0..<values.count).parallelShares(minimumShare: 64) { share in
            var json = JSONWriter(depth: depth)
            for index in share {
                if index > share.lowerBound { json.separateElement() }
                values[index].write(to: &json)
            }
            return json.bytes
        }.filter { !$0.isEmpty }
    }
}

extension JSONWriter {
    /// A member whose array elements were written ahead.
    mutating func member(_ key: StaticString, _ written: WrittenElements) {
        member(key) { $0.array(written.runs) { $0.raw($1) } }
    }
}

extension String: JSONWritable {
    func write(to json: inout JSONWriter) { json.string(self) }
}

/// JSON string syntax as Foundation's `JSONEncoder` writes it, for `JSONWriter`.
enum JSONText {
    private static let hexDigits = Array("0123456789abcdef".utf8)
    private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

    /// `text` quoted: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`;
    /// `/` and everything else as it is.
    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(quote)
        var text = text
        text.withUTF8 { utf8 in
            guard let base = utf8.baseAddress else { return }
            // Runs of bytes that need no escape are copied whole; they are found eight
            // bytes at a time (a plan writes 6 MB of text, almost none of it escaped).
            var runStart = 0, index = 0
            while index < utf8.count {
                if index + 8 <= utf8.count, !needsEscape(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) {
                    index += 8
                    continue
                }
                let byte = utf8[index]
                if byte < 0x20 || byte == quote || byte == backslash {
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                    runStart = index + 1
                    appendEscape(byte, to: &bytes)
                }
                index += 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(quote)
    }

    private static func appendEscape(_ byte: UInt8, to bytes: inout [UInt8]) {
        bytes.append(backslash)
        switch byte {
        case 0x08: bytes.append(UInt8(ascii: "b"))
        case 0x0C: bytes.append(UInt8(ascii: "f"))
        case 0x0A: bytes.append(UInt8(ascii: "n"))
        case 0x0D: bytes.append(UInt8(ascii: "r"))
        case 0x09: bytes.append(UInt8(ascii: "t"))
        case quote, backslash: bytes.append(byte)
        default:
            bytes.append(contentsOf: "u00".utf8)
            bytes.append(hexDigits[Int(byte >> 4)])
            bytes.append(hexDigits[Int(byte & 0x0F)])
        }
    }

    /// Whether any of eight bytes is below 0x20, a `"` or a `\` (bit tricks: a byte
    /// below n, or a byte that is zero after XOR with c, sets its high bit; exact for
    /// "any", and bytes of 0x80 and above never match).
    private static func needsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ value: UInt64) -> Bool { (value &- ones) & ~value & highs != 0 }
        let below20 = (word &- ones &* 0x20) & ~word & highs != 0
        return below20 || hasZeroByte(word ^ (ones &* UInt64(quote))) || hasZeroByte(word ^ (ones &* UInt64(backslash)))
    }
}
