/// What a hostile or broken file may cost the loader. Each bound ends loading with a
/// clear error instead of unbounded time or memory.
public struct YAMLLoadLimits: Sendable {
    /// Largest file read at all; checked before parsing.
    public var maxBytes: Int
    /// Deepest nesting of mappings and sequences. libyaml has no limit of its own and its
    /// parse time grows quadratically with depth, so the loader stops pulling events here.
    public var maxDepth: Int
    /// Most nodes that aliases may add to a file (a billion-laughs file needs ~10⁹).
    public var maxAliasedNodes: Int

    public init(maxBytes: Int = 32 << 20, maxDepth: Int = 64, maxAliasedNodes: Int = 100_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxAliasedNodes = maxAliasedNodes
    }

    public static let `default` = YAMLLoadLimits()
}

public struct YAMLDocument: Sendable {
    /// nil for an empty document.
    public var root: Node?
    public var start: Mark
}

/// The outcome of loading one file: its documents, every non-fatal problem
/// (duplicate keys, refused tags, merge keys) and at most one fatal error that stopped
/// the parse (syntax error or a broken limit).
public struct YAMLLoadResult: Sendable {
    public var documents: [YAMLDocument] = []
    public var problems: [YAMLError] = []
    public var fatal: YAMLError?

    public var allErrors: [YAMLError] { problems + (fatal.map { [$0] } ?? []) }
}

/// Builds nodes from libyaml events, enforcing rotor's loading rules.
public enum YAMLLoader {
    public static func load(_ bytes: [UInt8], limits: YAMLLoadLimits = .default) -> YAMLLoadResult {
        var result = YAMLLoadResult()
        guard bytes.count <= limits.maxBytes else {
            result.fatal = YAMLError(
                "file is \(bytes.count) bytes; rotor reads configuration files of at most \(limits.maxBytes) bytes",
                at: Mark(line: 1, column: 1))
            return result
        }
        var builder = TreeBuilder(limits: limits)
        YAMLEventParser.withParser(over: bytes) { parser in
            do throws(YAMLError) {
                while true {
                    let event = try parser.next()
                    if case .streamEnd = event { break }
                    try builder.consume(event)
                }
            } catch {
                result.fatal = error
            }
        }
        result.documents = builder.documents
        result.problems = builder.problems
        return result
    }

    public static func load(_ text: String, limits: YAMLLoadLimits = .default) -> YAMLLoadResult {
        load(Array(text.utf8), limits: limits)
    }
}

/// The event-to-node state machine behind `YAMLLoader`.
///
/// Finished nodes wait on one work stack; when a collection closes, its children are
/// moved (not copied: no reference counting) into an exactly-sized array. That keeps
/// allocations to about one per collection instead of one per doubling.
private struct TreeBuilder {
    private struct Frame {
        var isMapping: Bool
        var anchor: String?
        var tag: StandardTag?
        var start: Mark
        /// Where this collection's children begin on the work stack.
        var firstChild: Int
        /// Nodes in this subtree with aliases expanded, for the alias bound.
        var expandedSize = 1
        /// Keys seen so far, built once a mapping outgrows a linear scan.
        var keyIndex: [String: Mark]?
    }

    let limits: YAMLLoadLimits
    var documents: [YAMLDocument] = []
    var problems: [YAMLError] = []
    private var stack: [Frame] = []
    private var work = WorkStack()
    private var documentStart = Mark(line: 1, column: 1)
    private var documentRoot: Node?
    /// Anchored nodes of the current document with their expanded sizes.
    private var anchors: [String: (node: Node, size: Int)] = [:]
    private var aliasedNodes = 0

    init(limits: YAMLLoadLimits) {
        self.limits = limits
    }

    mutating func consume(_ event: consuming YAMLEvent) throws(YAMLError) {
        switch event {
        case .streamStart, .streamEnd:
            break
        case .documentStart(let mark, _):
            documentStart = mark
            documentRoot = nil
            anchors.removeAll(keepingCapacity: true)
        case .documentEnd:
            documents.append(YAMLDocument(root: documentRoot, start: documentStart))
        case .mappingStart(let anchor, let tag, _, let mark):
            try open(isMapping: true, anchor: anchor, tag: tag, at: mark)
        case .sequenceStart(let anchor, let tag, _, let mark):
            try open(isMapping: false, anchor: anchor, tag: tag, at: mark)
        case .mappingEnd(let mark), .sequenceEnd(let mark):
            let frame = stack.removeLast()
            let content: Node.Content = frame.isMapping
                ? .mapping(work.popEntries(from: frame.firstChild))
                : .sequence(work.popNodes(from: frame.firstChild))
            // Yams-style marks: a collection ends where its closing event starts.
            let node = Node(content, tag: frame.tag, start: frame.start, end: mark)
            try complete(node, anchor: frame.anchor, size: frame.expandedSize)
        case .scalar(let value, let anchor, let tag, let style, let start, let end):
            let resolved = tag.flatMap { resolveTag($0, at: start, expected: nil) }
            let node = Node(.scalar(value, style), tag: resolved, start: start, end: end)
            try complete(node, anchor: anchor, size: 1)
        case .alias(let name, let mark):
            guard let anchored = anchors[name] else {
                throw YAMLError("unknown alias '*\(name)': no anchor '&\(name)' before it in this document", at: mark)
            }
            aliasedNodes += anchored.size
            guard aliasedNodes <= limits.maxAliasedNodes else {
                throw YAMLError(
                    "aliases expand to more than \(limits.maxAliasedNodes) nodes (a 'billion laughs' file?); rotor refuses it",
                    at: mark)
            }
            var node = anchored.node
            node.start = mark
            try complete(node, anchor: nil, size: anchored.size)
        }
    }

    private mutating func open(isMapping: Bool, anchor: String?, tag: String?, at mark: Mark) throws(YAMLError) {
        guard stack.count < limits.maxDepth else {
            throw YAMLError("nesting is deeper than \(limits.maxDepth) levels; rotor refuses such files", at: mark)
        }
        let resolved = tag.flatMap { resolveTag($0, at: mark, expected: isMapping ? .map : .seq) }
        stack.append(Frame(isMapping: isMapping, anchor: anchor, tag: resolved, start: mark, firstChild: work.count))
    }

    /// Puts a finished node on the work stack of its parent (or makes it the document root).
    private mutating func complete(_ node: Node, anchor: String?, size: Int) throws(YAMLError) {
        if let anchor { anchors[anchor] = (node, size) }
        guard !stack.isEmpty else {
            documentRoot = node
            return
        }
        let top = stack.count - 1
        stack[top].expandedSize += size
        // In a mapping, children alternate key, value: an even count before this one makes it a key.
        if stack[top].isMapping, (work.count - stack[top].firstChild) % 2 == 0 {
            if let problem = Self.checkKey(node, frame: &stack[top], siblings: work) { problems.append(problem) }
        }
        work.append(node)
    }

    /// The problem with a new mapping key, if any: not a scalar, a merge key, or a duplicate.
    /// Static on purpose: a method reading `self` while `frame` is inout into `self.stack`
    /// would make Swift copy `self`, and with it the key index, on every key.
    private static func checkKey(_ key: Node, frame: inout Frame, siblings work: WorkStack) -> YAMLError? {
        guard case .scalar(let text, let style) = key.content else {
            return YAMLError("a mapping key must be a scalar, not \(key.kindDescription)", at: key.start)
        }
        if text == "<<" && style == .plain {
            return YAMLError("merge keys ('<<') are not supported; write the fields out in full", at: key.start)
        }
        let first: Mark?
        let keyCount = (work.count - frame.firstChild) / 2
        if frame.keyIndex == nil, keyCount < 16 {
            first = stride(from: frame.firstChild, to: work.count, by: 2).first { work[$0].scalarText == text }.map { work[$0].start }
        } else {
            if frame.keyIndex == nil {
                var index: [String: Mark] = [:]
                for position in stride(from: frame.firstChild, to: work.count, by: 2) {
                    if let name = work[position].scalarText, index[name] == nil { index[name] = work[position].start }
                }
                frame.keyIndex = index
            }
            first = frame.keyIndex?[text]
            if first == nil { frame.keyIndex?[text] = key.start }
        }
        guard let first else { return nil }
        return YAMLError(
            "duplicate key '\(text)' (first defined at line \(first.line), column \(first.column))",
            at: key.start)
    }

    private mutating func resolveTag(_ tag: String, at mark: Mark, expected: StandardTag?) -> StandardTag? {
        guard let standard = StandardTag(libyamlTag: tag) else {
            problems.append(YAMLError(
                "tag '\(StandardTag.shortForm(tag))' is not allowed; rotor accepts only the standard tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq",
                at: mark))
            return nil
        }
        let isCollectionTag = standard == .map || standard == .seq
        if let expected, standard != expected, standard != .nonSpecific {
            problems.append(YAMLError("tag '!!\(standard.rawValue)' cannot be used on a \(expected == .map ? "mapping" : "sequence")", at: mark))
        } else if expected == nil, isCollectionTag {
            problems.append(YAMLError("tag '!!\(standard.rawValue)' cannot be used on a scalar", at: mark))
        }
        return standard
    }
}

/// The nodes waiting for their collection to close, in manually managed memory so that
/// closing a collection *moves* its children into their array: a Swift array would copy
/// each child (retaining its strings) and then release the originals.
private final class WorkStack {
    private var base: UnsafeMutablePointer<Node>
    private var capacity = 256
    private(set) var count = 0

    init() { base = .allocate(capacity: capacity) }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    subscript(index: Int) -> Node { base[index] }

    func append(_ node: Node) {
        if count == capacity {
            let grown = UnsafeMutablePointer<Node>.allocate(capacity: capacity * 2)
            grown.moveInitialize(from: base, count: count)
            base.deallocate()
            base = grown
            capacity *= 2
        }
        (base + count).initialize(to: node)
        count += 1
    }

    /// Moves the nodes from `first` to the top into a new array.
    func popNodes(from first: Int) -> [Node] {
        let moved = count - first
        defer { count = first }
        return Array(unsafeUninitializedCapacity: moved) { buffer, initialized in
            buffer.baseAddress!.moveInitialize(from: base + first, count: moved)
            initialized = moved
        }
    }

    /// Moves the nodes from `first` to the top, which alternate key and value, into entries.
    /// A trailing key without a value (a parse error stopped the mapping) is dropped.
    func popEntries(from first: Int) -> [MappingEntry] {
        let pairs = (count - first) / 2
        defer {
            if (count - first) % 2 == 1 { (base + count - 1).deinitialize(count: 1) }
            count = first
        }
        return Array(unsafeUninitializedCapacity: pairs) { buffer, initialized in
            for pair in 0..<pairs {
                let key = base + first + 2 * pair
                (buffer.baseAddress! + pair).initialize(to: MappingEntry(key: key.move(), value: (key + 1).move()))
            }
            initialized = pairs
        }
    }
}
