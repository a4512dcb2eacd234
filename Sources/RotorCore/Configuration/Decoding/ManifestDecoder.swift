/// Decodes a `kind: ConsumerManifest` document: consumers and their targets.
struct ManifestDecoder {
    let context: DecodingContext

    static let targetTypes = ["env_file", "json_file", "yaml_file", "ini_file", "exec"]

    func decode(_ document: MappingReader) -> [ConsumerSpec] {
        guard document.has("consumers") else {
            context.error("a ConsumerManifest needs 'consumers'", at: document.node)
            document.finish()
            return []
        }
        let mapping = document.namedMapping("consumers")
        document.finish()
        guard let mapping else { return [] }
        // Consumers are independent: a long list is decoded on every core. Each share reads
        // through its own replica of the tree and of the context (diagnostics, the file's
        // names), so no reference count is changed by two cores at once (see `NodeTree`);
        // shares are joined in order.
        let (file, directory) = (context.file, context.directory)
        let shares = (0..<mapping.mappingEntryCount).parallelShares(minimumShare: 256) { range in
            let context = DecodingContext(replicatingFile: file, directory: directory)
            let mapping = mapping.viewed(through: mapping.tree.replica())
            guard case .mapping(let pairs) = mapping.content else { return ([ConsumerSpec](), Diagnostics()) }
            let decoder = ManifestDecoder(context: context)
            return (MappingReader.named(pairs[range], context).compactMap { decoder.consumer(named: $0.name, $0.value) }, context.diagnostics)
        }
        for (_, diagnostics) in shares { context.diagnostics.append(contentsOf: diagnostics) }
        return shares.flatMap(\.0)
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
        guard let uses, let targets else { return nil }
        return ConsumerSpec(name: name, uses: uses, targets: targets, reload: reload, health: health, directory: context.directory)
    }

    private func target(_ node: Node, subject describeSubject: @autoclosure @escaping () -> String) -> TargetSpec? {
        guard let reader = MappingReader(node, context, subject: describeSubject()) else { return nil }
        var subject: String { reader.subject }
        var present: [String] = []
        for type in Self.targetTypes where reader.has(type) { present.append(type) }
        guard present.count == 1, let type = present.first else {
            let found = present.isEmpty ? "none" : present.joined(separator: " and ")
            context.error("\(subject) needs exactly one of \(Self.targetTypes.joined(separator: ", ")); found \(found)", at: node)
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
        switch type {
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

    private func filePath(_ reader: MappingReader, field: String) -> String? {
        guard let path = reader.string(field) else { return nil }
        guard !path.value.isEmpty else {
            context.diagnostics.error("'\(field)' of \(reader.subject) is empty; name the file", at: path.location)
            return nil
        }
        return context.resolvePath(path.value)
    }
}
