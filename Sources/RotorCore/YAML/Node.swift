/// A YAML node as rotor sees it: content, the standard tag it was given (if any) and
/// where it starts and ends in its file.
///
/// Scalars keep their text and style, never an implicit type: the configuration schema
/// decides what `NO` or `0755` means, not YAML 1.1 guessing.
///
/// A node is a view into its file's `NodeTree` (flat storage the loader fills); `content`
/// makes a scalar's `String` or a collection's array when asked, so loading a file costs
/// no allocation per node.
public struct Node: Sendable {
    public enum Content: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([Node])
        case mapping([MappingEntry])
    }

    let tree: NodeTree
    let index: Int

    init(_ tree: NodeTree, _ index: Int) {
        self.tree = tree
        self.index = index
    }

    private var record: NodeRecord { tree[index] }

    /// This node seen through `tree`, a replica of its own (see `NodeTree.replica()`).
    func viewed(through tree: NodeTree) -> Node {
        precondition(tree.shares(with: self.tree), "a node can be viewed only through a replica of its own tree")
        return Node(tree, index)
    }

    public var tag: StandardTag? { record.tag }
    public var start: Mark { record.start }
    public var end: Mark { record.end }

    public var content: Content {
        let record = record
        switch record.kind {
        case .scalar(let style):
            return .scalar(tree.string(record), style)
        case .sequence:
            return .sequence(tree.children(of: record).map { Node(tree, Int($0)) })
        case .mapping:
            let children = tree.children(of: record)
            return .mapping(stride(from: 0, to: children.count, by: 2).map { pair in
                MappingEntry(key: Node(tree, Int(children[pair])), value: Node(tree, Int(children[pair + 1])))
            })
        }
    }

    /// Entries `range` of a mapping (none for anything else), made for that range only.
    func mappingEntries(_ range: Range<Int>) -> [MappingEntry] {
        let record = record
        guard record.kind == .mapping else { return [] }
        let children = tree.children(of: record)
        return range.map { MappingEntry(key: Node(tree, Int(children[2 * $0])), value: Node(tree, Int(children[2 * $0 + 1]))) }
    }

    /// A mapping's number of entries (0 for anything else), without making them.
    var mappingEntryCount: Int {
        let record = record
        return record.kind == .mapping ? Int(record.count) / 2 : 0
    }

    /// True for a scalar written without quotes or block indicators.
    public var isPlain: Bool {
        if case .scalar(.plain) = record.kind { return true }
        return false
    }

    /// The scalar's text, or nil for a collection.
    public var scalarText: String? {
        let record = record
        guard case .scalar = record.kind else { return nil }
        return tree.string(record)
    }

    /// True for an empty plain scalar, `~`, `null`, `Null`, `NULL` or a `!!null` tag.
    public var isNull: Bool {
        let record = record
        guard case .scalar(let style) = record.kind else { return false }
        if record.tag == .null { return true }
        guard style == .plain, record.tag == nil else { return false }
        let text = tree.bytes(of: record)
        switch text.count {
        case 0: return true
        case 1: return text[0] == UInt8(ascii: "~")
        case 4: return text.elementsEqual("null".utf8) || text.elementsEqual("Null".utf8) || text.elementsEqual("NULL".utf8)
        default: return false
        }
    }

    /// A short name of the node's kind for error messages: "a mapping", "the string \"x\"".
    public var kindDescription: String {
        switch record.kind {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .scalar(let style):
            let text = tree.string(record)
            if isNull { return "null" }
            let shown = text.count > 40 ? String(text.prefix(37)) + "..." : text
            return style == .plain ? "'\(shown)'" : "the string \"\(shown)\""
        }
    }
}

public struct MappingEntry: Sendable {
    public var key: Node
    public var value: Node
}

/// The YAML 1.2 standard tags rotor accepts. Any other tag (`!!python/object`, `!foo`)
/// is refused by the loader.
public enum StandardTag: String, Sendable, CaseIterable, BitwiseCopyable {
    case str, int, float, bool, null, map, seq
    /// The non-specific tag `!`: "this scalar is a string".
    case nonSpecific = "!"

    static let prefix = "tag:yaml.org,2002:"

    init?(libyamlTag tag: String) {
        if tag == "!" { self = .nonSpecific; return }
        guard tag.hasPrefix(Self.prefix) else { return nil }
        self.init(rawValue: String(tag.dropFirst(Self.prefix.count)))
        if self == .nonSpecific { return nil }
    }

    /// `tag:yaml.org,2002:x` as the `!!x` a person wrote.
    static func shortForm(_ tag: String) -> String {
        tag.hasPrefix(prefix) ? "!!" + tag.dropFirst(prefix.count) : tag
    }
}
