/// The placeholders a template may name.
public enum Placeholder: String, Sendable, CaseIterable, Hashable {
    case key, name, id, secret, date, timestamp
}

/// A string with `{placeholder}`s, parsed and checked at load time.
///
/// Where a template stands decides which placeholders it may use: `{secret}` only where a
/// secret belongs (a target's value, a command's stdin or environment, the headers or body
/// of the policy's own verify request), so a configuration cannot send a secret anywhere
/// it does not declare.
public struct Template: Hashable, Sendable, CustomStringConvertible {
    public enum Part: Hashable, Sendable {
        case literal(String)
        case placeholder(Placeholder)
    }

    public var parts: [Part]
    /// The text as written.
    public var source: String

    public init(parts: [Part], source: String) {
        self.parts = parts
        self.source = source
    }

    /// A template with no placeholders.
    public init(literal: String) {
        self.init(parts: literal.isEmpty ? [] : [.literal(literal)], source: literal)
    }

    public var description: String { source }

    /// `{secret}`: a target's value when it names none.
    public static let secretOnly = Template(parts: [.placeholder(.secret)], source: "{secret}")

    public var placeholders: Set<Placeholder> {
        Set(parts.compactMap { if case .placeholder(let p) = $0 { p } else { nil } })
    }

    public var usesSecret: Bool { placeholders.contains(.secret) }

    /// Fills the template. Placeholders without a value are kept as written.
    public func render(_ values: [Placeholder: String]) -> String {
        parts.map { part in
            switch part {
            case .literal(let text): text
            case .placeholder(let placeholder): values[placeholder] ?? "{\(placeholder.rawValue)}"
            }
        }.joined()
    }

    public enum ParseError: Error, Equatable {
        /// An unknown `{name}`, with its 0-based character offset in the text.
        case unknownPlaceholder(String, offset: Int)
        case unclosedBrace(offset: Int)
    }

    /// Parses `text`. `{{` and `}}` stand for literal braces.
    public static func parse(_ text: String) -> Result<Template, ParseError> {
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }) {
            return .success(Template(literal: text))
        }
        // ASCII text (nearly every template; a fleet's policy has one per key) is scanned as
        // bytes; other text as characters, so that a brace followed by a combining mark stays
        // the one character it is. Offsets count characters either way.
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            return parse(Array(text.utf8), braces: (UInt8(ascii: "{"), UInt8(ascii: "}")), source: text) { String(decoding: $0, as: UTF8.self) }
        }
        return parse(Array(text), braces: ("{", "}"), source: text) { String($0) }
    }

    private static func parse<Element: Equatable>(_ elements: [Element], braces: (open: Element, close: Element), source: String,
                                                  string: ([Element]) -> String) -> Result<Template, ParseError> {
        var parts: [Part] = []
        var literal: [Element] = []
        var index = 0
        while index < elements.count {
            let element = elements[index]
            if element == braces.open {
                if index + 1 < elements.count, elements[index + 1] == braces.open {
                    literal.append(braces.open)
                    index += 2
                    continue
                }
                guard let close = elements[(index + 1)...].firstIndex(of: braces.close) else {
                    return .failure(.unclosedBrace(offset: index))
                }
                let name = string(Array(elements[(index + 1)..<close]))
                guard let placeholder = Placeholder(rawValue: name) else {
                    return .failure(.unknownPlaceholder(name, offset: index))
                }
                if !literal.isEmpty { parts.append(.literal(string(literal))) }
                literal.removeAll()
                parts.append(.placeholder(placeholder))
                index = close + 1
                continue
            }
            if element == braces.close, index + 1 < elements.count, elements[index + 1] == braces.close {
                literal.append(braces.close)
                index += 2
                continue
            }
            literal.append(element)
            index += 1
        }
        if !literal.isEmpty { parts.append(.literal(string(literal))) }
        return .success(Template(parts: parts, source: source))
    }
}
