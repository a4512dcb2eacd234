import Foundation

/// An INI file (`~/.aws/credentials`) read for `key = value` lines per `[section]`,
/// with the byte range of each value for surgical replacement.
public struct INIFileDocument: Sendable {
    public struct Entry: Sendable {
        public var section: String
        public var key: String
        public var value: String
        public var valueRange: Range<Int>
        public var line: Int
    }

    public let bytes: [UInt8]
    public private(set) var entries: [Entry] = []
    public private(set) var sections: [String] = []

    public init(bytes: [UInt8]) {
        self.bytes = bytes
        var section = ""
        var lineNumber = 0
        var start = 0
        while start <= bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            var contentEnd = end
            if contentEnd > start, bytes[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
            let text = String(decoding: bytes[start..<contentEnd], as: UTF8.self)
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("["), trimmed.hasSuffix("]") {
                section = String(trimmed.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                sections.append(section)
            } else if !trimmed.hasPrefix("#"), !trimmed.hasPrefix(";"), let equals = bytes[start..<contentEnd].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ":") }) {
                let key = String(decoding: bytes[start..<equals], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                var valueStart = equals + 1
                while valueStart < contentEnd, bytes[valueStart] == UInt8(ascii: " ") || bytes[valueStart] == UInt8(ascii: "\t") { valueStart += 1 }
                var valueEnd = contentEnd
                while valueEnd > valueStart, bytes[valueEnd - 1] == UInt8(ascii: " ") || bytes[valueEnd - 1] == UInt8(ascii: "\t") { valueEnd -= 1 }
                if !key.isEmpty {
                    entries.append(Entry(section: section, key: key, value: String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self),
                                         valueRange: valueStart..<valueEnd, line: lineNumber))
                }
            }
            start = end + 1
        }
    }

    public func entry(section: String, key: String) -> Entry? {
        entries.last { $0.section == section && $0.key == key }
    }
}
