import Foundation

/// Every node of one loaded file, stored flat: one fixed-size record per node, every
/// scalar's bytes in one buffer, every collection's children as a run of node indices.
/// Filled by `YAMLLoader` and never changed once the loader returns (hence
/// `@unchecked Sendable`); `Node` is a view into it.
///
/// Every `Node` holds its tree, so every copy of a node counts a reference on it. Threads
/// that read one tree at once each take a `replica()` — the same storage, their own object
/// to count on — because one count changed by two cores at once made decoding on two cores
/// slower than on one.
final class NodeTree: @unchecked Sendable {
    private let storage: Storage

    init(records: consuming PageBuffer<NodeRecord>, childIndices: consuming PageBuffer<Int32>, text: consuming PageBuffer<UInt8>) {
        let owned = OwnedBuffers(records: records, childIndices: childIndices, text: text)
        storage = Storage(records: owned.records.contents, childIndices: owned.childIndices.contents, text: owned.text.contents, owner: owned)
    }

    /// The nodes finished so far of a tree still being built (see `MappingEntryStream`): a
    /// view that owns nothing. The builder only appends, and keeps every buffer it outgrew
    /// until it is freed, so what these pointers cover stays as it is while it is read.
    init(viewing records: UnsafeBufferPointer<NodeRecord>, childIndices: UnsafeBufferPointer<Int32>, text: UnsafeBufferPointer<UInt8>) {
        storage = Storage(records: records, childIndices: childIndices, text: text, owner: nil)
    }

    private init(sharing storage: Storage) {
        self.storage = storage
    }

    /// The same nodes through another object, for another thread (see above).
    func replica() -> NodeTree { NodeTree(sharing: storage) }

    /// Whether `other` views the same nodes.
    func shares(with other: NodeTree) -> Bool { storage === other.storage }

    subscript(index: Int) -> NodeRecord {
        precondition(index >= 0 && index < storage.records.count, "node \(index) out of 0..<\(storage.records.count)")
        return storage.records[index]
    }

    /// How many nodes were stored (an alias is one node, not a copy of its subtree).
    var recordCount: Int { storage.records.count }

    func children(of record: NodeRecord) -> UnsafeBufferPointer<Int32> {
        Self.slice(storage.childIndices, Int(record.first), Int(record.count))
    }

    /// A scalar's bytes; valid while the tree lives.
    func bytes(of record: NodeRecord) -> UnsafeBufferPointer<UInt8> {
        Self.slice(storage.text, Int(record.first), Int(record.count))
    }

    func string(_ record: NodeRecord) -> String {
        String(decoding: bytes(of: record), as: UTF8.self)
    }

    private static func slice<Element>(_ buffer: UnsafeBufferPointer<Element>, _ first: Int, _ count: Int) -> UnsafeBufferPointer<Element> {
        precondition(first >= 0 && count >= 0 && first + count <= buffer.count, "range \(first)+\(count) out of 0..<\(buffer.count)")
        return UnsafeBufferPointer(rebasing: buffer[first..<(first + count)])
    }

    private final class Storage {
        let records: UnsafeBufferPointer<NodeRecord>
        /// Node indices; a collection's children are `count` consecutive entries from `first`
        /// (a mapping's alternate key, value).
        let childIndices: UnsafeBufferPointer<Int32>
        let text: UnsafeBufferPointer<UInt8>
        /// What frees the buffers; nil for a view of a tree still being built.
        let owner: OwnedBuffers?

        init(records: UnsafeBufferPointer<NodeRecord>, childIndices: UnsafeBufferPointer<Int32>, text: UnsafeBufferPointer<UInt8>, owner: OwnedBuffers?) {
            (self.records, self.childIndices, self.text, self.owner) = (records, childIndices, text, owner)
        }
    }

    private final class OwnedBuffers {
        let records: PageBuffer<NodeRecord>
        let childIndices: PageBuffer<Int32>
        let text: PageBuffer<UInt8>

        init(records: consuming PageBuffer<NodeRecord>, childIndices: consuming PageBuffer<Int32>, text: consuming PageBuffer<UInt8>) {
            self.records = records
            self.childIndices = childIndices
            self.text = text
        }
    }
}

/// One node in a `NodeTree`: 36 bytes whatever its content.
struct NodeRecord: BitwiseCopyable {
    enum Kind: Equatable, BitwiseCopyable {
        case scalar(ScalarStyle)
        case sequence
        case mapping
    }

    var start: Mark
    var end: Mark
    /// Scalar: offset of its bytes in `text`; collection: of its children in `childIndices`.
    var first: UInt32
    /// Scalar: its length in bytes; collection: its number of children (2 per mapping entry).
    var count: UInt32
    var kind: Kind
    var tag: StandardTag?
}

/// A growable array of plain values, without reference counting or copy-on-write: the
/// loader appends to it once per node, so each access must be a plain memory access.
/// Large buffers are mapped from the kernel directly, so the capacity reserved for a
/// big file costs nothing until it is touched and is returned whole when freed.
///
/// A buffer it outgrows is kept, not freed, until the `PageBuffer` is: a thread reading
/// what was appended before the move (`NodeTree(viewing:…)`) still reads valid memory.
/// It is sized from the file, so that rarely happens, and costs at most what it grew from.
struct PageBuffer<Element: BitwiseCopyable>: ~Copyable {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity: Int
    private var mapped: Bool
    private var outgrown: [(base: UnsafeMutablePointer<Element>, capacity: Int, mapped: Bool)] = []

    /// Buffers at least this large are mapped rather than taken from malloc.
    private static var mappingThreshold: Int { 1 << 20 }

    init(capacity: Int) {
        (base, mapped) = Self.allocate(max(capacity, 16))
        self.capacity = max(capacity, 16)
    }

    deinit {
        Self.free(base, capacity: capacity, mapped: mapped)
        for buffer in outgrown { Self.free(buffer.base, capacity: buffer.capacity, mapped: buffer.mapped) }
    }

    /// What was appended so far; valid while this buffer lives (see above).
    var contents: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }

    subscript(index: Int) -> Element {
        precondition(index >= 0 && index < count, "index \(index) out of 0..<\(count)")
        return base[index]
    }

    func slice(_ first: Int, count length: Int) -> UnsafeBufferPointer<Element> {
        precondition(first >= 0 && length >= 0 && first + length <= count, "range \(first)+\(length) out of 0..<\(count)")
        return UnsafeBufferPointer(start: base + first, count: length)
    }

    mutating func append(_ element: Element) {
        if count == capacity { grow(to: count + 1) }
        (base + count).initialize(to: element)
        count += 1
    }

    mutating func append(contentsOf elements: UnsafeBufferPointer<Element>) {
        guard let source = elements.baseAddress, !elements.isEmpty else { return }
        if count + elements.count > capacity { grow(to: count + elements.count) }
        (base + count).initialize(from: source, count: elements.count)
        count += elements.count
    }

    private mutating func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let (grown, grownMapped) = Self.allocate(newCapacity)
        grown.initialize(from: base, count: count)
        outgrown.append((base, capacity, mapped))
        (base, mapped, capacity) = (grown, grownMapped, newCapacity)
    }

    private static func allocate(_ capacity: Int) -> (UnsafeMutablePointer<Element>, mapped: Bool) {
        let bytes = capacity * MemoryLayout<Element>.stride
        if bytes >= mappingThreshold {
            let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let address, address != MAP_FAILED {
                return (address.bindMemory(to: Element.self, capacity: capacity), true)
            }
        }
        return (.allocate(capacity: capacity), false)
    }

    private static func free(_ base: UnsafeMutablePointer<Element>, capacity: Int, mapped: Bool) {
        if mapped {
            munmap(base, capacity * MemoryLayout<Element>.stride)
        } else {
            base.deallocate()
        }
    }
}
