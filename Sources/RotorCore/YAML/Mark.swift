internal import CYAML

/// A position in a source file: 1-based line and column (columns count characters),
/// plus the 0-based character offset libyaml reports.
///
/// libyaml's marks are 0-based; this type's C initializer is the only place that
/// converts them, so an off-by-one cannot creep in anywhere else.
public struct Mark: Hashable, Sendable, Comparable, CustomStringConvertible, BitwiseCopyable {
    // Stored in 32 bits (files are bounded far below 4 GiB): every node carries two marks.
    private var storedLine: UInt32
    private var storedColumn: UInt32
    private var storedOffset: UInt32

    public var line: Int {
        get { Int(storedLine) }
        set { storedLine = UInt32(clamping: newValue) }
    }

    public var column: Int {
        get { Int(storedColumn) }
        set { storedColumn = UInt32(clamping: newValue) }
    }

    /// 0-based index in characters (Unicode scalars) from the start of the input.
    public var characterOffset: Int {
        get { Int(storedOffset) }
        set { storedOffset = UInt32(clamping: newValue) }
    }

    public init(line: Int, column: Int, characterOffset: Int = 0) {
        storedLine = UInt32(clamping: line)
        storedColumn = UInt32(clamping: column)
        storedOffset = UInt32(clamping: characterOffset)
    }

    @inline(__always) init(_ mark: yaml_mark_t) {
        self.init(line: Int(mark.line) + 1, column: Int(mark.column) + 1, characterOffset: Int(mark.index))
    }

    public static func < (lhs: Mark, rhs: Mark) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    public var description: String { "\(line):\(column)" }
}
