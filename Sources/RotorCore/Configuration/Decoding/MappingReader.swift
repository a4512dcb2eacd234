import Foundation

/// Reads one YAML mapping against a schema, field by field.
///
/// Every field the schema asks for is remembered, so `finish()` can report the fields
/// nobody asked for as unknown, with a did-you-mean among those that exist. Scalars are
/// typed by the schema: a string field given `NO` gets the string `NO`; a boolean field
/// accepts only `true` and `false`.
final class MappingReader {
    let node: Node
    let context: DecodingContext
    /// What this mapping is, for messages: "key 'skytells-prod'". Made only when a
    /// message needs it: most mappings are read without one.
    private(set) lazy var subject: String = describeSubject()
    private let describeSubject: () -> String
    /// The mapping's children in its tree: key, value, key, value… Read in place: a
    /// reader makes no `String` or array per entry unless a message needs one (a fleet's
    /// manifest has two mappings per consumer).
    private let children: UnsafeBufferPointer<Int32>
    private var pairCount: Int { children.count / 2 }
    /// Which entries the schema asked for (bit i: entry i), then for entries past 64.
    private var usedBits: UInt64 = 0
    private var usedBeyond: [Bool] = []
    /// Built only for large mappings; small ones are scanned.
    private var index: [String: Int]?
    /// Every field the schema asked for, in order, possibly repeated: for did-you-mean.
    /// The first 16 in the reader itself, the rest in an array: a fleet's manifest has two
    /// mappings per consumer, and an array each was an allocation each. Static strings
    /// (fields are named by literals): nothing to release when a reader goes.
    private var askedInPlace = InlineArray<16, StaticString>(repeating: "")
    private var askedCount = 0
    private var askedBeyond: [StaticString] = []
    private var asked: [String] { ((0..<min(askedCount, 16)).map { askedInPlace[$0] } + askedBeyond).map(\.description) }
    /// Required fields that were absent; reported by `finish()` unless an unknown field
    /// is their likely misspelling (then one "did you mean" error says it all).
    private var missingRequired: [String] = []

    /// nil (and an error) when `node` is not a mapping.
    init?(_ node: Node, _ context: DecodingContext, subject: @autoclosure @escaping () -> String) {
        self.node = node
        self.context = context
        self.describeSubject = subject
        let record = node.tree[node.index]
        guard record.kind == .mapping else {
            context.error("\(subject()) must be a mapping, not \(node.kindDescription)", at: node)
            return nil
        }
        children = node.tree.children(of: record)
        if pairCount > 64 { usedBeyond = Array(repeating: false, count: pairCount - 64) }
        if pairCount > 12 {
            var index: [String: Int] = [:]
            for pair in 0..<pairCount { if let name = name(ofPair: pair) { index[name] = index[name] ?? pair } }
            self.index = index
        }
    }

    /// The name of entry `pair`; nil for a non-scalar key or the merge key `<<` (the
    /// loader reported both).
    private func name(ofPair pair: Int) -> String? {
        let key = self.key(pair)
        guard let name = key.scalarText, !(name == "<<" && key.isPlain) else { return nil }
        return name
    }

    private func key(_ pair: Int) -> Node { Node(node.tree, Int(children[2 * pair])) }
    private func value(_ pair: Int) -> Node { Node(node.tree, Int(children[2 * pair + 1])) }

    /// The first entry named `field`, comparing its bytes in the tree.
    private func firstPair(named field: StaticString) -> Int? {
        field.withUTF8Buffer { name in
            for pair in 0..<pairCount {
                let key = node.tree[Int(children[2 * pair])]
                guard case .scalar = key.kind, Int(key.count) == name.count else { continue }
                let bytes = node.tree.bytes(of: key)
                if name.isEmpty || memcmp(bytes.baseAddress!, name.baseAddress!, name.count) == 0 { return pair }
            }
            return nil
        }
    }

    private func isUsed(_ pair: Int) -> Bool {
        pair < 64 ? usedBits & (1 << UInt64(pair)) != 0 : usedBeyond[pair - 64]
    }

    /// Where `field` is among the entries; remembers that the schema asked for it.
    private func position(of field: StaticString) -> Int? {
        if askedCount < 16 { askedInPlace[askedCount] = field } else { askedBeyond.append(field) }
        askedCount += 1
        guard let position = index.map({ $0[field.description] }) ?? firstPair(named: field) else { return nil }
        if position < 64 { usedBits |= 1 << UInt64(position) } else { usedBeyond[position - 64] = true }
        return position
    }

    var location: SourceLocation { context.location(of: node) }

    /// The names present in the mapping, in order.
    var presentNames: [String] { (0..<pairCount).compactMap(name(ofPair:)) }

    func has(_ field: StaticString) -> Bool {
        position(of: field).map { !value($0).isNull } ?? false
    }

    /// The raw node of a field (null counts as absent).
    func node(_ field: StaticString, required: Bool = false) -> Node? {
        guard let position = position(of: field), case let value = value(position), !value.isNull else {
            if required, !missingRequired.contains(field.description) { missingRequired.append(field.description) }
            return nil
        }
        return value
    }

    func keyNode(_ field: StaticString) -> Node? { position(of: field).map(key) }

    func string(_ field: StaticString, required: Bool = false) -> Located<String>? {
        guard let value = node(field, required: required) else { return nil }
        return Self.string(value, context, field: "'\(field)' of \(subject)")
    }

    func int(_ field: StaticString, range: ClosedRange<Int>? = nil) -> Int? {
        guard let value = node(field) else { return nil }
        return Self.int(value, context, field: "'\(field)' of \(subject)", range: range)
    }

    func bool(_ field: StaticString) -> Bool? {
        guard let value = node(field) else { return nil }
        guard case .scalar(let text, let style) = value.content,
              style == .plain, value.tag == nil || value.tag == .bool, text == "true" || text == "false"
        else {
            context.error("'\(field)' of \(subject) must be true or false, not \(value.kindDescription)", at: value)
            return nil
        }
        return text == "true"
    }

    func duration(_ field: StaticString) -> RotorDuration? {
        guard let text = string(field) else { return nil }
        guard let duration = RotorDuration(parsing: text.value) else {
            context.diagnostics.error(
                "'\(field)' of \(subject) is not a duration: '\(text.value)'; write e.g. 2w, 90d, 12h, 30m, 45s or 0s",
                at: text.location)
            return nil
        }
        return duration
    }

    func template(_ field: StaticString, role: TemplateRole, required: Bool = false) -> Template? {
        guard let value = node(field, required: required) else { return nil }
        return Self.template(value, context, field: "'\(field)' of \(subject)", role: role)
    }

    func pointer(_ field: StaticString, required: Bool = false) -> JSONPointer? {
        guard let text = string(field, required: required) else { return nil }
        guard let pointer = JSONPointer(text.value) else {
            context.diagnostics.error(
                "'\(field)' of \(subject) is not a JSON pointer: '\(text.value)'; a pointer starts with '/', e.g. /api_key",
                at: text.location)
            return nil
        }
        return pointer
    }

    /// A sequence field, each item handed to `decode`.
    func list<T>(_ field: StaticString, required: Bool = false, _ decode: (Node, Int) -> T?) -> [T]? {
        guard let value = node(field, required: required) else { return nil }
        guard case .sequence(let items) = value.content else {
            context.error("'\(field)' of \(subject) must be a list, not \(value.kindDescription)", at: value)
            return nil
        }
        return items.enumerated().compactMap { decode($1, $0) }
    }

    /// The names of a mapping's entries (non-scalar keys were reported by the loader).
    static func entryNames(of mapping: Node) -> [String] {
        guard case .mapping(let pairs) = mapping.content else { return [] }
        return pairs.compactMap(\.key.scalarText)
    }

    /// A mapping field whose entries are user-chosen names (providers, keys, consumers).
    func namedEntries(_ field: StaticString) -> [(name: Located<String>, value: Node)]? {
        guard let mapping = namedMapping(field), case .mapping(let pairs) = mapping.content else { return nil }
        return Self.named(pairs[...], context)
    }

    /// The node of such a field: nil (and an error) when it is not a mapping.
    func namedMapping(_ field: StaticString) -> Node? {
        guard let value = node(field) else { return nil }
        guard value.tree[value.index].kind == .mapping else {
            context.error("'\(field)' must be a mapping of names, not \(value.kindDescription)", at: value)
            return nil
        }
        return value
    }

    /// The entries of such a mapping with their names (non-scalar keys were reported by the loader).
    static func named(_ pairs: ArraySlice<MappingEntry>, _ context: DecodingContext) -> [(name: Located<String>, value: Node)] {
        pairs.compactMap { pair in name(of: pair, context).map { ($0, pair.value) } }
    }

    /// One entry's name, where its key stands; nil for a non-scalar key.
    static func name(of entry: MappingEntry, _ context: DecodingContext) -> Located<String>? {
        entry.key.scalarText.map { Located($0, at: context.location(of: entry.key)) }
    }

    /// Reports every field the schema did not ask for. `hints` gives a message for
    /// names that deserve more than a did-you-mean (e.g. a literal `token`).
    func finish(hints: [String: String] = [:]) {
        var explained = Set<String>()
        var seen = Set<String>()
        let unused = (0..<pairCount).filter { !isUsed($0) }.compactMap { pair in name(ofPair: pair).map { (pair, $0) } }
        let known = unused.isEmpty ? [] : asked.filter { seen.insert($0).inserted }
        // A name asked for but unused is a duplicate key, which the loader reported.
        for (pair, name) in unused where !known.contains(name) {
            let key = key(pair)
            if let hint = hints[name] {
                // A literal secret under a refused name: not quoted back in the source line.
                if let literal = value(pair).scalarText { _ = Secret(literal) }
                context.error("unknown field '\(name)' in \(subject): \(hint)", at: key)
                continue
            }
            let closest = Suggestion.closest(to: name, in: known)
            if let closest { explained.insert(closest) }
            let suggestion = closest.map { " (did you mean '\($0)'?)" } ?? ""
            let list = closest == nil && !known.isEmpty ? "; expected one of: \(known.joined(separator: ", "))" : ""
            context.error("unknown field '\(name)' in \(subject)\(suggestion)\(list)", at: key)
        }
        reportMissingRequired(except: explained)
    }

    /// Reports the absent required fields, except those an unknown field already explains.
    func reportMissingRequired(except explained: Set<String> = []) {
        for field in missingRequired where !explained.contains(field) {
            context.error("\(subject) is missing the required field '\(field)'", at: node)
        }
        missingRequired = []
    }

    /// Ends reading without judging unknown fields: for a mapping whose schema is
    /// unknown because an earlier error (an unknown type) made it so.
    func abandon() {
        reportMissingRequired()
    }
}

// MARK: - Scalars typed by the schema

extension MappingReader {
    // `field` ("'uses' of consumer 'api'") is an autoclosure: it is needed only for a message.
    static func string(_ value: Node, _ context: DecodingContext, field: @autoclosure () -> String) -> Located<String>? {
        guard case .scalar(let text, _) = value.content else {
            context.error("\(field()) must be a string, not \(value.kindDescription)", at: value)
            return nil
        }
        if let tag = value.tag, tag != .str, tag != .nonSpecific {
            context.error("\(field()) must be a string, but it is tagged !!\(tag.rawValue)", at: value)
            return nil
        }
        return Located(text, at: context.location(of: value))
    }

    static func int(_ value: Node, _ context: DecodingContext, field: @autoclosure () -> String, range: ClosedRange<Int>?) -> Int? {
        guard case .scalar(let text, let style) = value.content, style == .plain,
              value.tag == nil || value.tag == .int, let number = Int(text)
        else {
            context.error("\(field()) must be a whole number, not \(value.kindDescription)", at: value)
            return nil
        }
        if let range, !range.contains(number) {
            context.error("\(field()) must be between \(range.lowerBound) and \(range.upperBound), not \(number)", at: value)
            return nil
        }
        return number
    }

    /// A template, checked for unknown placeholders, for placeholders its role forbids
    /// (above all `{secret}` where no secret belongs) and for literal credentials.
    static func template(_ value: Node, _ context: DecodingContext, field: @autoclosure () -> String, role: TemplateRole) -> Template? {
        guard let text = string(value, context, field: field()) else { return nil }
        switch Template.parse(text.value) {
        case .failure(.unknownPlaceholder(let name, let offset)):
            let suggestion = Suggestion.didYouMean(name, in: Placeholder.allCases.map(\.rawValue)) { "'{\($0)}'" }
            context.diagnostics.error(
                "unknown placeholder '{\(name)}' in \(field())\(suggestion); placeholders are "
                    + Placeholder.allCases.map { "{\($0.rawValue)}" }.joined(separator: ", "),
                at: placeholderLocation(value, offset: offset, context))
            return nil
        case .failure(.unclosedBrace(let offset)):
            context.diagnostics.error(
                "'{' without a closing '}' in \(field()); write '{{' for a literal brace",
                at: placeholderLocation(value, offset: offset, context))
            return nil
        case .success(let template):
            for placeholder in template.placeholders.subtracting(role.allowed).sorted(by: { $0.rawValue < $1.rawValue }) {
                let offset = text.value.range(of: "{\(placeholder.rawValue)}").map { text.value.distance(from: text.value.startIndex, to: $0.lowerBound) } ?? 0
                let message = placeholder == .secret
                    ? "'{secret}' is not allowed in \(field()) (\(role.description)): the secret may appear only in a target's value, a command's stdin or environment, or the headers and body of the policy's own verify request, so a configuration cannot send it anywhere else"
                    : "'{\(placeholder.rawValue)}' is not available in \(field()) (\(role.description)); available here: "
                        + role.allowed.map { "{\($0.rawValue)}" }.sorted().joined(separator: ", ")
                context.diagnostics.error(message, at: placeholderLocation(value, offset: offset, context))
            }
            if !template.usesSecret, let reason = CredentialDetector.reason(text.value) {
                // Refused, and never quoted back: the error's source line would put it in CI logs.
                _ = Secret(text.value)
                context.error(
                    "\(field()) holds what looks like a literal credential (\(reason)); rotor refuses secrets written into configuration: keep tokens in the environment or a file",
                    at: value)
                return nil
            }
            return template
        }
    }

    /// The place of a character in a single-line scalar (after the opening quote).
    private static func placeholderLocation(_ value: Node, offset: Int, _ context: DecodingContext) -> SourceLocation {
        var location = context.location(of: value)
        guard value.start.line == value.end.line, case .scalar(_, let style) = value.content else { return location }
        location.column += offset + (style == .singleQuoted || style == .doubleQuoted ? 1 : 0)
        return location
    }
}
