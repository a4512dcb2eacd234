import Foundation

/// A generation a provider has just created. Its secret lives only in memory.
public struct NewGeneration: Sendable {
    public var id: String
    public var name: String
    public var secret: Secret
}

/// A generation as a provider lists it.
public struct ListedGeneration: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var created: Date?
    public var lastUsed: Date?
    /// False when the provider lists it as inactive/disabled.
    public var active = true
    /// True when the provider sees it in use at this moment (a database role with open
    /// sessions): its last use is now, by the run's clock.
    public var inUseNow = false

    public init(id: String, name: String? = nil, created: Date? = nil, lastUsed: Date? = nil, active: Bool = true) {
        self.id = id
        self.name = name
        self.created = created
        self.lastUsed = lastUsed
        self.active = active
    }

    /// One item of a list response, read through the configured pointers.
    init(_ item: Any, fields: ListFields, id: String) {
        self.init(id: id, name: fields.name.flatMap { ExecProvider.string($0.resolve(in: item)) },
                  created: fields.created.flatMap { ExecProvider.date($0.resolve(in: item)) },
                  lastUsed: fields.lastUsed.flatMap { ExecProvider.date($0.resolve(in: item)) },
                  active: fields.status.flatMap { ExecProvider.string($0.resolve(in: item)) }.map { !["inactive", "disabled", "revoked"].contains($0.lowercased()) } ?? true)
    }
}

/// Why a provider call failed, already redacted.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// True when the call may have had an effect (a create whose answer was lost).
    public var mayHaveCreated: Bool
    /// True when no answer came (a timeout, a lost connection): the vendor may still be at
    /// work, so a lookup for what it made looks again after pauses.
    public var mayStillBeWorking: Bool
    /// Set when the provider refused in a way that passes (429: too many requests): nothing
    /// was made, and trying again after this many seconds is right.
    public var retryAfter: TimeInterval?

    /// The message is redacted here, once (every value rotor knows, and anything shaped
    /// like a credential), so no path (journal, report, audit log) can carry a secret a
    /// provider echoed; terminal control characters are escaped first (a vendor must not
    /// drive the operator's terminal, nor split a secret with an escape sequence).
    public init(_ message: String, mayHaveCreated: Bool = false, mayStillBeWorking: Bool = false, retryAfter: TimeInterval? = nil) {
        self.message = Redactor.redact(message)
        self.mayHaveCreated = mayHaveCreated
        self.mayStillBeWorking = mayStillBeWorking
        self.retryAfter = retryAfter
    }

    public var description: String { message }
}

/// Where generations of a key are created, checked and deleted.
///
/// Contract: `create` returns only once the provider holds the new generation, and
/// reports its public id, which the engine journals at once. `delete` is idempotent:
/// deleting a generation that is already gone succeeds. Errors never carry a secret.
public protocol KeyProvider: Sendable {
    /// Problems that must stop a rotation before anything is created (a missing command,
    /// an unset token variable).
    func preflight(directory: String) -> [String]
    func create(name: String, values: [Placeholder: String], directory: String) async throws(ProviderError) -> NewGeneration
    func delete(id: String, values: [Placeholder: String], directory: String) async throws(ProviderError)
    /// The generations the provider has, or nil when it cannot list.
    func list(values: [Placeholder: String], directory: String) async throws(ProviderError) -> [ListedGeneration]?
    /// Checks that ask the provider itself (see the default).
    func readiness(directory: String) async -> [String]
    /// `create` told which generation consumers use now (see the default).
    func create(name: String, values: [Placeholder: String], directory: String, inUse: String?) async throws(ProviderError) -> NewGeneration
}

extension KeyProvider {
    /// Checks that ask the provider itself, before anything is created: run by a rotation's
    /// preflight only (`plan` and the dry runs call no provider). Problems as sentences.
    func readiness(directory: String) async -> [String] { [] }

    /// `create`, told which generation consumers use now (the recorded current one, else
    /// what the key's `{id}` targets hold): a provider whose generations take turns (a
    /// `postgres` provider's two roles) creates on the other one.
    func create(name: String, values: [Placeholder: String], directory: String, inUse: String?) async throws(ProviderError) -> NewGeneration {
        try await create(name: name, values: values, directory: directory)
    }
}

/// A provider that can prove a generation works, or is dead, by using it itself (a
/// database login): besides the key's verify checks, before any consumer gets a new
/// generation and after an old one's deletion.
protocol SelfCheckingProvider: KeyProvider {
    /// nil when `secret` works as generation `id`; else why not (`inconclusive` when the
    /// provider could not be asked, as opposed to refusing it).
    func tryUsing(id: String, secret: Secret) async -> CheckRunner.Failure?
}

extension NewGeneration {
    /// The new generation in a create response: id and secret at their JSON pointers.
    /// Anything missing may mean the provider created it anyway, which the error says.
    static func parse(_ data: Data, idPointer: JSONPointer, secretPointer: JSONPointer, name: String, source: String) throws(ProviderError) -> NewGeneration {
        guard let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw ProviderError("\(source) with malformed JSON; a generation may have been created", mayHaveCreated: true)
        }
        guard let id = ExecProvider.string(idPointer.resolve(in: json)) else {
            throw ProviderError("create's answer has no id at \(idPointer); a generation may have been created", mayHaveCreated: true)
        }
        guard let secret = secretPointer.resolve(in: json) as? String, !secret.isEmpty else {
            throw ProviderError("create's answer has no secret at \(secretPointer) (generation \(id))", mayHaveCreated: true)
        }
        return NewGeneration(id: id, name: name, secret: Secret(secret))
    }
}

extension ListFields {
    /// The generations in a provider's list response.
    func generations(in json: Any) throws(ProviderError) -> [ListedGeneration] {
        guard let list = items.resolve(in: json) as? [Any] else { throw ProviderError("list's answer has no array at \(items)") }
        return list.compactMap { item in ExecProvider.string(id.resolve(in: item)).map { ListedGeneration(item, fields: self, id: $0) } }
    }
}

extension ProviderSpec {
    /// How many generations the provider allows at once, if it says.
    var capacity: ProviderCapacity? {
        switch kind {
        case .exec(let exec): exec.capacity
        case .http(let http): http.capacity
        case .manual, .generate, .postgres: nil
        }
    }

    /// The provider implementation for this definition.
    func makeProvider(runner: CommandRunner, manualInput: ManualInput = ManualInput()) -> (any KeyProvider)? {
        // Every type has an implementation; the optional is for types still to come.
        switch kind {
        case .generate(let format): GenerateProvider(format: format)
        case .exec(let exec): ExecProvider(spec: exec, runner: runner)
        case .manual(let manual): ManualProvider(spec: manual, input: manualInput)
        case .http(let http): HTTPProvider(spec: http)
        case .postgres(let postgres): PostgresProvider(spec: postgres)
        }
    }
}
