import Foundation

/// What decoding one document needs: the file (as displayed, for diagnostics), its
/// folder (relative paths in a document are relative to its file) and the diagnostics.
final class DecodingContext {
    let file: String
    let directory: String
    private let directoryBytes: [UInt8]
    var diagnostics = Diagnostics()

    init(file: String, directory: String) {
        self.file = file
        self.directory = PathNormalizer.normalize(directory)
        directoryBytes = PathNormalizer.folderBytes(self.directory)
    }

    /// A context for another thread: the same file and folder in strings of its own (every
    /// location holds the file's name, and a string shared by two cores is counted by both).
    convenience init(replicatingFile file: String, directory: String) {
        self.init(file: String(decoding: Array(file.utf8), as: UTF8.self), directory: String(decoding: Array(directory.utf8), as: UTF8.self))
    }

    func location(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, mark: mark) }
    func location(of node: Node) -> SourceLocation { location(node.start) }

    func error(_ message: String, at node: Node, notes: [Diagnostic] = []) {
        diagnostics.error(message, at: location(of: node), notes: notes)
    }

    func warning(_ message: String, at node: Node) {
        diagnostics.warning(message, at: location(of: node))
    }

    /// `decode` applied to the entries `range` of a mapping of user-chosen names (a fleet's
    /// consumers or keys), on every core when there are many: each share reads through its
    /// own replica of the tree and of this context (diagnostics, the file's names), so no
    /// reference count is changed by two cores at once (see `NodeTree`). Results and
    /// diagnostics are joined in order, as one pass would have made them.
    func decodeEntries<T: Sendable>(of mapping: Node, in range: Range<Int>,
                                    _ decode: @escaping @Sendable (DecodingContext, Located<String>, Node) -> T?) -> [T] {
        guard !range.isEmpty else { return [] }
        let (file, directory) = (file, directory)
        let shares = range.parallelShares(minimumShare: 256) { range in
            let context = DecodingContext(replicatingFile: file, directory: directory)
            let entries = mapping.viewed(through: mapping.tree.replica()).mappingEntries(range)
            return (MappingReader.named(entries[...], context).compactMap { decode(context, $0.name, $0.value) }, context.diagnostics)
        }
        for (_, found) in shares { diagnostics.append(contentsOf: found) }
        return shares.flatMap(\.0)
    }

    /// An absolute, standardized path: `~/` is the home folder, a relative path is
    /// relative to the document's folder.
    func resolvePath(_ path: String) -> String {
        var expanded = path
        if path == "~" || path.hasPrefix("~/") {
            let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
            expanded = home + path.dropFirst()
        }
        return expanded.hasPrefix("/") ? PathNormalizer.normalize(expanded) : PathNormalizer.normalize(expanded, after: directoryBytes)
    }
}

/// Lexical path clean-up (`a/./b/../c` → `a/c`), without touching the file system: the
/// same answer as `URL.standardizedFileURL` for absolute paths, at a fraction of the cost.
public enum PathNormalizer {
    private static let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")

    public static func normalize(_ absolutePath: String) -> String {
        if isNormal(absolutePath) { return absolutePath }
        return normalize(absolutePath, after: [])
    }

    /// A normal folder's bytes as `normalize(_:after:)` takes them (none for `/`).
    static func folderBytes(_ normalFolder: String) -> [UInt8] {
        normalFolder == "/" ? [] : Array(normalFolder.utf8)
    }

    /// `path`'s components applied to `base` (see `folderBytes`): `folder/relativePath`
    /// normalised in one pass, without making the joined string first.
    static func normalize(_ path: String, after base: [UInt8]) -> String {
        var path = path
        return path.withUTF8 { bytes in
            var output = base
            output.reserveCapacity(base.count + bytes.count + 1)
            forEachComponent(bytes) { start, end in
                switch end - start {
                case 0: return  // an empty component: `//` or a trailing slash
                case 1 where bytes[start] == dot: return
                case 2 where bytes[start] == dot && bytes[start + 1] == dot:
                    while let last = output.popLast(), last != slash {}  // drop the last component written, if any
                default:
                    output.append(slash)
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end]))
                }
            }
            return output.isEmpty ? "/" : String(decoding: output, as: UTF8.self)
        }
    }

    /// The folder holding `path`, like `NSString.deletingLastPathComponent` (`/a/b` → `/a`,
    /// `/a` → `/`, `a` → ``) at a hundredth of its cost: `plan` asks once per target.
    static func parent(of path: String) -> String {
        var path = path
        return path.withUTF8 { bytes in
            var end = bytes.count
            while end > 1, bytes[end - 1] == slash { end -= 1 }  // trailing slashes
            while end > 0, bytes[end - 1] != slash { end -= 1 }  // the last component
            while end > 1, bytes[end - 1] == slash { end -= 1 }  // the slashes before it
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }

    /// True for a path already in normal form (most paths in a configuration): absolute,
    /// no empty, `.` or `..` component, no trailing slash.
    private static func isNormal(_ path: String) -> Bool {
        var path = path
        return path.withUTF8 { bytes in
            guard bytes.first == slash else { return false }
            if bytes.count == 1 { return true }
            var normal = true
            forEachComponent(UnsafeBufferPointer(rebasing: bytes[1...])) { start, end in
                let length = end - start
                if length == 0 || (bytes[start + 1] == dot && (length == 1 || (length == 2 && bytes[start + 2] == dot))) { normal = false }
            }
            return normal
        }
    }

    /// Calls `body` with the bounds of each `/`-separated component, empty ones included.
    private static func forEachComponent(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (_ start: Int, _ end: Int) -> Void) {
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != slash { end += 1 }
            body(start, end)
            start = end + 1
        }
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
