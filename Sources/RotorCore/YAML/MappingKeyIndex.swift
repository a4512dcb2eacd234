import Foundation

/// The keys of one large mapping, for finding duplicates: an open-addressing table of key
/// records, hashed and compared by their bytes in the tree's text. The loader checks every
/// key of a 100,000-entry mapping; a `[String: Mark]` made a `String` and a SipHash per key.
/// (Configuration is the operator's own file, so hash flooding is not a concern; the
/// table is still seeded per process.)
struct MappingKeyIndex {
    /// Record index of a key, or -1 for an empty slot; the count is a power of two.
    private var slots: [Int32]
    private var count = 0
    private static let seed = UInt64.random(in: .min ... .max)

    init(capacity: Int) {
        var size = 32
        while size < capacity * 2 { size *= 2 }
        slots = Array(repeating: -1, count: size)
    }

    /// Adds `key` unless a key with the same bytes is there; returns that earlier key's record.
    mutating func insert(_ key: Int32, records: UnsafeBufferPointer<NodeRecord>, text: UnsafeBufferPointer<UInt8>) -> Int32? {
        if (count + 1) * 2 > slots.count { grow(records: records, text: text) }
        let name = Self.bytes(of: records[Int(key)], in: text)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: Self.hash(name)) & mask
        while slots[slot] >= 0 {
            if Self.equal(Self.bytes(of: records[Int(slots[slot])], in: text), name) { return slots[slot] }
            slot = (slot + 1) & mask
        }
        slots[slot] = key
        count += 1
        return nil
    }

    private mutating func grow(records: UnsafeBufferPointer<NodeRecord>, text: UnsafeBufferPointer<UInt8>) {
        let old = slots
        slots = Array(repeating: -1, count: old.count * 2)
        count = 0
        for key in old where key >= 0 { _ = insert(key, records: records, text: text) }
    }

    /// Two keys' bytes are the same (`elementsEqual` costs several times more per key).
    static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    private static func bytes(of record: NodeRecord, in text: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: text[Int(record.first)..<Int(record.first) + Int(record.count)])
    }

    /// FNV-1a, 64 bits, from a per-process seed.
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash ^ (hash >> 29)
    }
}
