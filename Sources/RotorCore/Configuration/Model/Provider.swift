import Foundation

/// Where generations of a key are created, checked and deleted.
public struct ProviderSpec: Hashable, Sendable {
    public var name: Located<String>
    public var kind: Kind
    /// The folder of the policy that declares it: its commands run there.
    public var directory: String

    public enum Kind: Hashable, Sendable {
        case manual(ManualProviderSpec)
        case generate(GenerateProviderSpec)
        case exec(ExecProviderSpec)
        case http(HTTPProviderSpec)
        case postgres(PostgresProviderSpec)
    }

    public var typeName: String {
        switch kind {
        case .manual: "manual"
        case .generate: "generate"
        case .exec: "exec"
        case .http: "http"
        case .postgres: "postgres"
        }
    }

    public static let typeNames = ["manual", "generate", "exec", "http", "postgres"]

    /// A console-only issuer: only a person can give a new secret.
    public var isManual: Bool {
        if case .manual = kind { return true }
        return false
    }

    /// Whether rotor itself calls the issuer (a CLI or an API), so that a call cut short may
    /// still have acted there; a `manual` key's person or rotor's own `generate` may not.
    /// A `postgres` create cut short leaves no orphan either: it changes the password of
    /// the role no consumer uses, which is what deleting that generation does anyway.
    public var reachesAVendor: Bool {
        switch kind {
        case .exec, .http: true
        case .manual, .generate, .postgres: false
        }
    }

    /// Whether the provider proves a generation works itself (a `postgres` role's login),
    /// before any consumer gets it and after its deletion, besides the key's verify checks.
    public var logsInItself: Bool {
        if case .postgres = kind { return true }
        return false
    }

    /// Whether a create cut short can leave a generation behind at the provider: not rotor's
    /// own `generate` (it existed only in the dead process), nor a `postgres` create (it only
    /// changed the password of the role no consumer uses, to one nobody knows now).
    public var createCanLeaveOrphan: Bool {
        switch kind {
        case .generate, .postgres: false
        case .manual, .exec, .http: true
        }
    }

    /// The only ids its generations can have (a `postgres` provider's two roles), or nil.
    public var fixedIDs: [String]? {
        if case .postgres(let postgres) = kind { return postgres.roles }
        return nil
    }

    /// Whether `list` reports each generation's name, so a create whose answer was lost can
    /// be found (AWS IAM's access keys have no name).
    public var listsNames: Bool {
        switch kind {
        case .exec(let exec): exec.list?.fields.name != nil
        case .http(let http): http.list?.fields.name != nil
        case .manual, .generate, .postgres: false
        }
    }

    /// How many creates one rotation may send (each after the last one's unknown outcome
    /// was cleared up through `list`): the http provider's `retries` + 1, else one.
    public var createAttempts: Int {
        if case .http(let http) = kind { return http.retries + 1 }
        return 1
    }

    /// How long a create can take before rotor stops waiting for it (its timeout, plus
    /// for a command the grace between TERM and KILL); nil when no vendor is called.
    /// Recovery waits this long after a create's intent before it looks for what it made.
    public var createDeadline: TimeInterval? {
        switch kind {
        case .exec(let exec): exec.create.timeout.timeInterval + CommandRunner.terminationGrace + 0.5
        case .http(let http): http.timeout.timeInterval + 0.5
        case .manual, .generate, .postgres: nil
        }
    }
}

/// A console-only issuer: a person creates the key and hands rotor the secret.
public struct ManualProviderSpec: Hashable, Sendable {
    /// Where to click, e.g. "Skytells Console > Settings > API Keys > Generate New API Key".
    public var instructions: String
    /// How to delete the old key; defaults to a sentence built from `instructions`.
    public var deleteInstructions: String?
}

/// rotor mints the secret itself.
public struct GenerateProviderSpec: Hashable, Sendable {
    public enum Encoding: String, Hashable, Sendable, CaseIterable {
        case base64url, base64, hex, alphanumeric
    }

    public var prefix: String
    public var bytes: Int
    public var encoding: Encoding
}

/// Database passwords (PostgreSQL): two roles with the same grants take turns, AWS Secrets
/// Manager's "alternating users". A generation's id is the role, its secret the password.
public struct PostgresProviderSpec: Hashable, Sendable {
    /// A libpq URI of an admin login that may alter both roles; no password in it (from
    /// `password_env`, else `PGPASSWORD` or `~/.pgpass`, as for psql).
    public var url: String
    /// Exactly two roles, which must exist with the same grants.
    public var roles: [String]
    /// The variable holding the admin login's password, withdrawn from rotor's environment
    /// and given to libpq only (never to a command rotor runs).
    public var passwordVariable: String?
}

/// A JSON pointer (RFC 6901), e.g. `/AccessKey/SecretAccessKey`.
public struct JSONPointer: Hashable, Sendable, CustomStringConvertible {
    public var tokens: [String]
    public var source: String

    public var description: String { source }

    /// nil when the text is not a pointer (it must be empty or start with `/`).
    public init?(_ text: String) {
        guard text.isEmpty || text.hasPrefix("/") else { return nil }
        source = text
        tokens = text.isEmpty ? [] : text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { token in
            guard token.utf8.contains(UInt8(ascii: "~")) else { return String(token) }
            return token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }
}

/// Any vendor CLI: argv arrays with JSON on stdout.
public struct ExecProviderSpec: Hashable, Sendable {
    public var create: CommandSpec
    public var idPointer: JSONPointer
    public var secretPointer: JSONPointer
    public var delete: CommandSpec?
    /// Run before `delete` (AWS: mark the key Inactive first).
    public var deactivate: CommandSpec?
    public var list: ExecListSpec?
    public var capacity: ProviderCapacity?
    /// `token_env`: the variables holding the CLI's account credentials. Only this
    /// provider's commands get them; every other command rotor runs does not.
    public var tokenVariables: [String] = []
}

/// How many generations a provider allows at once (AWS IAM: two access keys per user).
/// Checked at preflight through `list`, so a rotation never fails half-way on the limit.
public struct ProviderCapacity: Hashable, Sendable {
    public var maxGenerations: Int
    /// At the limit, delete a generation the provider lists as inactive (never the
    /// current one) instead of refusing — only when the policy says so.
    public var deleteInactiveWhenFull: Bool
}

public struct ExecListSpec: Hashable, Sendable {
    public var command: CommandSpec
    public var fields: ListFields
}

/// Where a list response keeps its items and their fields.
public struct ListFields: Hashable, Sendable {
    public var items: JSONPointer
    public var id: JSONPointer
    public var name: JSONPointer?
    public var created: JSONPointer?
    public var lastUsed: JSONPointer?
    /// Where an item says whether it is active (`/Status`: Active or Inactive).
    public var status: JSONPointer?
}

/// How rotor authenticates to a key-management API: an account-level token from the
/// environment or a file, never the key being rotated and never a literal.
public struct HTTPAuthSpec: Hashable, Sendable {
    public enum Source: Hashable, Sendable {
        case environment(String)
        case file(String)
    }

    /// The header carrying the token; `Authorization` with a `Bearer ` prefix by default.
    public var header: String
    public var prefix: String
    public var source: Source
    public var location: SourceLocation
}

public struct HTTPRequestSpec: Hashable, Sendable {
    public var method: String
    public var path: Template
    /// A JSON body whose string leaves are templates.
    public var body: JSONTemplate?
    public var location: SourceLocation
}

/// A JSON value whose strings are templates (a request body).
public indirect enum JSONTemplate: Hashable, Sendable {
    case string(Template)
    case number(String)
    case bool(Bool)
    case null
    case array([JSONTemplate])
    case object([(String, JSONTemplate)])

    public static func == (lhs: JSONTemplate, rhs: JSONTemplate) -> Bool {
        switch (lhs, rhs) {
        case (.string(let l), .string(let r)): l == r
        case (.number(let l), .number(let r)): l == r
        case (.bool(let l), .bool(let r)): l == r
        case (.null, .null): true
        case (.array(let l), .array(let r)): l == r
        case (.object(let l), .object(let r)): l.map(\.0) == r.map(\.0) && l.map(\.1) == r.map(\.1)
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .string(let t): hasher.combine(t)
        case .number(let n): hasher.combine(n)
        case .bool(let b): hasher.combine(b)
        case .null: hasher.combine(0)
        case .array(let a): hasher.combine(a)
        case .object(let o): for (k, v) in o { hasher.combine(k); hasher.combine(v) }
        }
    }
}

/// An HTTP key-management API.
public struct HTTPProviderSpec: Hashable, Sendable {
    public var baseURL: String
    public var auth: HTTPAuthSpec
    public var create: HTTPRequestSpec
    public var idPointer: JSONPointer
    public var secretPointer: JSONPointer
    public var delete: HTTPRequestSpec?
    public var list: HTTPListSpec?
    public var timeout: RotorDuration
    public var retries: Int
    public var capacity: ProviderCapacity?
}

public struct HTTPListSpec: Hashable, Sendable {
    public var request: HTTPRequestSpec
    public var fields: ListFields
}

extension Configuration {
    /// Every variable that holds a provider's account token (an http provider's
    /// `bearer_env`/token variable, an exec provider's `token_env`): withdrawn from rotor's
    /// environment once loaded (`WithheldEnvironment`) and given to provider commands only.
    public var tokenVariables: Set<String> {
        Set(providers.flatMap { provider -> [String] in
            switch provider.kind {
            case .http(let http): if case .environment(let name) = http.auth.source { [name] } else { [] }
            case .exec(let exec): exec.tokenVariables
            case .postgres(let postgres): [postgres.passwordVariable, "PGPASSWORD"].compactMap { $0 }
            case .manual, .generate: []
            }
        })
    }
}
