/// Decodes a `kind: ConsumerManifest` document: consumers and their targets.
struct ManifestDecoder {
    let context: DecodingContext

    static let targetTypes: [StaticString] = ["env_file", "json_file", "yaml_file", "ini_file", "exec"]

    /// `ahead`: consumers decoded while the file was still being parsed; used when they are
    /// the first entries of this document's `consumers`.
    func decode(_ document: MappingReader, ahead: ConsumersDecodedAhead? = nil) -> [ConsumerSpec] {
        guard document.has("consumers") else {
            context.error("a ConsumerManifest needs 'consumers'", at: document.node)
            document.finish()
            return []
        }
        let mapping = document.namedMapping("consumers")
        document.finish()
        guard let mapping else { return [] }
        var consumers: [ConsumerSpec] = []
        var decodedAhead = 0
        if let ahead, ahead.entriesLead(mapping) {
            decodedAhead = ahead.entries.count / 2
            context.diagnostics.append(contentsOf: ahead.diagnostics)
            consumers = ahead.takeConsumers()
        }
        // Consumers are independent: the rest of a long list is decoded on every core.
        consumers += context.decodeEntries(of: mapping, in: decodedAhead..<mapping.mappingEntryCount) { context, name, node in
            ManifestDecoder(context: context).consumer(named: name, node)
        }
        return consumers
    }

    /// Decodes the entries of every top-level `consumers:` mapping `stream` publishes, as the
    /// file's parse goes on (see `MappingEntryStream`); stops when the stream closes. Each
    /// entry is decoded as `decode` would, so the result stands in for the first entries of
    /// a document's `consumers` when they are the same nodes (`entriesLead`).
    static func decodeAhead(_ stream: MappingEntryStream, file: String, directory: String) -> ConsumersDecodedAhead? {
        var decoded: ConsumersDecodedAhead?  // of the latest `consumers` mapping
        var parentKey: Int32 = -1
        let context = DecodingContext(replicatingFile: file, directory: directory)
        let decoder = ManifestDecoder(context: context)
        while let batch = stream.take() {
            let key = Node(batch.tree, Int(batch.parentKey))
            guard key.isPlain, key.scalarText == "consumers" else { continue }
            if batch.parentKey != parentKey {  // another document's `consumers`: start again
                parentKey = batch.parentKey
                context.diagnostics = Diagnostics()
                decoded = ConsumersDecodedAhead()
            }
            for pair in stride(from: 0, to: batch.entries.count, by: 2) {
                let entry = MappingEntry(key: Node(batch.tree, Int(batch.entries[pair])), value: Node(batch.tree, Int(batch.entries[pair + 1])))
                if let name = MappingReader.name(of: entry, context), let consumer = decoder.consumer(named: name, entry.value) {
                    decoded?.consumers.append(consumer)
                }
            }
            decoded?.entries += batch.entries
        }
        decoded?.diagnostics = context.diagnostics
        return decoded
    }

    private func consumer(named name: Located<String>, _ node: Node) -> ConsumerSpec? {
        // Descriptions for messages are made only when a message needs one.
        guard let reader = MappingReader(node, context, subject: "consumer '\(name.value)'") else { return nil }
        defer { reader.finish() }
        let uses = reader.string("uses", required: true)
        let targets = reader.list("targets", required: true) { item, index in
            target(item, subject: "target \(index + 1) of \(reader.subject)")
        }
        if let targetsNode = reader.node("targets"), case .sequence(let items) = targetsNode.content, items.isEmpty {
            context.error("\(reader.subject) has no targets; list the places that hold the secret", at: targetsNode)
        }
        let reload = reader.has("reload")
            ? reader.node("reload").flatMap { node -> CommandSpec? in
                context.argv(node, field: "'reload' of \(reader.subject)").map { CommandSpec(argv: $0, timeout: RotorDuration(seconds: 120), location: context.location(of: node)) }
            }
            : nil
        let health = reader.node("health").flatMap {
            context.check($0, subject: "'health' of \(reader.subject)", secretRole: .healthCheck, defaultRetries: 3)
        }
        _ = reader.string("description")
        let user = reader.string("user")
        guard let uses, let targets else { return nil }
        return ConsumerSpec(name: name, uses: uses, targets: targets, reload: reload, health: health, directory: context.directory, user: user)
    }

    private func target(_ node: Node, subject describeSubject: @autoclosure @escaping () -> String) -> TargetSpec? {
        guard let reader = MappingReader(node, context, subject: describeSubject()) else { return nil }
        var subject: String { reader.subject }
        var present: [StaticString] = []
        for type in Self.targetTypes where reader.has(type) { present.append(type) }
        guard present.count == 1, let type = present.first else {
            let found = present.isEmpty ? "none" : present.map(\.description).joined(separator: " and ")
            context.error("\(subject) needs exactly one of \(Self.targetTypes.map(\.description).joined(separator: ", ")); found \(found)", at: node)
            reader.abandon()  // which fields are right depends on the type
            return nil
        }
        defer { reader.finish() }
        let value: Template
        if let given = reader.template("value", role: .secretDestination) {
            value = given
            if given.placeholders.isDisjoint(with: [.secret, .id]), let valueNode = reader.node("value") {
                context.error("'value' of \(subject) must name {secret} (or {id}); a fixed value would write the same text on every rotation", at: valueNode)
            }
        } else {
            value = .secretOnly
        }
        let create = reader.bool("create") ?? false
        let kind: TargetSpec.Kind?
        switch type.description {
        case "env_file":
            let path = filePath(reader, field: type)
            let variable = reader.string("var", required: true)
            if let variable, !EnvironmentName.isValid(variable.value) {
                context.diagnostics.error(
                    "'\(variable.value)' is not a variable name every dotenv reader accepts; use letters, digits and '_', not starting with a digit",
                    at: variable.location)
            }
            kind = path.flatMap { path in variable.map { .envFile(path: path, variable: $0.value) } }
        case "json_file":
            let path = filePath(reader, field: type)
            let pointer = reader.pointer("pointer", required: true)
            if let pointer, pointer.tokens.isEmpty, let pointerNode = reader.node("pointer") {
                context.error("'pointer' of \(subject) must name a value inside the document, e.g. /skytells/apiKey", at: pointerNode)
            }
            kind = path.flatMap { path in pointer.map { .jsonFile(path: path, pointer: $0) } }
        case "yaml_file":
            let path = filePath(reader, field: type)
            let keyPath = reader.string("path", required: true)
            let components = keyPath.map { $0.value.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }
            if let keyPath, let components, components.contains(where: \.isEmpty) {
                context.diagnostics.error("'path' of \(subject) is not a dotted path: '\(keyPath.value)'; write e.g. skytells.apiKey", at: keyPath.location)
            }
            kind = path.flatMap { path in components.map { .yamlFile(path: path, keyPath: $0) } }
        case "ini_file":
            let path = filePath(reader, field: type)
            let section = reader.string("section", required: true)
            let key = reader.string("key", required: true)
            kind = path.flatMap { path in section.flatMap { section in key.map { .iniFile(path: path, section: section.value, key: $0.value) } } }
        default:
            let write = context.command(in: reader, field: "exec", role: .argv, inputRole: .secretDestination, defaultTimeout: RotorDuration(seconds: 60))
            let read = reader.node("read").flatMap { node in
                context.argv(node, field: "'read' of \(subject)").map { CommandSpec(argv: $0, location: context.location(of: node)) }
            }
            if let write, write.stdin == nil, !write.environment.values.contains(where: \.usesSecret) {
                context.error("\(subject) never hands the secret to its command; add stdin: \"{secret}\" or an env variable set to \"{secret}\"", at: node)
            }
            kind = write.map { .exec(write: $0, read: read) }
        }
        guard let kind else { return nil }
        return TargetSpec(kind: kind, value: value, create: create, location: context.location(of: node))
    }

    private func filePath(_ reader: MappingReader, field: StaticString) -> String? {
        guard let path = reader.string(field) else { return nil }
        guard !path.value.isEmpty else {
            context.diagnostics.error("'\(field)' of \(reader.subject) is empty; name the file", at: path.location)
            return nil
        }
        return context.resolvePath(path.value)
    }
}

/// Consumers decoded while their file was still being parsed (`ManifestDecoder.decodeAhead`),
/// from the mapping entries whose key and value nodes are `entries`. A class, so the
/// decoder can take the consumers without copying them (`takeConsumers`); filled on the
/// thread that decoded them, read after that thread finished.
final class ConsumersDecodedAhead: @unchecked Sendable {
    /// Key, value, key, value… node indices of the entries decoded, in file order.
    var entries: [Int32] = []
    var consumers: [ConsumerSpec] = []
    var diagnostics = Diagnostics()

    /// The consumers, moved out (this keeps none).
    func takeConsumers() -> [ConsumerSpec] {
        defer { consumers = [] }
        return consumers
    }

    /// Whether these are the first entries of `mapping`: the same nodes of the same tree,
    /// which the builder numbered in file order and never changed.
    func entriesLead(_ mapping: Node) -> Bool {
        let children = mapping.tree.children(of: mapping.tree[mapping.index])
        guard mapping.mappingEntryCount > 0, entries.count <= children.count else { return false }
        return children.prefix(entries.count).elementsEqual(entries)
    }
}
