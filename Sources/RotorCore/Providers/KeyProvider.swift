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
}

/// Why a provider call failed, already redacted.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// True when the call may have had an effect (a create whose answer was lost).
    public var mayHaveCreated: Bool

    public init(_ message: String, mayHaveCreated: Bool = false) {
        self.message = message
        self.mayHaveCreated = mayHaveCreated
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
}

extension ProviderSpec {
    /// The provider implementation for this definition.
    func makeProvider(runner: CommandRunner, manualInput: ManualInput = ManualInput()) -> (any KeyProvider)? {
        // Every type has an implementation; the optional is for types still to come.
        switch kind {
        case .generate(let format): GenerateProvider(format: format)
        case .exec(let exec): ExecProvider(spec: exec, runner: runner)
        case .manual(let manual): ManualProvider(spec: manual, input: manualInput)
        case .http(let http): HTTPProvider(spec: http)
        }
    }
}
