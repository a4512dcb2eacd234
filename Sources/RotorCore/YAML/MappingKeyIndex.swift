import Foundation

/// The keys of one large mapping, for finding duplicates: an open-addressing table of key
/// records, hashed and compared by their bytes in the tree's text. The loader checks every
/// key of a 100,000-entry mapping; a `[String: Mark]` made a `String` and a SipHash per key.
/// (Configuration is the operator's own file, so hash flooding is not a concern; the
/// table is still seeded per process.)
struct MappingKeyIndex {
    /// A key's record index (-1: empty) and the low 32 bits of its hash: a probe compares
    /// bytes only when the hashes agree, so it rarely touches another key's record and text
    /// (cache misses, in a 100,000-key mapping), and growing never rehashes bytes.
    private struct Slot {
        var key: Int32
        var hash: UInt32
    }

    /// The count is a power of two.
    private var slots: [Slot]
    private var count = 0
    private static let seed = UInt64.random(in: .min ... .max)

    init(capacity: Int) {
        var size = 32
        while size < capacity * 2 { size *= 2 }
        slots = Array(repeating: Slot(key: -1, hash: 0), count: size)
    }

    /// Adds `key` unless a key with the same bytes is there; returns that earlier key's record.
    mutating func insert(_ key: Int32, records: UnsafeBufferPointer<NodeRecord>, text: UnsafeBufferPointer<UInt8>) -> Int32? {
        if (count + 1) * 2 > slots.count { grow() }
        let name = Self.bytes(of: records[Int(key)], in: text)
        let hash = UInt32(truncatingIfNeeded: Self.hash(name))
        let found: Int32? = slots.withUnsafeMutableBufferPointer { slots in
            let mask = slots.count - 1
            var slot = Int(hash) & mask
            while slots[slot].key >= 0 {
                if slots[slot].hash == hash, Self.equal(Self.bytes(of: records[Int(slots[slot].key)], in: text), name) { return slots[slot].key }
                slot = (slot + 1) & mask
            }
            slots[slot] = Slot(key: key, hash: hash)
            return nil
        }
        if found == nil { count += 1 }
        return found
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(key: -1, hash: 0), count: old.count * 2)
        slots.withUnsafeMutableBufferPointer { slots in
            let mask = slots.count - 1
            for entry in old where entry.key >= 0 {
                var slot = Int(entry.hash) & mask
                while slots[slot].key >= 0 { slot = (slot + 1) & mask }
                slots[slot] = entry
            }
        }
    }

    /// Two keys' bytes are the same (`elementsEqual` costs several times more per key).
    static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    private static func bytes(of record: NodeRecord, in text: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: text[Int(record.first)..<Int(record.first) + Int(record.count)])
    }

    /// FNV-1a, 64 bits, from a per-process seed, its high bits folded into the low ones.
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash ^ (hash >> 29)
    }
}
