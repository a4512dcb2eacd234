/// Decodes a `kind: RotationPolicy` document: its providers and keys.
struct PolicyDecoder {
    let context: DecodingContext

    /// Hints for fields that look like someone tried to write a secret in.
    static let literalSecretHint = "a literal secret is refused in a policy; rotor obtains secrets from the provider, and tokens from the environment or a file"

    /// The providers and keys decoded, plus every name declared (also those that failed
    /// to decode), so that one broken provider is not reported again as unknown by its keys.
    ///
    /// A document with only `notify:` (no providers, no keys) is the fleet's default:
    /// returned as `fleetNotify`, for every key whose own policy sets none.
    func decode(_ document: MappingReader) -> (providers: [ProviderSpec], keys: [KeyPolicy], declared: DeclaredNames, fleetNotify: [WebhookSpec]?) {
        let policyNotify = document.node("notify").map { context.webhooks($0, subject: "this policy") }
        let providerEntries = document.namedEntries("providers") ?? []
        let keysMapping = document.namedMapping("keys")
        let keyNames = keysMapping.map(MappingReader.entryNames(of:)) ?? []
        let providers = providerEntries.compactMap { provider(named: $0.name, $0.value) }
        // Keys are independent: a fleet's thousand are decoded on every core.
        let keys = keysMapping.map { mapping in
            context.decodeEntries(of: mapping, in: 0..<mapping.mappingEntryCount) { context, name, node in
                PolicyDecoder(context: context).key(named: name, node, policyNotify: policyNotify)
            }
        } ?? []
        let declared = DeclaredNames(providers: Set(providerEntries.map(\.name.value)), keys: Set(keyNames))
        let onlyNotify = !document.has("providers") && !document.has("keys")
        if onlyNotify, policyNotify == nil {
            context.error("a RotationPolicy needs 'providers' or 'keys' (or only 'notify': the default for every key)", at: document.node)
        }
        document.finish(hints: ["secret": Self.literalSecretHint, "token": Self.literalSecretHint])
        return (providers, keys, declared, onlyNotify ? policyNotify : nil)
    }

    // MARK: Providers

    private func provider(named name: Located<String>, _ node: Node) -> ProviderSpec? {
        let subject = "provider '\(name.value)'"
        guard let reader = MappingReader(node, context, subject: subject) else { return nil }
        guard let type = reader.string("type", required: true) else {
            reader.finish()
            return nil
        }
        let kind: ProviderSpec.Kind?
        switch type.value {
        case "manual": kind = manual(reader)
        case "generate": kind = generate(reader)
        case "exec": kind = exec(reader)
        case "http": kind = http(reader)
        case "postgres": kind = postgres(reader)
        default:
            context.diagnostics.error(
                "unknown provider type '\(type.value)'\(Suggestion.didYouMean(type.value, in: ProviderSpec.typeNames)); types are manual, generate, exec, http and postgres",
                at: type.location)
            reader.abandon()  // which fields are right depends on the type
            return nil
        }
        reader.finish(hints: ["token": Self.literalSecretHint, "api_key": Self.literalSecretHint, "password": Self.literalSecretHint])
        return kind.map { ProviderSpec(name: name, kind: $0, directory: context.directory) }
    }

    private func manual(_ reader: MappingReader) -> ProviderSpec.Kind? {
        guard let instructions = reader.string("instructions", required: true) else { return nil }
        return .manual(ManualProviderSpec(instructions: instructions.value, deleteInstructions: reader.string("delete_instructions")?.value))
    }

    private func generate(_ reader: MappingReader) -> ProviderSpec.Kind? {
        var format = GenerateProviderSpec(prefix: "", bytes: 32, encoding: .base64url)
        if let formatNode = reader.node("format"), let formatReader = MappingReader(formatNode, context, subject: "'format' of \(reader.subject)") {
            format.prefix = formatReader.string("prefix")?.value ?? ""
            format.bytes = formatReader.int("bytes", range: 16...1024) ?? 32
            if let encoding = formatReader.string("encoding") {
                if let value = GenerateProviderSpec.Encoding(rawValue: encoding.value) {
                    format.encoding = value
                } else {
                    let names = GenerateProviderSpec.Encoding.allCases.map(\.rawValue)
                    context.diagnostics.error(
                        "unknown encoding '\(encoding.value)'\(Suggestion.didYouMean(encoding.value, in: names)); encodings are \(names.joined(separator: ", "))",
                        at: encoding.location)
                }
            }
            formatReader.finish()
        }
        return .generate(format)
    }

    private func exec(_ reader: MappingReader) -> ProviderSpec.Kind? {
        let create = context.command(in: reader, field: "create", role: .providerCreate, inputRole: nil, defaultTimeout: RotorDuration(seconds: 60))
        let id = reader.pointer("id", required: true)
        let secret = reader.pointer("secret", required: true)
        let delete = reader.has("delete")
            ? context.command(in: reader, field: "delete", role: .providerRequest, inputRole: nil, defaultTimeout: RotorDuration(seconds: 60))
            : nil
        var list: ExecListSpec?
        if let listNode = reader.node("list"), let listReader = MappingReader(listNode, context, subject: "'list' of \(reader.subject)") {
            let command = context.command(in: listReader, field: "command", role: .providerRequest, inputRole: nil, defaultTimeout: RotorDuration(seconds: 60))
            let fields = listFields(listReader)
            listReader.finish()
            if let command, let fields { list = ExecListSpec(command: command, fields: fields) }
        }
        let deactivate = reader.has("deactivate")
            ? context.command(in: reader, field: "deactivate", role: .providerRequest, inputRole: nil, defaultTimeout: RotorDuration(seconds: 60))
            : nil
        let capacity = self.capacity(reader, hasList: list != nil)
        let tokens = reader.list("token_env") { node, offset -> String? in
            guard let name = MappingReader.string(node, context, field: "item \(offset + 1) of 'token_env' of \(reader.subject)") else { return nil }
            guard EnvironmentName.isValid(name.value) else {
                context.error("'\(name.value)' is not a valid environment variable name; use letters, digits and '_', not starting with a digit", at: node)
                return nil
            }
            return name.value
        } ?? []
        guard let create, let id, let secret else { return nil }
        return .exec(ExecProviderSpec(create: create, idPointer: id, secretPointer: secret, delete: delete, deactivate: deactivate, list: list,
                                      capacity: capacity, tokenVariables: tokens))
    }

    /// `url` of an admin login (no password in it), `roles: [a, b]`, optional `password_env`.
    private func postgres(_ reader: MappingReader) -> ProviderSpec.Kind? {
        let url = reader.string("url", required: true)
        if let url, let node = reader.node("url") {
            if let parsed = PostgresURL(url.value) {
                if parsed.holdsPassword {
                    context.error("'url' of \(reader.subject) holds a password: \(Self.literalSecretHint) (PGPASSWORD, ~/.pgpass, or password_env)", at: node)
                } else if !parsed.isOnThisMachine(environment: [:]), let mode = parsed.values("sslmode").last, !["verify-full", "verify-ca"].contains(mode) {
                    context.warning("'url' of \(reader.subject) sets sslmode=\(mode) for a server off this machine: its certificate is not checked, so whoever sits on the network can read the admin login and every password rotor sets (leave sslmode out for verify-full)", at: node)
                }
            } else {
                context.error("'url' of \(reader.subject) must be a PostgreSQL URI: postgres://ADMIN@HOST:PORT/DATABASE", at: node)
            }
        }
        let rolesNode = reader.node("roles")
        let roles = reader.list("roles", required: true) { node, offset -> String? in
            guard let role = MappingReader.string(node, context, field: "item \(offset + 1) of 'roles' of \(reader.subject)") else { return nil }
            guard PostgresProvider.isPlainRoleName(role.value) else {
                context.error("'\(ControlCharacters.escapeLine(role.value))' is not a plain role name: use lower-case letters, digits and '_' (at most 63, not starting with a digit or 'pg_')", at: node)
                return nil
            }
            return role.value
        }
        // (A name already refused is not counted again as a wrong number of roles.)
        if let roles, let rolesNode, case .sequence(let items) = rolesNode.content, items.count != 2 || (roles.count == 2 && Set(roles).count != 2) {
            context.error("'roles' of \(reader.subject) must name exactly two different roles, which take turns (e.g. [app_blue, app_green])", at: rolesNode)
        }
        var passwordVariable: String?
        if let name = reader.string("password_env"), let node = reader.node("password_env") {
            if EnvironmentName.isValid(name.value) { passwordVariable = name.value } else {
                context.error("'\(name.value)' is not a valid environment variable name; use letters, digits and '_', not starting with a digit", at: node)
            }
        }
        guard let url, let roles, roles.count == 2, Set(roles).count == 2,
              let parsed = PostgresURL(url.value), !parsed.holdsPassword else { return nil }
        return .postgres(PostgresProviderSpec(url: url.value, roles: roles, passwordVariable: passwordVariable))
    }

    private func http(_ reader: MappingReader) -> ProviderSpec.Kind? {
        let baseURL = reader.template("base_url", role: TemplateRole(description: "a base URL", allowed: []), required: true)
        if let baseURL, let node = reader.node("base_url") {
            context.checkURL(baseURL, at: node, field: "'base_url' of \(reader.subject)", allowPlainHTTP: false)
            if baseURL.source.contains("?") || baseURL.source.contains("#") {
                context.error("'base_url' of \(reader.subject) must not hold a query or fragment ('?', '#'): every request's path is appended to it", at: node)
            }
        }
        let auth = reader.node("auth", required: true).flatMap { authSpec($0, subject: "'auth' of \(reader.subject)") }
        var idPointer: JSONPointer?, secretPointer: JSONPointer?
        var create: HTTPRequestSpec?
        if let node = reader.node("create", required: true), let createReader = MappingReader(node, context, subject: "'create' of \(reader.subject)") {
            create = request(createReader, defaultMethod: "POST", role: .providerCreate)
            idPointer = createReader.pointer("id", required: true)
            secretPointer = createReader.pointer("secret", required: true)
            createReader.finish()
        }
        var delete: HTTPRequestSpec?
        if let node = reader.node("delete"), let deleteReader = MappingReader(node, context, subject: "'delete' of \(reader.subject)") {
            delete = request(deleteReader, defaultMethod: "DELETE", role: .providerRequest)
            deleteReader.finish()
        }
        var list: HTTPListSpec?
        if let node = reader.node("list"), let listReader = MappingReader(node, context, subject: "'list' of \(reader.subject)") {
            let request = request(listReader, defaultMethod: "GET", role: .providerRequest)
            let fields = listFields(listReader)
            listReader.finish()
            if let request, let fields { list = HTTPListSpec(request: request, fields: fields) }
        }
        let timeout = reader.duration("timeout") ?? RotorDuration(seconds: 30)
        let retries = reader.int("retries", range: 0...20) ?? 3
        let capacity = self.capacity(reader, hasList: list != nil)
        guard let baseURL, let auth, let create, let idPointer, let secretPointer else { return nil }
        return .http(HTTPProviderSpec(baseURL: baseURL.source, auth: auth, create: create, idPointer: idPointer, secretPointer: secretPointer,
                                      delete: delete, list: list, timeout: timeout, retries: retries, capacity: capacity))
    }

    private func request(_ reader: MappingReader, defaultMethod: String, role: TemplateRole) -> HTTPRequestSpec? {
        let method = reader.string("method")?.value.uppercased() ?? defaultMethod
        let path = reader.template("path", role: role, required: true)
        let body = reader.node("body").flatMap { jsonTemplate($0, field: "'body' of \(reader.subject)", role: role) }
        guard let path else { return nil }
        // Joined to base_url as text: a path not starting with '/' could change the host the
        // token goes to ("@evil.example/…" after "http://127.0.0.1:8080").
        if !path.source.hasPrefix("/"), let node = reader.node("path") {
            context.error("'path' of \(reader.subject) must start with '/': it is appended to base_url, and anything else could change the host the token is sent to", at: node)
        }
        return HTTPRequestSpec(method: method, path: path, body: body, location: reader.location)
    }

    private func listFields(_ reader: MappingReader) -> ListFields? {
        let items = reader.pointer("items") ?? JSONPointer("")!
        let id = reader.pointer("id", required: true)
        guard let id else { return nil }
        return ListFields(items: items, id: id, name: reader.pointer("name"), created: reader.pointer("created"), lastUsed: reader.pointer("last_used"),
                          status: reader.pointer("status"))
    }

    /// `max_generations` and `delete_inactive_when_full`; both need a `list`.
    private func capacity(_ reader: MappingReader, hasList: Bool) -> ProviderCapacity? {
        guard let max = reader.int("max_generations", range: 1...100) else {
            if reader.bool("delete_inactive_when_full") != nil, let node = reader.keyNode("delete_inactive_when_full") {
                context.error("'delete_inactive_when_full' of \(reader.subject) needs 'max_generations'", at: node)
            }
            return nil
        }
        if !hasList, let node = reader.keyNode("max_generations") {
            context.error("'max_generations' of \(reader.subject) needs a 'list' to count the generations", at: node)
        }
        return ProviderCapacity(maxGenerations: max, deleteInactiveWhenFull: reader.bool("delete_inactive_when_full") ?? false)
    }

    private func authSpec(_ node: Node, subject: String) -> HTTPAuthSpec? {
        guard let reader = MappingReader(node, context, subject: subject) else { return nil }
        let hint = "a literal token is refused in a policy; name an environment variable (bearer_env, value_env) or a file (bearer_file, value_file)"
        defer { reader.finish(hints: ["token": hint, "bearer": hint, "value": hint, "password": hint, "secret": hint]) }
        var sources: [(HTTPAuthSpec.Source, isBearer: Bool)] = []
        if let name = reader.string("bearer_env") { sources.append((.environment(name.value), true)) }
        if let path = reader.string("bearer_file") { sources.append((.file(context.resolvePath(path.value)), true)) }
        if let name = reader.string("value_env") { sources.append((.environment(name.value), false)) }
        if let path = reader.string("value_file") { sources.append((.file(context.resolvePath(path.value)), false)) }
        let header = reader.string("header")
        guard sources.count == 1, let (source, isBearer) = sources.first else {
            // A literal `token:` is reported by finish() with a hint; one error is enough.
            if sources.isEmpty, reader.presentNames.contains(where: { ["token", "bearer", "value", "password", "secret"].contains($0) }) { return nil }
            context.error("\(subject) needs exactly one of bearer_env, bearer_file, value_env (with header) or value_file (with header)", at: node)
            return nil
        }
        if case .environment(let name) = source, !EnvironmentName.isValid(name) {
            context.error("'\(name)' in \(subject) is not a valid environment variable name", at: node)
            return nil
        }
        if !isBearer && header == nil {
            context.error("\(subject) uses value_env/value_file, so it needs 'header' (e.g. X-Api-Key)", at: node)
            return nil
        }
        return HTTPAuthSpec(header: header?.value ?? "Authorization", prefix: isBearer ? "Bearer " : "", source: source, location: context.location(of: node))
    }

    private func jsonTemplate(_ node: Node, field: String, role: TemplateRole) -> JSONTemplate? {
        switch node.content {
        case .mapping(let pairs):
            var members: [(String, JSONTemplate)] = []
            for pair in pairs {
                guard let name = pair.key.scalarText, let value = jsonTemplate(pair.value, field: "'\(name)' in \(field)", role: role) else { return nil }
                members.append((name, value))
            }
            return .object(members)
        case .sequence(let items):
            let values = items.compactMap { jsonTemplate($0, field: field, role: role) }
            return values.count == items.count ? .array(values) : nil
        case .scalar(let text, let style):
            if node.isNull { return .null }
            if style == .plain, node.tag == nil || node.tag == .bool, text == "true" || text == "false" { return .bool(text == "true") }
            if style == .plain, node.tag == nil || node.tag == .int || node.tag == .float, Double(text) != nil { return .number(text) }
            return MappingReader.template(node, context, field: field, role: role).map(JSONTemplate.string)
        }
    }

    // MARK: Keys

    private func key(named name: Located<String>, _ node: Node, policyNotify: [WebhookSpec]?) -> KeyPolicy? {
        let subject = "key '\(name.value)'"
        guard let reader = MappingReader(node, context, subject: subject) else { return nil }
        defer {
            reader.finish(hints: ["secret": Self.literalSecretHint, "value": Self.literalSecretHint, "api_key": Self.literalSecretHint, "token": Self.literalSecretHint])
        }
        let provider = reader.string("provider", required: true)
        let every = reader.duration("every")
        if let every, every.seconds == 0, let node = reader.node("every") {
            context.error("'every' of \(subject) must be longer than 0s; leave it out to rotate only on demand", at: node)
        }
        let grace = reader.duration("grace") ?? .zero
        let generationName = reader.template("name", role: .generationName) ?? Template.parse("{key}-{date}").successValue!
        let verify = reader.list("verify") { item, index in
            context.check(item, subject: "verify check \(index + 1) of \(subject)", secretRole: .secretDestination, defaultRetries: 0)
        } ?? []
        var window: RotationWindow?
        if let text = reader.string("window") {
            switch RotationWindow.parse(text.value) {
            case .success(let parsed): window = parsed
            case .failure(let error): context.diagnostics.error("'window' of \(subject): \(error.message)", at: text.location)
            }
        }
        let ownNotify = reader.node("notify").map { context.webhooks($0, subject: subject) } ?? policyNotify
        let deleteWhenUnused = reader.duration("delete_when_unused_for")
        let confirmRevokedWithin = reader.duration("confirm_revoked_within") ?? KeyPolicy.defaultConfirmRevokedWithin
        let description = reader.string("description")?.value
        let scan = reader.list("scan") { item, index -> String? in
            guard let path = MappingReader.string(item, context, field: "scan path \(index + 1) of \(subject)") else { return nil }
            guard !path.value.isEmpty else {
                context.diagnostics.error("scan path \(index + 1) of \(subject) is empty; name a file or folder", at: path.location)
                return nil
            }
            return context.resolvePath(path.value)
        } ?? []
        guard let provider else { return nil }
        var key = KeyPolicy(name: name, provider: provider, every: every, grace: grace, generationName: generationName, verify: verify,
                            window: window, notify: ownNotify ?? [], deleteWhenUnusedFor: deleteWhenUnused, confirmRevokedWithin: confirmRevokedWithin,
                            description: description, directory: context.directory)
        key.scan = scan
        key.notifyFromDefault = ownNotify == nil
        return key
    }
}

extension Result {
    var successValue: Success? { try? get() }
}
