internal import CYAML

/// A position in a source file: 1-based line and column (columns count characters),
/// plus the 0-based character offset libyaml reports.
///
/// libyaml's marks are 0-based; this type's C initializer is the only place that
/// converts them, so an off-by-one cannot creep in anywhere else.
public struct Mark: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    /// 0-based index in characters (Unicode scalars) from the start of the input.
    public var characterOffset: Int

    public init(line: Int, column: Int, characterOffset: Int = 0) {
        self.line = line
        self.column = column
        self.characterOffset = characterOffset
    }

    init(_ mark: yaml_mark_t) {
        self.init(line: Int(mark.line) + 1, column: Int(mark.column) + 1, characterOffset: Int(mark.index))
    }

    public static func < (lhs: Mark, rhs: Mark) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    public var description: String { "\(line):\(column)" }
}
