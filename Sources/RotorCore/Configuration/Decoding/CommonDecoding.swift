/// Decoding of the pieces policies and manifests share: commands, checks, webhooks.
extension DecodingContext {
    /// An argv array. Each element is a template of `role` (never `{secret}`).
    func argv(_ node: Node, field: @autoclosure () -> String, role: TemplateRole = .argv) -> [Template]? {
        guard case .sequence(let items) = node.content else {
            if case .scalar = node.content {
                error("\(field()) must be an argv list such as [systemctl, restart, app], not a shell string; rotor never runs a shell", at: node)
            } else {
                error("\(field()) must be an argv list such as [systemctl, restart, app], not \(node.kindDescription)", at: node)
            }
            return nil
        }
        guard !items.isEmpty else {
            error("\(field()) is an empty command; name at least the program", at: node)
            return nil
        }
        let argv = items.enumerated().compactMap { offset, item in
            MappingReader.template(item, self, field: "argument \(offset + 1) of \(field())", role: role)
        }
        return argv.count == items.count ? argv : nil
    }

    /// A command given as an argv list in `field` of `reader`, plus the optional
    /// `stdin`, `env` and `timeout` siblings when `withInput` is set.
    func command(in reader: MappingReader, field: StaticString, role: TemplateRole, inputRole: TemplateRole?, defaultTimeout: RotorDuration) -> CommandSpec? {
        guard let argvNode = reader.node(field, required: true),
              let argv = argv(argvNode, field: "'\(field)' of \(reader.subject)", role: role)
        else { return nil }
        var command = CommandSpec(argv: argv, timeout: defaultTimeout, location: location(of: argvNode))
        if let inputRole {
            command.stdin = reader.template("stdin", role: inputRole)
            command.environment = environment(reader, role: inputRole)
        }
        command.timeout = reader.duration("timeout") ?? defaultTimeout
        return command
    }

    /// `env: { NAME: "{secret}" }` of a command.
    func environment(_ reader: MappingReader, role: TemplateRole) -> [String: Template] {
        guard let entries = reader.namedEntries("env") else { return [:] }
        var environment: [String: Template] = [:]
        for (name, value) in entries {
            guard EnvironmentName.isValid(name.value) else {
                diagnostics.error("'\(name.value)' is not a valid environment variable name; use letters, digits and '_', not starting with a digit", at: name.location)
                continue
            }
            if let template = MappingReader.template(value, self, field: "env variable '\(name.value)' of \(reader.subject)", role: role) {
                environment[name.value] = template
            }
        }
        return environment
    }

    /// A check: `{ http: {...} }` or `{ exec: [...], stdin, env, timeout }`.
    /// `secretRole` is where a secret may go: verify checks carry one, health checks do not.
    func check(_ node: Node, subject: String, secretRole: TemplateRole, defaultRetries: Int) -> CheckSpec? {
        guard let reader = MappingReader(node, self, subject: subject) else { return nil }
        defer { reader.finish() }
        let hasHTTP = reader.has("http"), hasExec = reader.has("exec")
        guard hasHTTP != hasExec else {
            error("\(subject) needs exactly one of 'http' or 'exec'", at: node)
            return nil
        }
        if hasHTTP {
            guard let httpNode = reader.node("http") else { return nil }
            return httpCheck(httpNode, subject: "'http' of \(subject)", secretRole: secretRole, defaultRetries: defaultRetries).map(CheckSpec.http)
        }
        return command(in: reader, field: "exec", role: .argv, inputRole: secretRole, defaultTimeout: RotorDuration(seconds: 30)).map(CheckSpec.exec)
    }

    func httpCheck(_ node: Node, subject: String, secretRole: TemplateRole, defaultRetries: Int) -> HTTPCheckSpec? {
        guard let reader = MappingReader(node, self, subject: subject) else { return nil }
        defer { reader.finish() }
        let url = reader.template("url", role: .url, required: true)
        let method = reader.string("method")?.value.uppercased() ?? "GET"
        var headers: [String: Template] = [:]
        for (name, value) in reader.namedEntries("headers") ?? [] {
            if let template = MappingReader.template(value, self, field: "header '\(name.value)' of \(subject)", role: secretRole) {
                headers[name.value] = template
            }
        }
        let body = reader.template("body", role: secretRole)
        if let url, let urlNode = reader.node("url") {
            // A request that carries the secret must not cross the network in clear text.
            let carriesSecret = headers.values.contains(where: \.usesSecret) || body?.usesSecret == true
            checkURL(url, at: urlNode, field: "'url' of \(subject)", allowPlainHTTP: !carriesSecret)
        }
        var expect = [200]
        if let expectNode = reader.node("expect") {
            if case .sequence(let items) = expectNode.content {
                expect = items.compactMap { MappingReader.int($0, self, field: "'expect' of \(subject)", range: 100...599) }
            } else if let status = reader.int("expect", range: 100...599) {
                expect = [status]
            }
        }
        let timeout = reader.duration("timeout") ?? RotorDuration(seconds: 10)
        let retries = reader.int("retries", range: 0...100) ?? defaultRetries
        guard let url else { return nil }
        return HTTPCheckSpec(url: url, method: method, headers: headers, body: body, expect: expect,
                             timeout: timeout, retries: retries, location: location(of: node))
    }

    /// `notify:` — one webhook or a list of them.
    func webhooks(_ node: Node, subject: String) -> [WebhookSpec] {
        let items: [Node]
        if case .sequence(let list) = node.content { items = list } else { items = [node] }
        return items.compactMap { item in
            guard let reader = MappingReader(item, self, subject: "a webhook of \(subject)") else { return nil }
            defer { reader.finish() }
            guard let url = reader.template("webhook", role: .webhook, required: true) else { return nil }
            if let urlNode = reader.node("webhook") { checkURL(url, at: urlNode, field: "'webhook' of \(subject)", allowPlainHTTP: true) }
            var events = Set(WebhookSpec.Event.allCases)
            if let names = reader.list("on", { node, _ in MappingReader.string(node, self, field: "an event in 'on'") }) {
                events = []
                for name in names {
                    if let event = WebhookSpec.Event(rawValue: name.value) {
                        events.insert(event)
                    } else {
                        diagnostics.error("unknown event '\(name.value)'\(Suggestion.didYouMean(name.value, in: WebhookSpec.Event.allCases.map(\.rawValue))); events are success, failure and emergency", at: name.location)
                    }
                }
            }
            return WebhookSpec(url: url, events: events, location: location(of: item))
        }
    }

    /// URLs must be http(s) with their scheme and host written out; plain http is refused
    /// where a token or secret travels, except to a host that is exactly loopback. Decided
    /// on the parsed authority (`URLAuthority`), never on a prefix of the text.
    func checkURL(_ url: Template, at node: Node, field: String, allowPlainHTTP: Bool) {
        guard let authority = URLAuthority(url.source) else {
            error("\(field) must be an http:// or https:// URL, not '\(url.source)'", at: node)
            return
        }
        if authority.isTemplated {
            if !allowPlainHTTP {
                error("\(field) must write its scheme and host out: a placeholder there would decide where rotor sends a secret or token", at: node)
            }
            return
        }
        guard let host = authority.host else {
            error("\(field) has no valid host (a name, an IPv4 address, or an IPv6 address in brackets, then an optional :port)", at: node)
            return
        }
        if authority.scheme == "https" || allowPlainHTTP || host.isLoopback { return }
        error("\(field) must use https: rotor sends a secret or token there (plain http is accepted only for loopback hosts: localhost, 127.0.0.0/8, [::1])", at: node)
    }
}

/// Environment variable names as the env-file writing rule has them: `[A-Za-z_][A-Za-z0-9_]*`.
public enum EnvironmentName {
    public static func isValid(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
    }
}
