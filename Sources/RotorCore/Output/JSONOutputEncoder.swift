import Foundation

/// rotor's `--json` encoder: the same bytes as Foundation's `JSONEncoder` with
/// `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]` and dates as ISO 8601 text
/// (a test holds the two to the same output), at a fraction of the cost.
///
/// Why not Foundation's: `plan --json` over 1,000 keys spent a quarter of its time there
/// (objects built as dictionaries, every key hashed, then sorted, then written scalar by
/// scalar). Here an object is an array of members sorted once when written, and strings
/// are escaped a byte at a time.
struct JSONOutputEncoder {
    func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = ValueEncoder(codingPath: [])
        try encoder.encodeValue(value)
        var writer = PrettyJSONWriter()
        writer.write(encoder.result, depth: 0)
        return writer.bytes
    }
}

/// What an `Encodable` made, before it is written. Objects keep their members in the
/// order they were encoded; the writer sorts them.
private enum JSONTree {
    case null
    case bool(Bool)
    /// A number as written: `42`, `0.25`, `1e+20`.
    case number(String)
    case string(String)
    case array(ArrayBox)
    case object(ObjectBox)
    /// A `superEncoder()` whose value is encoded after its container is made.
    case deferred(ValueEncoder)
}

private final class ArrayBox {
    var items: [JSONTree] = []
}

private final class ObjectBox {
    var members: [(key: String, value: JSONTree)] = []
}

// MARK: - Encoder

private final class ValueEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// Until something is encoded, an empty object (as Foundation writes it).
    var result: JSONTree = .object(ObjectBox())

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: ObjectBox
        if case .object(let existing) = result { box = existing } else { box = ObjectBox(); result = .object(box) }
        return KeyedEncodingContainer(KeyedContainer<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: ArrayBox
        if case .array(let existing) = result { box = existing } else { box = ArrayBox(); result = .array(box) }
        return UnkeyedContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(encoder: self) }

    /// Encodes `value` as this encoder's result, with the special cases Foundation has.
    func encodeValue<T: Encodable>(_ value: T) throws {
        result = try Self.tree(for: value, codingPath: codingPath)
    }

    static func tree<T: Encodable>(for value: T, codingPath: [any CodingKey]) throws -> JSONTree {
        // Type comparisons, not dynamic casts: this runs for every value encoded.
        if T.self == String.self { return .string(unsafeBitCast(value, to: String.self)) }
        if T.self == Int.self { return .number(String(unsafeBitCast(value, to: Int.self))) }
        if T.self == Bool.self { return .bool(unsafeBitCast(value, to: Bool.self)) }
        if T.self == Date.self { return .string(DateFormatting.iso8601(unsafeBitCast(value, to: Date.self))) }
        if T.self == URL.self { return .string((value as! URL).absoluteString) }
        if T.self == Double.self { return try .number(Self.number(unsafeBitCast(value, to: Double.self), codingPath: codingPath)) }
        // The other primitives, before `encode(to:)`: theirs would call back into a container
        // whose generic `encode` is what brought them here.
        if Self.otherIntegers.contains(where: { $0 == T.self }), let integer = value as? any FixedWidthInteger {
            return .number(String(describing: integer))
        }
        if T.self == Float.self { return try .number(Self.number(unsafeBitCast(value, to: Float.self), codingPath: codingPath)) }
        let encoder = ValueEncoder(codingPath: codingPath)
        try value.encode(to: encoder)
        return encoder.result
    }

    private static let otherIntegers: [any Any.Type] = [
        Int8.self, Int16.self, Int32.self, Int64.self, UInt.self, UInt8.self, UInt16.self, UInt32.self, UInt64.self,
    ]

    /// Foundation's spelling of a floating-point number: the shortest text that reads back
    /// exactly, without a trailing `.0`; infinities and NaN are refused.
    static func number<F: FloatingPoint & CustomStringConvertible>(_ value: F, codingPath: [any CodingKey]) throws -> String {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, EncodingError.Context(codingPath: codingPath, debugDescription: "\(value) is not a JSON number"))
        }
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: ObjectBox
    let codingPath: [any CodingKey]

    private func add(_ key: Key, _ value: JSONTree) { box.members.append((key.stringValue, value)) }

    mutating func encodeNil(forKey key: Key) throws { add(key, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { add(key, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { add(key, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { add(key, .number(try ValueEncoder.number(value, codingPath: codingPath + [key]))) }
    mutating func encode(_ value: Float, forKey key: Key) throws { add(key, .number(try ValueEncoder.number(value, codingPath: codingPath + [key]))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { add(key, .number(String(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { add(key, .number(String(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { add(key, .number(String(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { add(key, .number(String(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { add(key, .number(String(value))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { add(key, .number(String(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { add(key, .number(String(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { add(key, .number(String(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { add(key, .number(String(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { add(key, .number(String(value))) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        add(key, try ValueEncoder.tree(for: value, codingPath: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBox()
        add(key, .object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        add(key, .array(nested))
        return UnkeyedContainer(box: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(at: SuperKey()) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(at: key) }

    private func superEncoder(at key: any CodingKey) -> any Encoder {
        let encoder = ValueEncoder(codingPath: codingPath + [key])
        box.members.append((key.stringValue, .deferred(encoder)))
        return encoder
    }
}

/// The member `superEncoder()` writes to, as in Foundation.
private struct SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { nil }
    init?(intValue: Int) { nil }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let box: ArrayBox
    let codingPath: [any CodingKey]
    var count: Int { box.items.count }

    mutating func encodeNil() throws { box.items.append(.null) }
    mutating func encode(_ value: Bool) throws { box.items.append(.bool(value)) }
    mutating func encode(_ value: String) throws { box.items.append(.string(value)) }
    mutating func encode(_ value: Int) throws { box.items.append(.number(String(value))) }

    /// Also the other primitives (a generic method witnesses their requirements).
    mutating func encode<T: Encodable>(_ value: T) throws {
        box.items.append(try ValueEncoder.tree(for: value, codingPath: codingPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBox()
        box.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        box.items.append(.array(nested))
        return UnkeyedContainer(box: nested, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = ValueEncoder(codingPath: codingPath)
        box.items.append(.deferred(encoder))
        return encoder
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.result = .null }
    mutating func encode(_ value: Bool) throws { encoder.result = .bool(value) }
    mutating func encode(_ value: String) throws { encoder.result = .string(value) }
    mutating func encode(_ value: Int) throws { encoder.result = .number(String(value)) }
    /// Also the other primitives (a generic method witnesses their requirements).
    mutating func encode<T: Encodable>(_ value: T) throws { try encoder.encodeValue(value) }
}

// MARK: - Writer

/// Foundation's pretty-printed layout: two spaces per level, `"key" : value`, an empty
/// array or object as `[` newline newline `]`, members sorted by key.
private struct PrettyJSONWriter {
    var bytes: [UInt8] = []

    mutating func write(_ tree: JSONTree, depth: Int) {
        switch tree {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let value): bytes.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let text): bytes.append(contentsOf: text.utf8)
        case .string(let text): writeString(text)
        case .deferred(let encoder): write(encoder.result, depth: depth)
        case .array(let box):
            bytes.append(UInt8(ascii: "["))
            for (index, item) in box.items.enumerated() {
                separate(first: index == 0)
                indent(depth + 1)
                write(item, depth: depth + 1)
            }
            close(UInt8(ascii: "]"), empty: box.items.isEmpty, depth: depth)
        case .object(let box):
            bytes.append(UInt8(ascii: "{"))
            for (index, member) in Self.sorted(box.members).enumerated() {
                separate(first: index == 0)
                indent(depth + 1)
                writeString(member.key)
                bytes.append(contentsOf: " : ".utf8)
                write(member.value, depth: depth + 1)
            }
            close(UInt8(ascii: "}"), empty: box.members.isEmpty, depth: depth)
        }
    }

    /// Members by key in code-unit order; of a key encoded twice, the last value (as a
    /// dictionary would keep it).
    private static func sorted(_ members: [(key: String, value: JSONTree)]) -> [(key: String, value: JSONTree)] {
        let ordered = members.enumerated().sorted { lhs, rhs in
            lhs.element.key == rhs.element.key ? lhs.offset < rhs.offset : lhs.element.key.utf8.lexicographicallyPrecedes(rhs.element.key.utf8)
        }.map(\.element)
        guard zip(ordered, ordered.dropFirst()).contains(where: { $0.key == $1.key }) else { return ordered }
        return ordered.enumerated().filter { $0.offset + 1 == ordered.count || ordered[$0.offset + 1].key != $0.element.key }.map(\.element)
    }

    private mutating func separate(first: Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(0x0A)
    }

    private mutating func close(_ bracket: UInt8, empty: Bool, depth: Int) {
        bytes.append(0x0A)
        if empty { bytes.append(0x0A) }
        indent(depth)
        bytes.append(bracket)
    }

    private mutating func indent(_ depth: Int) {
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
    }

    private mutating func writeString(_ text: String) {
        JSONText.appendString(text, to: &bytes)
    }
}
