import Foundation

/// Everything rotor read from the configuration files of one run, after validation.
public struct Configuration: Sendable {
    public var providers: [ProviderSpec] = []
    public var keys: [KeyPolicy] = [] {
        didSet { keyPositions = BuiltOnce() }
    }
    /// Each key's position in `keys`, found once (on first use) for this list of keys.
    private var keyPositions = BuiltOnce<[String: Int]>()
    public var consumers: [ConsumerSpec] = [] {
        didSet { positions = BuiltOnce() }
    }
    /// Each key's consumers' positions in `consumers`, found once (on first use) for this
    /// list of consumers: a new list gets a new, empty index.
    private var positions = BuiltOnce<[String: [Int]]>()
    /// The files read, as displayed.
    public var files: [String] = []
    /// Target files that more than one target writes (two variables of one env file), as
    /// the loader's cross-file check found them; every other file has one target. nil when
    /// not known (a configuration not made by the loader).
    public var filesWithSeveralTargets: Set<String>?

    public init() {}

    public func provider(named name: String) -> ProviderSpec? {
        providers.first { $0.name.value == name }
    }

    /// The key of that name (the first, should two share it). Looked up in an index: a
    /// scan per call made every per-key step O(keys).
    public func key(named name: String) -> KeyPolicy? {
        keyPositions.value { Dictionary(keys.indices.map { (keys[$0].name.value, $0) }, uniquingKeysWith: { first, _ in first }) }[name].map { keys[$0] }
    }

    /// Whether only a person can give the key's new secret (its provider is `manual`).
    public func isManual(_ keyName: String) -> Bool {
        guard let key = key(named: keyName), let provider = provider(named: key.provider.value) else { return false }
        return provider.isManual
    }

    /// `isManual` for every key at once (one pass, not a search per key).
    public var manualKeys: Set<String> {
        let providers = Set(providers.filter(\.isManual).map(\.name.value))
        return Set(keys.filter { providers.contains($0.provider.value) }.map(\.name.value))
    }

    /// The key's consumers, in configuration order. Looked up in an index built once:
    /// a scan of every consumer per key copied each one (`adopt --all` over 10,000 keys and
    /// 100,000 consumers spent 8 ms a key there).
    public func consumers(of key: String) -> [ConsumerSpec] {
        (consumerPositionsByKey()[key] ?? []).map { consumers[$0] }
    }

    /// Every key's consumers, in configuration order, for a pass over all keys
    /// (`consumers(of:)` scans every consumer: once per key, that was quadratic).
    public func consumersByKey() -> [String: [ConsumerSpec]] {
        consumerPositionsByKey().mapValues { $0.map { consumers[$0] } }
    }

    /// `consumersByKey`, as positions in `consumers`: for a pass that must also say where
    /// each consumer stands (`plan`'s warnings come out in configuration order).
    public func consumerPositionsByKey() -> [String: [Int]] {
        positions.value { Dictionary(grouping: consumers.indices, by: { consumers[$0].uses.value }) }
    }

    public var targetCount: Int { consumers.reduce(0) { $0 + $1.targets.count } }
}

/// A value derived from a configuration's list (an index by name), built by whoever asks
/// first and kept; a struct that changes the list puts a new, empty one in its place.
private final class BuiltOnce<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var built: Value?

    func value(_ build: () -> Value) -> Value {
        lock.withLock {
            if let built { return built }
            let made = build()
            built = made
            return made
        }
    }
}
