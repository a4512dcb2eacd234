import Foundation

/// What decoding one document needs: the file (as displayed, for diagnostics), its
/// folder (relative paths in a document are relative to its file) and the diagnostics.
final class DecodingContext {
    let file: String
    let directory: String
    var diagnostics = Diagnostics()

    init(file: String, directory: String) {
        self.file = file
        self.directory = PathNormalizer.normalize(directory)
    }

    func location(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, mark: mark) }
    func location(of node: Node) -> SourceLocation { location(node.start) }

    func error(_ message: String, at node: Node, notes: [Diagnostic] = []) {
        diagnostics.error(message, at: location(of: node), notes: notes)
    }

    func warning(_ message: String, at node: Node) {
        diagnostics.warning(message, at: location(of: node))
    }

    /// An absolute, standardized path: `~/` is the home folder, a relative path is
    /// relative to the document's folder.
    func resolvePath(_ path: String) -> String {
        var expanded = path
        if path == "~" || path.hasPrefix("~/") {
            let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
            expanded = home + path.dropFirst()
        }
        return PathNormalizer.normalize(expanded.hasPrefix("/") ? expanded : directory + "/" + expanded)
    }
}

/// Lexical path clean-up (`a/./b/../c` → `a/c`), without touching the file system: the
/// same answer as `URL.standardizedFileURL` for absolute paths, at a fraction of the cost.
enum PathNormalizer {
    static func normalize(_ absolutePath: String) -> String {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        var output: [UInt8] = []
        output.reserveCapacity(absolutePath.utf8.count + 1)
        var component: [UInt8] = []
        func flush() {
            defer { component.removeAll(keepingCapacity: true) }
            if component.isEmpty || component == [dot] { return }
            if component == [dot, dot] {
                // Drop the last component written, if any.
                while let last = output.popLast(), last != slash {}
                return
            }
            output.append(slash)
            output.append(contentsOf: component)
        }
        for byte in absolutePath.utf8 {
            if byte == slash { flush() } else { component.append(byte) }
        }
        flush()
        return output.isEmpty ? "/" : String(decoding: output, as: UTF8.self)
    }
}

/// Where a template stands, which decides the placeholders it may use.
struct TemplateRole {
    /// "a URL", "an argv element", "the name of new generations"…
    var description: String
    var allowed: Set<Placeholder>

    private static let context: Set<Placeholder> = [.key, .name, .date, .timestamp]
    private static let afterCreate: Set<Placeholder> = context.union([.id])

    static let generationName = TemplateRole(description: "a generation's name", allowed: [.key, .date, .timestamp])
    static let providerCreate = TemplateRole(description: "a provider's create request", allowed: context)
    static let providerRequest = TemplateRole(description: "a provider's request", allowed: afterCreate)
    static let url = TemplateRole(description: "a URL", allowed: afterCreate)
    static let argv = TemplateRole(description: "a command's argv", allowed: afterCreate)
    static let healthCheck = TemplateRole(description: "a health check", allowed: afterCreate)
    static let webhook = TemplateRole(description: "a webhook", allowed: afterCreate)
    /// Where the secret is delivered: a target's value, a command's stdin or environment,
    /// the headers and body of the policy's own verify request.
    static let secretDestination = TemplateRole(description: "a secret's destination", allowed: afterCreate.union([.secret]))
}
