/// One-line, secret-free descriptions of what a step will do, for plans and progress.
enum StepDescriptions {
    static func create(_ provider: ProviderSpec, generationName: String, current: GenerationRecord? = nil) -> String {
        switch provider.kind {
        case .postgres(let postgres):
            let role = current.flatMap { current in postgres.roles.first { $0 != current.id } }
            let which = role.map { "role \($0) (not in use; consumers use \(current!.id))" }
                ?? "whichever of \(postgres.roles.joined(separator: " and ")) consumers do not use (not recorded yet: the run reads it from the key's {id} targets; 'rotor adopt' records it)"
            return "set a new random password on \(which) at \(PostgresProvider.describe(postgres.url)), sent as a SCRAM-SHA-256 verifier; then log in as it"
        case .manual(let manual):
            return "a person creates a new key at: \(manual.instructions) — name it '\(generationName)'; rotor then reads the secret from --secret-env or stdin"
        case .generate(let format):
            let prefix = format.prefix.isEmpty ? "" : "'\(format.prefix)' + "
            return "rotor generates a secret: \(prefix)\(format.bytes) random bytes, \(format.encoding.rawValue)"
        case .exec(let exec):
            return "run \(argv(exec.create)); id from \(exec.idPointer), secret from \(exec.secretPointer)"
        case .http(let http):
            return "\(http.create.method) \(http.baseURL)\(http.create.path.source) (auth: \(authDescription(http.auth))) as '\(generationName)'"
        }
    }

    /// After the old generation's deletion: its secret tried against the key's checks.
    static func confirmRevoked(_ key: KeyPolicy, provider: ProviderSpec, old: GenerationRecord, deletedNow: Bool) -> String {
        if provider.logsInItself {
            return "once \(old.id)'s password is replaced\(deletedNow ? "" : " (by the 'rotor run' after the grace period)"), log in as \(old.id) with the old one: the server must refuse it\(key.verify.isEmpty ? "" : ", and so must the key's \(Planner.count(key.verify.count, "verify check"))")"
        }
        guard !key.verify.isEmpty else { return "not checked: the key has no verify checks to try the old generation \(old.id) with once it is deleted" }
        return "once \(old.id) is deleted\(deletedNow ? "" : " (by the 'rotor run' after the grace period)"), try it with the key's \(Planner.count(key.verify.count, "verify check")): "
            + "they must refuse it (retried within \(key.confirmRevokedWithin)); if it still answers, exit 3"
    }

    static func delete(_ key: KeyPolicy, provider: ProviderSpec, state: KeyState, emergency: Bool) -> String {
        let when: String
        if key.grace.seconds == 0 || emergency {
            when = emergency && key.grace.seconds > 0 ? "at once (emergency: grace \(key.grace) ignored)" : "at once (grace 0s)"
        } else {
            when = "after the grace period of \(key.grace), by a later 'rotor run'"
        }
        let old = state.current.map { "the old generation \($0.id) (\($0.fingerprint))" } ?? "the old generation (unknown to rotor: never rotated by it)"
        switch provider.kind {
        case .manual(let manual):
            let how = manual.deleteInstructions ?? "delete it at: \(menuPath(manual.instructions))"
            return "\(old): a person confirms its deletion \(when) — \(how)"
        case .generate:
            return "\(old) is forgotten \(when); nothing to delete at a provider"
        case .postgres:
            guard let current = state.current else {
                return "the role consumers used is not retired: rotor did not record it (adopt the key first to have its password retired)"
            }
            return "retire role \(current.id) \(when): its password replaced by an unknown random one, its open sessions ended"
        case .exec, .http:
            guard state.current != nil else {
                return "the old generation is unknown to rotor (it never rotated this key), so rotor will not delete it; delete it at the provider once every consumer runs on the new one"
            }
            if case .exec(let exec) = provider.kind {
                guard let delete = exec.delete else { return "\(old) stays: the provider has no 'delete' command" }
                return "delete \(old) \(when): run \(argv(delete))"
            }
            guard case .http(let http) = provider.kind, let delete = http.delete else { return "\(old) stays: the provider has no 'delete' request" }
            return "delete \(old) \(when): \(delete.method) \(http.baseURL)\(delete.path.source)"
        }
    }

    /// The console menu path of "Generate New API Key" instructions without their last
    /// step: `Console > Settings > API Keys > Generate` → `Console > Settings > API Keys`
    /// ("" with no ` > `). Searched as bytes, once per manual key.
    static func menuPath(_ instructions: String) -> String {
        let separator = Array(" > ".utf8), bytes = Array(instructions.utf8)
        var lastSeparator: Int?
        var index = 0
        while index + separator.count <= bytes.count {
            if bytes[index..<(index + separator.count)].elementsEqual(separator) {
                lastSeparator = index
                index += separator.count
            } else {
                index += 1
            }
        }
        return lastSeparator.map { String(decoding: bytes[..<$0], as: UTF8.self) } ?? ""
    }

    static func check(_ check: CheckSpec) -> String {
        switch check {
        case .http(let http):
            let headers = http.headers.keys.sorted()
            let headerText = headers.isEmpty ? "" : " with header\(headers.count == 1 ? "" : "s") \(headers.joined(separator: ", "))"
            let expect = http.expect.map(String.init).joined(separator: " or ")
            return "\(http.method) \(http.url.source)\(headerText) expects \(expect) (timeout \(http.timeout), \(http.retries) retr\(http.retries == 1 ? "y" : "ies"))"
        case .exec(let command):
            return "run \(argv(command)) (must exit 0)"
        }
    }

    static func argv(_ command: CommandSpec) -> String {
        "[" + command.argv.map(\.source).joined(separator: ", ") + "]"
    }

    static func authDescription(_ auth: HTTPAuthSpec) -> String {
        switch auth.source {
        case .environment(let name): "\(auth.header) from $\(name)"
        case .file(let path): "\(auth.header) from file \(path)"
        }
    }

    /// `deploy/app/.env:API_KEY`, `config.json:/a/b`, or the command of an exec target.
    /// (`String(concatenating:)`, here and in `update`: `plan` makes one of each per target.)
    static func targetLabel(_ target: TargetSpec, displayPath: (String) -> String) -> String {
        guard let path = target.filePath else { return argv(execCommand(target)) }
        return String(concatenating: displayPath(path), ":", target.selector)
    }

    /// What writing one target does: `write the new generation to env_file .env:API_KEY as "Bearer {secret}"`.
    static func update(_ target: TargetSpec, label: String) -> String {
        let template = target.value.source
        let start = String(concatenating: "write the new generation to ", target.typeName, " ", label)
        return template == "{secret}" ? start : String(concatenating: start, " as \"", template, "\"")
    }

    private static func execCommand(_ target: TargetSpec) -> CommandSpec {
        if case .exec(let write, _) = target.kind { return write }
        preconditionFailure("not an exec target")
    }
}
