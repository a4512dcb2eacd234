/// Everything rotor read from the configuration files of one run, after validation.
public struct Configuration: Sendable {
    public var providers: [ProviderSpec] = []
    public var keys: [KeyPolicy] = []
    public var consumers: [ConsumerSpec] = []
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

    public func key(named name: String) -> KeyPolicy? {
        keys.first { $0.name.value == name }
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

    public func consumers(of key: String) -> [ConsumerSpec] {
        consumers.filter { $0.uses.value == key }
    }

    /// Every key's consumers, in configuration order, for a pass over all keys
    /// (`consumers(of:)` scans every consumer: once per key, that was quadratic).
    public func consumersByKey() -> [String: [ConsumerSpec]] {
        consumerPositionsByKey().mapValues { $0.map { consumers[$0] } }
    }

    /// `consumersByKey`, as positions in `consumers`: for a pass that must also say where
    /// each consumer stands (`plan`'s warnings come out in configuration order).
    public func consumerPositionsByKey() -> [String: [Int]] {
        Dictionary(grouping: consumers.indices, by: { consumers[$0].uses.value })
    }

    public var targetCount: Int { consumers.reduce(0) { $0 + $1.targets.count } }
}
