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
        load(bytes, limits: limits, publishingEntriesTo: nil)
    }

    /// Files from this size have libyaml's events pulled on another core (`YAMLEventPipe`).
    static let pipedFromBytes = 256 << 10

    /// With `stream`, the entries of each top-level key's mapping are published as they
    /// finish, for another thread to decode meanwhile; the stream is closed before this returns.
    /// `pipedFrom`: the file size from which events are pulled on another thread.
    static func load(_ bytes: [UInt8], limits: YAMLLoadLimits = .default, publishingEntriesTo stream: MappingEntryStream?,
                     pipedFrom: Int = pipedFromBytes) -> YAMLLoadResult {
        defer { stream?.close() }  // also on the early return below; closing twice is harmless
        var result = YAMLLoadResult()
        guard bytes.count <= limits.maxBytes else {
            result.fatal = YAMLError(
                "file is \(bytes.count) bytes; rotor reads configuration files of at most \(limits.maxBytes) bytes",
                at: Mark(line: 1, column: 1))
            return result
        }
        var builder = TreeBuilder(limits: limits, inputSize: bytes.count, stream: stream)
        do throws(YAMLError) {
            if bytes.count >= pipedFrom {
                try YAMLEventPipe(bytes, maxDepth: limits.maxDepth).forEachEvent { (event) throws(YAMLError) in try builder.consume(event) }
            } else {
                try YAMLEventParser.withParser(over: bytes) { (parser) throws(YAMLError) in
                    try parser.forEachEvent { (event) throws(YAMLError) -> Bool in
                        try builder.consume(event)
                        return true
                    }
                }
            }
        } catch {
            result.fatal = error
        }
        // Before the builder hands its buffers to the tree: no reader may still be in them.
        stream?.close()
        let (tree, documents, problems) = builder.finish()
        result.documents = documents.map { YAMLDocument(root: $0.root.map { Node(tree, Int($0)) }, start: $0.start) }
        result.problems = problems
        return result
    }

    public static func load(_ text: String, limits: YAMLLoadLimits = .default) -> YAMLLoadResult {
        load(Array(text.utf8), limits: limits)
    }
}

/// The event-to-node state machine behind `YAMLLoader`.
///
/// Nodes are appended to flat storage as they finish (see `NodeTree`); a finished node
/// waits as an index on one work stack until its collection closes, and then its run of
/// indices moves into `childIndices`. No allocation per node.
private struct TreeBuilder: ~Copyable {
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
        var keyIndex: MappingKeyIndex?
        /// A mapping that is the value of a top-level key: its entries go to the stream.
        var publishesEntries = false
    }

    let limits: YAMLLoadLimits
    var documents: [(root: Int32?, start: Mark)] = []
    var problems: [YAMLError] = []
    // The nodes built so far (see `NodeTree`); only ever appended to.
    private var records: PageBuffer<NodeRecord>
    private var childIndices: PageBuffer<Int32>
    private var text: PageBuffer<UInt8>
    private var stack: [Frame] = []
    private var work: [Int32] = []
    private var documentStart = Mark(line: 1, column: 1)
    private var documentRoot: Int32?
    /// Anchored nodes of the current document with their expanded sizes.
    private var anchors: [String: (node: Int32, size: Int)] = [:]
    private var aliasedNodes = 0
    /// Where finished entries of second-level mappings go (see `MappingEntryStream`).
    private let stream: MappingEntryStream?
    /// Entries finished and not yet published: key, value, key, value…
    private var unpublished: [Int32] = []
    /// Entries per published batch: enough that a batch costs little to hand over, few
    /// enough that the reader starts early and the parse's end waits little for it.
    private static let batchEntries = 128

    init(limits: YAMLLoadLimits, inputSize: Int, stream: MappingEntryStream? = nil) {
        self.limits = limits
        self.stream = stream
        // Sized for the file; they grow if the guess is short. Scalars cannot hold much more text than the file.
        records = PageBuffer(capacity: inputSize / 8 + 64)
        childIndices = PageBuffer(capacity: inputSize / 8 + 64)
        text = PageBuffer(capacity: inputSize + 64)
    }

    /// The finished nodes, with the documents' roots.
    consuming func finish() -> (tree: NodeTree, documents: [(root: Int32?, start: Mark)], problems: [YAMLError]) {
        (NodeTree(records: records, childIndices: childIndices, text: text), documents, problems)
    }

    mutating func consume(_ event: RawYAMLEvent) throws(YAMLError) {
        switch event.kind {
        case .streamStart, .streamEnd:
            break
        case .documentStart:
            documentStart = event.start
            documentRoot = nil
            anchors.removeAll(keepingCapacity: true)
        case .documentEnd:
            documents.append((documentRoot, documentStart))
        case .mappingStart, .sequenceStart:
            try open(isMapping: event.kind == .mappingStart, anchor: event.anchor, tag: event.tag, at: event.start)
        case .mappingEnd, .sequenceEnd:
            if stack.last?.publishesEntries == true { publishEntries() }
            let frame = stack.removeLast()
            var childCount = work.count - frame.firstChild
            // A trailing key without a value (a parse error stopped the mapping) is dropped.
            if frame.isMapping, childCount % 2 == 1 { childCount -= 1 }
            let first = UInt32(childIndices.count)
            work[frame.firstChild..<(frame.firstChild + childCount)].withUnsafeBufferPointer { childIndices.append(contentsOf: $0) }
            work.removeSubrange(frame.firstChild...)
            // Yams-style marks: a collection ends where its closing event starts.
            let node = append(NodeRecord(
                start: frame.start, end: event.start, first: first, count: UInt32(childCount),
                kind: frame.isMapping ? .mapping : .sequence, tag: frame.tag))
            try complete(node, anchor: frame.anchor, size: frame.expandedSize)
        case .scalar:
            let resolved = event.tag.flatMap { resolveTag($0, at: event.start, expected: nil) }
            let first = UInt32(text.count)
            text.append(contentsOf: event.text)
            let node = append(NodeRecord(
                start: event.start, end: event.end, first: first, count: UInt32(event.text.count),
                kind: .scalar(event.style), tag: resolved))
            try complete(node, anchor: event.anchor, size: 1)
        case .alias:
            let name = event.anchor ?? ""
            guard let anchored = anchors[name] else {
                throw YAMLError("unknown alias '*\(name)': no anchor '&\(name)' before it in this document", at: event.start)
            }
            aliasedNodes += anchored.size
            guard aliasedNodes <= limits.maxAliasedNodes else {
                throw YAMLError(
                    "aliases expand to more than \(limits.maxAliasedNodes) nodes (a 'billion laughs' file?); rotor refuses it",
                    at: event.start)
            }
            // The alias shares the anchored node's content (text or children) and has its own start.
            var copy = records[Int(anchored.node)]
            copy.start = event.start
            try complete(append(copy), anchor: nil, size: anchored.size)
        }
    }

    private mutating func append(_ record: NodeRecord) -> Int32 {
        records.append(record)
        return Int32(records.count - 1)
    }

    private mutating func open(isMapping: Bool, anchor: String?, tag: String?, at mark: Mark) throws(YAMLError) {
        guard stack.count < limits.maxDepth else {
            throw YAMLError("nesting is deeper than \(limits.maxDepth) levels; rotor refuses such files", at: mark)
        }
        let resolved = tag.flatMap { resolveTag($0, at: mark, expected: isMapping ? .map : .seq) }
        var frame = Frame(isMapping: isMapping, anchor: anchor, tag: resolved, start: mark, firstChild: work.count)
        // A mapping in a top-level mapping, after its key (not a complex key itself).
        frame.publishesEntries = stream != nil && isMapping && stack.count == 1 && stack[0].isMapping
            && (work.count - stack[0].firstChild) % 2 == 1
        stack.append(frame)
    }

    /// Puts a finished node on the work stack of its parent (or makes it the document root).
    private mutating func complete(_ node: Int32, anchor: String?, size: Int) throws(YAMLError) {
        if let anchor { anchors[anchor] = (node, size) }
        guard !stack.isEmpty else {
            documentRoot = node
            return
        }
        let top = stack.count - 1
        stack[top].expandedSize += size
        // In a mapping, children alternate key, value: an even count before this one makes it a key.
        if stack[top].isMapping, (work.count - stack[top].firstChild) % 2 == 0 {
            if let problem = Self.checkKey(node, frame: &stack[top], work: work, records: records, text: text) {
                problems.append(problem)
            }
        }
        work.append(node)
        // A value that finishes an entry of a top-level key's mapping.
        if stack[top].publishesEntries, (work.count - stack[top].firstChild) % 2 == 0 {
            unpublished.append(work[work.count - 2])
            unpublished.append(node)
            if unpublished.count >= 2 * Self.batchEntries { publishEntries() }
        }
    }

    /// Hands the unpublished entries of the open second-level mapping to the stream, with a
    /// view of every node finished so far.
    private mutating func publishEntries() {
        guard let stream, !unpublished.isEmpty, stack.count == 2, stack[1].publishesEntries else { return }
        let tree = NodeTree(viewing: records.contents, childIndices: childIndices.contents, text: text.contents)
        stream.publish(MappingEntryStream.Batch(
            tree: tree, parentKey: work[stack[1].firstChild - 1], entries: unpublished))
        unpublished.removeAll(keepingCapacity: true)
    }

    /// The problem with a new mapping key, if any: not a scalar, a merge key, or a duplicate.
    /// Static on purpose: a method reading `self` while `frame` is inout into `self.stack`
    /// would make Swift copy `self`, and with it the key index, on every key.
    private static func checkKey(
        _ key: Int32, frame: inout Frame, work: [Int32],
        records: borrowing PageBuffer<NodeRecord>, text: borrowing PageBuffer<UInt8>
    ) -> YAMLError? {
        func bytes(_ record: NodeRecord) -> UnsafeBufferPointer<UInt8> { text.slice(Int(record.first), count: Int(record.count)) }
        let record = records[Int(key)]
        guard case .scalar(let style) = record.kind else {
            return YAMLError("a mapping key must be a scalar, not \(record.kind == .mapping ? "a mapping" : "a sequence")", at: record.start)
        }
        let name = bytes(record)
        if style == .plain, name.count == 2, name[0] == UInt8(ascii: "<"), name[1] == UInt8(ascii: "<") {
            return YAMLError("merge keys ('<<') are not supported; write the fields out in full", at: record.start)
        }
        let first: Mark?
        let keyCount = (work.count - frame.firstChild) / 2
        if frame.keyIndex == nil, keyCount < 16 {
            var found: Mark?
            for position in stride(from: frame.firstChild, to: work.count, by: 2) {
                let sibling = records[Int(work[position])]
                if case .scalar = sibling.kind, MappingKeyIndex.equal(bytes(sibling), name) { found = sibling.start; break }
            }
            first = found
        } else {
            let allRecords = records.slice(0, count: records.count), allText = text.slice(0, count: text.count)
            if frame.keyIndex == nil {
                var index = MappingKeyIndex(capacity: keyCount + 1)
                for position in stride(from: frame.firstChild, to: work.count, by: 2) {
                    let sibling = work[position]
                    guard case .scalar = records[Int(sibling)].kind else { continue }
                    _ = index.insert(sibling, records: allRecords, text: allText)  // duplicates among them were reported already
                }
                frame.keyIndex = index
            }
            first = frame.keyIndex?.insert(key, records: allRecords, text: allText).map { records[Int($0)].start }
        }
        guard let first else { return nil }
        return YAMLError(
            "duplicate key '\(String(decoding: name, as: UTF8.self))' (first defined at line \(first.line), column \(first.column))",
            at: record.start)
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

extension YAMLLoadResult {
    /// Every document, node (marks, tag, style, text) and error as lines of text: for tests
    /// and the fuzzer to compare two loads of one input.
    var outline: String {
        var lines: [String] = []
        func add(_ node: Node, _ depth: Int) {
            let head = String(repeating: "  ", count: depth) + "\(node.start)-\(node.end) \(node.tag.map { "!!\($0.rawValue) " } ?? "")"
            switch node.content {
            case .scalar(let text, let style): lines.append(head + "\(style) \(text.debugDescription)")
            case .sequence(let items):
                lines.append(head + "seq \(items.count)")
                for item in items { add(item, depth + 1) }
            case .mapping(let entries):
                lines.append(head + "map \(entries.count)")
                for entry in entries {
                    add(entry.key, depth + 1)
                    add(entry.value, depth + 1)
                }
            }
        }
        for document in documents {
            lines.append("document \(document.start)")
            if let root = document.root { add(root, 1) }
        }
        lines += problems.map { "problem \($0.mark): \($0.message)" }
        if let fatal { lines.append("fatal \(fatal.mark): \(fatal.message)") }
        return lines.joined(separator: "\n")
    }
}
