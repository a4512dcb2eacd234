/// `key = value` under `[section]`.
struct INIFileFormat: FileTargetFormat {
    var section: String
    var key: String

    func read(_ bytes: [UInt8]) -> Result<String, TargetReadProblem> {
        let document = INIFileDocument(bytes: bytes)
        guard document.sections.contains(section) || section.isEmpty else { return .failure(.missing("no [\(section)] section")) }
        guard let entry = document.entry(section: section, key: key) else { return .failure(.missing("no '\(key)' in [\(section)]")) }
        return .success(entry.value)
    }

    func replaceUnverified(in bytes: [UInt8], with value: String, create: Bool) -> Result<[UInt8], TargetEditError> {
        guard !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }), value == value.trimmingSpaces else {
            return .failure(TargetEditError("INI files cannot hold a value with a line break, a control character or surrounding spaces; use another target type"))
        }
        let document = INIFileDocument(bytes: bytes)
        if let entry = document.entry(section: section, key: key) {
            return .success(bytes.replacing(entry.valueRange, with: value.utf8))
        }
        guard create else { return .failure(TargetEditError("no '\(key)' in [\(section)] (set create: true on the target to add it)")) }
        let ending = bytes.lineEnding
        var result = bytes
        if let last = document.entries.last(where: { $0.section == section }) ?? nil {
            // Insert after the section's last entry line.
            var lineEnd = last.valueRange.upperBound
            while lineEnd < result.count, result[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            result.insert(contentsOf: Array("\(key) = \(value)\(ending)".utf8), at: Swift.min(lineEnd + 1, result.count))
            return .success(result)
        }
        if let last = result.last, last != UInt8(ascii: "\n") { result += Array(ending.utf8) }
        if document.sections.contains(section) {
            // An empty section: add right under its header.
            let header = Array("[\(section)]".utf8)
            if let start = result.firstRange(of: header) {
                var lineEnd = start.upperBound
                while lineEnd < result.count, result[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                result.insert(contentsOf: Array("\(key) = \(value)\(ending)".utf8), at: Swift.min(lineEnd + 1, result.count))
                return .success(result)
            }
        }
        if !result.isEmpty { result += Array(ending.utf8) }
        result += Array("[\(section)]\(ending)\(key) = \(value)\(ending)".utf8)
        return .success(result)
    }
}
