/// Renders diagnostics as `path:line:column: error: message`, then the source line and a
/// caret under the column. Colors only when asked (the caller decides: a terminal, and
/// neither `NO_COLOR` nor `--no-color`).
public struct DiagnosticRenderer: Sendable {
    public var sources: SourceFiles
    public var colored: Bool

    public init(sources: SourceFiles, colored: Bool) {
        self.sources = sources
        self.colored = colored
    }

    public func render(_ diagnostic: Diagnostic) -> String {
        var lines = [headline(diagnostic)]
        if let location = diagnostic.location, let line = sources.line(location.line, of: location.file) {
            // A literal secret the configuration was refused for is masked where it is quoted.
            let source = KnownSecrets.shared.redact(line)
            let (excerpt, column) = Self.excerpt(of: source, around: location.column)
            lines.append(excerpt)
            lines.append(caretLine(under: excerpt, column: column))
        }
        for note in diagnostic.notes {
            lines.append(render(note))
        }
        return lines.joined(separator: "\n")
    }

    public func render(_ diagnostics: [Diagnostic]) -> String {
        diagnostics.map { render($0) + "\n" }.joined()
    }

    private func headline(_ diagnostic: Diagnostic) -> String {
        let place = diagnostic.location.map { "\($0): " } ?? ""
        let label = "\(diagnostic.severity.rawValue):"
        guard colored else { return "\(place)\(label) \(diagnostic.message)" }
        let color = switch diagnostic.severity {
        case .error: "\u{1B}[1;31m"
        case .warning: "\u{1B}[1;33m"
        case .note: "\u{1B}[1;36m"
        }
        let boldPlace = place.isEmpty ? "" : "\u{1B}[1m\(place)\u{1B}[0m"
        return "\(boldPlace)\(color)\(label)\u{1B}[0m \u{1B}[1m\(diagnostic.message)\u{1B}[0m"
    }

    /// The source line, or for a very long one (a 4 MiB scalar on one line) a window of it
    /// around the column with `…` where it was cut, and the column within what is shown.
    static func excerpt(of line: String, around column: Int, before: Int = 60, after: Int = 100) -> (String, Int) {
        guard line.utf8.count > before + after, line.unicodeScalars.count > before + after else { return (line, column) }
        let scalars = Array(line.unicodeScalars.prefix(column + after))
        let start = max(0, column - 1 - before)
        let end = min(scalars.count, column - 1 + after)
        var text = String(String.UnicodeScalarView(scalars[start..<end]))
        var shownColumn = column - start
        if start > 0 { text = "…" + text; shownColumn += 1 }
        if end < line.unicodeScalars.count { text += "…" }
        return (text, shownColumn)
    }

    /// Spaces (tabs kept, so the caret lines up) up to the column, then `^`.
    private func caretLine(under source: String, column: Int) -> String {
        let prefix = source.unicodeScalars.prefix(max(column - 1, 0)).map { $0 == "\t" ? "\t" : " " }.joined()
        let caret = colored ? "\u{1B}[1;32m^\u{1B}[0m" : "^"
        return prefix + caret
    }
}
