/// A YAML node as rotor sees it: content, the standard tag it was given (if any) and
/// where it starts and ends in its file.
///
/// Scalars keep their text and style, never an implicit type: the configuration schema
/// decides what `NO` or `0755` means, not YAML 1.1 guessing.
public struct Node: Sendable {
    public enum Content: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([Node])
        case mapping([MappingEntry])
    }

    public var content: Content
    public var tag: StandardTag?
    public var start: Mark
    public var end: Mark

    public init(_ content: Content, tag: StandardTag? = nil, start: Mark, end: Mark) {
        self.content = content
        self.tag = tag
        self.start = start
        self.end = end
    }

    /// True for a scalar written without quotes or block indicators.
    public var isPlain: Bool {
        if case .scalar(_, .plain) = content { return true }
        return false
    }

    /// The scalar's text, or nil for a collection.
    public var scalarText: String? {
        if case .scalar(let text, _) = content { return text }
        return nil
    }

    /// True for an empty plain scalar, `~`, `null`, `Null`, `NULL` or a `!!null` tag.
    public var isNull: Bool {
        guard case .scalar(let text, let style) = content else { return false }
        if tag == .null { return true }
        guard style == .plain, tag == nil else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    /// A short name of the node's kind for error messages: "a mapping", "the string \"x\"".
    public var kindDescription: String {
        switch content {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .scalar(let text, let style):
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
public enum StandardTag: String, Sendable, CaseIterable {
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
