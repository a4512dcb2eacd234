/// A command to run: an argv array, never a shell string. Elements are templates that
/// may name `{key}`, `{name}`, `{id}`, `{date}`, `{timestamp}` — never `{secret}`.
public struct CommandSpec: Hashable, Sendable {
    public var argv: [Template]
    /// Environment variables given to the command. Values may name `{secret}` only where
    /// the command is a secret's destination (an exec target, a verify check).
    public var environment: [String: Template]
    /// Text written to the command's standard input.
    public var stdin: Template?
    public var timeout: RotorDuration
    public var location: SourceLocation

    public init(argv: [Template], environment: [String: Template] = [:], stdin: Template? = nil,
                timeout: RotorDuration = RotorDuration(seconds: 60), location: SourceLocation) {
        self.argv = argv
        self.environment = environment
        self.stdin = stdin
        self.timeout = timeout
        self.location = location
    }

    /// The program, as written (argv[0]).
    public var program: String { argv.first?.source ?? "" }
}

/// An HTTP request rotor sends: a health check, a verify check or a webhook.
public struct HTTPCheckSpec: Hashable, Sendable {
    public var url: Template
    public var method: String
    public var headers: [String: Template]
    public var body: Template?
    /// Accepted status codes.
    public var expect: [Int]
    public var timeout: RotorDuration
    public var retries: Int
    public var location: SourceLocation
}

/// A check of a key or a consumer: an HTTP request, or a command that must exit 0.
public enum CheckSpec: Hashable, Sendable {
    case http(HTTPCheckSpec)
    case exec(CommandSpec)

    public var location: SourceLocation {
        switch self {
        case .http(let http): http.location
        case .exec(let command): command.location
        }
    }
}

/// A webhook told about rotations. Its payload never carries a secret.
public struct WebhookSpec: Hashable, Sendable {
    public enum Event: String, Hashable, Sendable, CaseIterable {
        case success, failure, emergency
    }

    public var url: Template
    public var events: Set<Event>
    public var location: SourceLocation
}
