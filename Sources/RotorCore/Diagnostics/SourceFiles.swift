/// The text of every configuration file read in a run, so diagnostics can quote the
/// offending line. Keyed by the path as displayed.
public struct SourceFiles: Sendable {
    private var texts: [String: [UInt8]] = [:]

    public init() {}

    public mutating func add(_ bytes: [UInt8], for file: String) { texts[file] = bytes }

    public func bytes(of file: String) -> [UInt8]? { texts[file] }

    /// The 1-based line of a file, without its line break; nil when unknown.
    public func line(_ number: Int, of file: String) -> String? {
        guard let bytes = texts[file], number >= 1 else { return nil }
        var current = 1
        var start = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                if current == number { break }
                current += 1
                start = index + 1
            }
            index += 1
        }
        guard current == number, start <= bytes.count else { return nil }
        var end = index
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
