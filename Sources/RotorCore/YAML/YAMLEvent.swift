/// How a scalar was written. rotor gives plain scalars no implicit type: the schema
/// decides, but it still needs to know whether `true` was quoted.
public enum ScalarStyle: Sendable, Equatable, BitwiseCopyable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// One event pulled from libyaml, with every C pointer already copied into Swift values.
enum YAMLEvent: Equatable {
    case streamStart
    case streamEnd
    case documentStart(Mark, implicit: Bool)
    case documentEnd(Mark, implicit: Bool)
    case mappingStart(anchor: String?, tag: String?, flow: Bool, mark: Mark)
    case mappingEnd(Mark)
    case sequenceStart(anchor: String?, tag: String?, flow: Bool, mark: Mark)
    case sequenceEnd(Mark)
    case scalar(value: String, anchor: String?, tag: String?, style: ScalarStyle, start: Mark, end: Mark)
    case alias(anchor: String, mark: Mark)
}

/// One event as libyaml produced it, for the loader: see `YAMLEventParser.withNextEvent`.
/// Its pointers (a scalar's bytes, an anchor, a tag) point into libyaml's event and are
/// valid only while the event is being handled; it holds nothing to retain or release.
struct RawYAMLEvent {
    enum Kind {
        case streamStart, streamEnd, documentStart, documentEnd
        case mappingStart, mappingEnd, sequenceStart, sequenceEnd, scalar, alias
    }

    var kind: Kind
    var start: Mark
    /// Where a scalar ends (other events: their start).
    var end: Mark
    /// Document start and end: written without `---` / `...`.
    var implicit = false
    /// Collections: written in flow style (`{…}`, `[…]`).
    var flow = false
    var style = ScalarStyle.plain
    var text = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
    /// An alias's name or a node's anchor, NUL-terminated; nil when there is none.
    var anchorBytes: UnsafePointer<UInt8>?
    var tagBytes: UnsafePointer<UInt8>?

    init(kind: Kind, start: Mark) {
        self.kind = kind
        self.start = start
        self.end = start
    }

    var anchor: String? { anchorBytes.map { String(cString: $0) } }
    var tag: String? { tagBytes.map { String(cString: $0) } }
}

/// A syntax error or a broken limit while reading YAML: fatal for the file it is in.
public struct YAMLError: Error, Equatable, Sendable {
    public var message: String
    public var mark: Mark

    public init(_ message: String, at mark: Mark) {
        self.message = message
        self.mark = mark
    }
}
