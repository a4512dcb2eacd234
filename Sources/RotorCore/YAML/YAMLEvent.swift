/// How a scalar was written. rotor gives plain scalars no implicit type: the schema
/// decides, but it still needs to know whether `true` was quoted.
public enum ScalarStyle: Sendable, Equatable {
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

/// A syntax error or a broken limit while reading YAML: fatal for the file it is in.
public struct YAMLError: Error, Equatable, Sendable {
    public var message: String
    public var mark: Mark

    public init(_ message: String, at mark: Mark) {
        self.message = message
        self.mark = mark
    }
}
