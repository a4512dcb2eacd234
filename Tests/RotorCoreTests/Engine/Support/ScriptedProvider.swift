import Foundation
@testable import RotorCore

/// A key provider that keeps its keys in memory and fails where a test says. Its secrets
/// start with `canary-`, so a test can look for them anywhere they must not be.
final class ScriptedProvider: KeyProvider, @unchecked Sendable {
    struct Key: Equatable {
        var id: String
        var name: String
        var secret: String
        var active = true
    }

    enum CreateBehaviour {
        case succeed
        /// The provider refuses: nothing is created.
        case refuse
        /// The provider creates the key, but its answer is lost.
        case loseAnswerAfterCreating
        /// The answer is lost and nothing was created.
        case loseAnswerWithoutCreating
        /// The vendor answers 503 and created nothing.
        case failWithoutCreating
    }

    private let lock = NSLock()
    private var live: [Key] = []
    private var counter = 0
    private var log: [String] = []

    var createBehaviour = CreateBehaviour.succeed
    /// Ids whose deletion fails.
    var failingDeletes: Set<String> = []
    var canList = true
    var listFails = false
    var preflightProblems: [String] = []
    /// The next created secret, when a test needs a particular value.
    var nextSecret: String?
    /// A failing delete's message quotes the newest key's secret (a careless vendor).
    var deleteFailureQuotesNewestSecret = false

    var keys: [Key] { lock.withLock { live } }
    var calls: [String] { lock.withLock { log } }

    /// Puts a key in place, as if created before rotor knew the provider.
    @discardableResult
    func seed(id: String, name: String, secret: String, active: Bool = true) -> Key {
        let key = Key(id: id, name: name, secret: secret, active: active)
        lock.withLock { live.append(key) }
        return key
    }

    func preflight(directory: String) -> [String] { preflightProblems }

    func create(name: String, values: [Placeholder: String], directory: String) async throws(ProviderError) -> NewGeneration {
        let key: Key = lock.withLock {
            counter += 1
            log.append("create \(name)")
            return Key(id: "key-\(counter)", name: name, secret: nextSecret ?? "canary-\(counter)-\(UUID().uuidString.prefix(8))")
        }
        switch createBehaviour {
        case .succeed:
            lock.withLock { live.append(key) }
            return NewGeneration(id: key.id, name: name, secret: Secret(key.secret))
        case .refuse:
            throw ProviderError("the vendor answered 400: quota exceeded")
        case .loseAnswerAfterCreating:
            lock.withLock { live.append(key) }
            throw ProviderError("the vendor answered 502 after acting", mayHaveCreated: true)
        case .loseAnswerWithoutCreating:
            throw ProviderError("the connection was reset", mayHaveCreated: true, mayStillBeWorking: true)
        case .failWithoutCreating:
            throw ProviderError("the vendor answered 503", mayHaveCreated: true)
        }
    }

    func delete(id: String, values: [Placeholder: String], directory: String) async throws(ProviderError) {
        let failing = lock.withLock {
            log.append("delete \(id)")
            return failingDeletes.contains(id)
        }
        if failing {
            let quoted = deleteFailureQuotesNewestSecret ? " while \(keys.last?.secret ?? "") is active" : ""
            throw ProviderError("the vendor answered 503\(quoted)")
        }
        lock.withLock { live.removeAll { $0.id == id } }
    }

    func list(values: [Placeholder: String], directory: String) async throws(ProviderError) -> [ListedGeneration]? {
        lock.withLock { log.append("list") }
        if listFails { throw ProviderError("the vendor answered 500 to list") }
        guard canList else { return nil }
        return keys.map { ListedGeneration(id: $0.id, name: $0.name, active: $0.active) }
    }
}
