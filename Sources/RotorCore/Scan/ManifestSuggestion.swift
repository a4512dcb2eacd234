import Foundation

/// The consumer entries that would declare undeclared copies, ready to paste under
/// `consumers:` of the manifest that already lists the key's consumers (paths relative to
/// it, as manifests write them); one consumer per file and key.
enum ManifestSuggestion {
    /// The copies no entry can declare (each with what to do instead), then one YAML block
    /// per manifest — the tail pastes as it is.
    static func make(_ findings: [ScanFinding], configuration: Configuration) -> [String] {
        var notes: [String] = []
        var blocks: [String: [String]] = [:]
        var taken = Set(configuration.consumers.map(\.name.value))
        for finding in findings where finding.target == nil || finding.targetOf != nil {
            let place = "  \(ControlCharacters.escapeLine(finding.path)):\(finding.line): "
            if let other = finding.targetOf {
                notes.append(place + "a target of key '\(other)' holds key '\(finding.key)': 'rotor sync \(other)' writes \(other)'s value there, if that is what it should hold")
            } else {
                notes.append(place + "no manifest target can address this copy (a plain text file, a value inside a longer string, a YAML list item): move it into an env, JSON, YAML or INI value of its own, or delete it")
            }
        }
        let declarable = findings.filter { $0.target != nil && $0.targetOf == nil }
        let byKey = Dictionary(grouping: declarable, by: \.key)
        for key in byKey.keys.sorted() {
            let first = configuration.consumers(of: key).first
            let manifest = first.map { displayPath($0.name.location.file) } ?? ""
            let folder = first?.directory ?? FileManager.default.currentDirectoryPath
            let byFile = Dictionary(grouping: byKey[key]!, by: \.path)
            for path in byFile.keys.sorted() {
                var lines = ["  \(consumerName(key: key, path: path, taken: &taken)):", "    uses: \(key)", "    targets:"]
                var written = Set<[String: String]>()
                for finding in byFile[path]! {
                    guard var target = finding.target, written.insert(target).inserted else { continue }
                    if let file = target.first(where: { $0.key.hasSuffix("_file") }) {
                        target[file.key] = relativePath(file.value, from: folder)
                    }
                    for (index, field) in finding.targetOrder.enumerated() {
                        lines.append((index == 0 ? "      - " : "        ") + "\(field): \(YAMLText.quotedIfNeeded(target[field] ?? ""))")
                    }
                }
                blocks[manifest, default: []] += lines
            }
        }
        var lines = notes
        for manifest in blocks.keys.sorted() {
            lines.append("  # " + (manifest.isEmpty ? "in a consumer manifest (kind: ConsumerManifest), under consumers:"
                                                    : "in \(ControlCharacters.escapeLine(manifest)), under consumers:"))
            lines += blocks[manifest]!
        }
        return lines
    }

    /// `KEY-FOLDER` from the file's folder, made unique among the fleet's consumers.
    private static func consumerName(key: String, path: String, taken: inout Set<String>) -> String {
        let absolute = PathNormalizer.normalize(path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path)
        let folder = ((absolute as NSString).deletingLastPathComponent as NSString).lastPathComponent
        let cleaned = String(folder.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        let base = key + (cleaned.isEmpty ? "" : "-" + cleaned)
        var name = base
        var number = 2
        while !taken.insert(name).inserted {
            name = "\(base)-\(number)"
            number += 1
        }
        return name
    }

    private static func displayPath(_ path: String) -> String {
        ConfigurationLoader(workingDirectory: FileManager.default.currentDirectoryPath).displayPath(path)
    }

    /// `path` (absolute) as seen from `folder`: `../deploy/.env`.
    static func relativePath(_ path: String, from folder: String) -> String {
        let target = PathNormalizer.normalize(path).split(separator: "/")
        let base = PathNormalizer.normalize(folder).split(separator: "/")
        var common = 0
        while common < min(target.count, base.count), target[common] == base[common] { common += 1 }
        let parts = Array(repeating: "..", count: base.count - common) + target[common...].map(String.init)
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }
}

/// Scalars written into YAML a person pastes.
enum YAMLText {
    /// Plain when YAML reads it back as the same string, else double-quoted.
    static func quotedIfNeeded(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { scalar in
            CharacterSet.alphanumerics.contains(scalar) || "._/-".unicodeScalars.contains(scalar)
        } && !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(text.lowercased()) && Double(text) == nil
        if plain { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: quoted += String(format: "\\x%02X", scalar.value)
            // C1 controls (U+009B starts a terminal sequence) and the invisible characters that
            // reorder or break text: escaped, so a pasted block says what it seems to.
            case _ where (0x80...0x9F).contains(scalar.value) || ControlCharacters.isInvisibleReordering(scalar):
                quoted += String(format: "\\u%04X", scalar.value)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}

/// Words a person pastes into a shell.
enum ShellQuote {
    /// As is when made of characters no shell reads specially, else single-quoted.
    static func quote(_ word: String) -> String {
        let safe = !word.isEmpty && word.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "._/-:=@+,".unicodeScalars.contains($0) }
        return safe ? word : "'" + ControlCharacters.escapeLine(word).replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
