/// The text of every configuration file read in a run, so diagnostics can quote the
/// offending line. Keyed by the path as displayed.
public struct SourceFiles: Sendable {
    private var texts: [String: Text] = [:]

    /// A file's bytes and where each of its lines starts, found once: quoting the line of
    /// each of 80,000 diagnostics by scanning from the top was quadratic (#18).
    private struct Text: Sendable {
        var bytes: [UInt8]
        var lineStarts: [Int]

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            var starts = [0]
            for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") { starts.append(offset + 1) }
            lineStarts = starts
        }
    }

    public init() {}

    public mutating func add(_ bytes: [UInt8], for file: String) { texts[file] = Text(bytes) }

    public func bytes(of file: String) -> [UInt8]? { texts[file]?.bytes }

    /// The 1-based line of a file, without its line break; nil when unknown.
    public func line(_ number: Int, of file: String) -> String? {
        guard let text = texts[file], number >= 1, number <= text.lineStarts.count else { return nil }
        let start = text.lineStarts[number - 1]
        var end = number < text.lineStarts.count ? text.lineStarts[number] - 1 : text.bytes.count
        if end > start, text.bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: text.bytes[start..<end], as: UTF8.self)
    }
}
