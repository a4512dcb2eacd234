import Foundation

/// The outcome of loading configuration: the model (complete only without errors),
/// every diagnostic of every file, and the sources to quote in them.
public struct ConfigurationLoadResult: Sendable {
    public var configuration: Configuration
    public var diagnostics: Diagnostics
    public var sources: SourceFiles
}

/// Finds the configuration files, loads each strictly, and checks what spans files:
/// duplicate names, unknown keys and providers, targets written by two keys.
public struct ConfigurationLoader: Sendable {
    public var limits: YAMLLoadLimits
    /// Paths are shown relative to this folder when they are inside it.
    public var workingDirectory: String
    /// Whether a large manifest's consumers are decoded while it is parsed (see
    /// `parse(file:)`). Tests hold every way to the same result.
    var consumersAhead = ConsumersAhead.whileParsing

    enum ConsumersAhead: Sendable {
        case off
        /// What the parse published before it ended; the rest is decoded after it.
        case whileParsing
        /// Every entry, the parse waiting for them at its end: a test's way to be sure.
        case everyEntry
    }

    public static let documentKinds = ["RotationPolicy", "ConsumerManifest"]

    public init(workingDirectory: String = FileManager.default.currentDirectoryPath, limits: YAMLLoadLimits = .default) {
        self.workingDirectory = URL(fileURLWithPath: workingDirectory).standardizedFileURL.path
        self.limits = limits
    }

    /// Loads every `*.yaml`/`*.yml` under `paths` (files or folders); with no paths,
    /// `policies/` and `consumers/` under the working directory. Files are read and
    /// parsed on every core, then decoded in order (a long list of consumers on every
    /// core: see `ManifestDecoder`); what spans files is checked after.
    ///
    /// Two phases rather than one parallel pass per file: Dispatch runs a parallel loop
    /// nested in another on one thread, so one large manifest would decode on one core.
    public func load(paths: [String]) -> ConfigurationLoadResult {
        var diagnostics = Diagnostics()
        var sources = SourceFiles()
        var configuration = Configuration()
        var declared = DeclaredNames()
        var fleetNotify: FleetNotify?
        for file in discover(paths: paths, diagnostics: &diagnostics).parallelMapEach(parse(file:)) {
            configuration.files.append(file.display)
            diagnostics.append(contentsOf: file.diagnostics)
            guard let bytes = file.bytes, let loaded = file.loaded else { continue }
            sources.add(bytes, for: file.display)
            let context = DecodingContext(file: file.display, directory: PathNormalizer.parent(of: file.path))
            for document in loaded.documents {
                decode(document, into: &configuration, declared: &declared, fleetNotify: &fleetNotify, context: context, consumersAhead: file.consumersAhead)
            }
            diagnostics.append(contentsOf: context.diagnostics)
        }
        if let fleetNotify {
            for index in configuration.keys.indices where configuration.keys[index].notifyFromDefault {
                configuration.keys[index].notify = fleetNotify.webhooks
            }
        }
        configuration.filesWithSeveralTargets = crossCheck(configuration, declared: declared, diagnostics: &diagnostics)
        return ConfigurationLoadResult(configuration: configuration, diagnostics: diagnostics, sources: sources)
    }

    /// One file, read and parsed on its own.
    private struct ParsedFile: Sendable {
        var path: String
        var display: String
        var bytes: [UInt8]?
        var loaded: YAMLLoadResult?
        var diagnostics = Diagnostics()
        /// Consumers decoded on another core while the file was parsed (large manifests).
        var consumersAhead: ConsumersDecodedAhead?
    }

    private func parse(file: String) -> ParsedFile {
        var result = ParsedFile(path: file, display: displayPath(file))
        guard let bytes = read(file, display: result.display, diagnostics: &result.diagnostics) else { return result }
        result.bytes = bytes
        // A long list of consumers is decoded while libyaml parses the rest of the file: on
        // one core, the parse is a fifth of `plan`'s time at fleet scale (see
        // `MappingEntryStream`). Worth a thread only for a large file that may hold one.
        let stream = consumersAhead != .off && Self.mayListManyConsumers(bytes) ? MappingEntryStream(handsOutEveryBatch: consumersAhead == .everyEntry) : nil
        let (file, directory) = (result.display, PathNormalizer.parent(of: file))
        let ahead = stream.map { stream in BackgroundWork { ManifestDecoder.decodeAhead(stream, file: file, directory: directory) } }
        let loaded = YAMLLoader.load(bytes, limits: limits, publishingEntriesTo: stream)
        result.consumersAhead = ahead?.result()
        for error in loaded.allErrors {
            result.diagnostics.error(error.message, at: SourceLocation(file: result.display, mark: error.mark))
        }
        result.loaded = loaded
        return result
    }

    /// At least 64 KiB, with a line that starts `consumers:` (usually near the top).
    static func mayListManyConsumers(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 64 << 10 else { return false }
        return bytes.withUnsafeBufferPointer { buffer in
            var line = 0
            while line < buffer.count {
                if buffer[line...].starts(with: "consumers:".utf8) { return true }
                guard let newline = buffer[line...].firstIndex(of: UInt8(ascii: "\n")) else { return false }
                line = newline + 1
            }
            return false
        }
    }

    // MARK: Discovery

    func discover(paths: [String], diagnostics: inout Diagnostics) -> [String] {
        let fileManager = FileManager.default
        var roots = paths.map { absolute($0) }
        if paths.isEmpty {
            roots = ["policies", "consumers"].map { absolute($0) }.filter { fileManager.fileExists(atPath: $0) }
            if roots.isEmpty {
                diagnostics.error(
                    "no configuration found: there is no policies/ or consumers/ folder in \(workingDirectory); pass --config PATH (a file or folder)",
                    at: nil)
                return []
            }
        }
        var files: [String] = []
        for root in roots {
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: root, isDirectory: &isDirectory) else {
                diagnostics.error("--config \(displayPath(root)): no such file or folder", at: nil)
                continue
            }
            guard isDirectory.boolValue else {
                files.append(root)
                continue
            }
            let found = yamlFiles(under: root)
            if found.isEmpty { diagnostics.warning("\(displayPath(root)) holds no *.yaml or *.yml file", at: nil) }
            files.append(contentsOf: found)
        }
        var seen = Set<String>()
        return files.filter { seen.insert($0).inserted }
    }

    private func yamlFiles(under folder: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(
            at: URL(fileURLWithPath: folder), includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        else { return [] }
        var files: [String] = []
        for case let url as URL in enumerator where ["yaml", "yml"].contains(url.pathExtension.lowercased()) {
            if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                files.append(url.standardizedFileURL.path)
            }
        }
        return files.sorted()
    }

    /// Reads a file after checking its size, so a huge file costs nothing.
    private func read(_ path: String, display: String, diagnostics: inout Diagnostics) -> [UInt8]? {
        let start = SourceLocation(file: display, line: 1, column: 1)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (attributes[.size] as? NSNumber)?.intValue
        else {
            diagnostics.error("cannot read \(display): permission denied or not a file", at: nil)
            return nil
        }
        guard size <= limits.maxBytes else {
            diagnostics.error("file is \(size) bytes; rotor reads configuration files of at most \(limits.maxBytes) bytes", at: start)
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            diagnostics.error("cannot read \(display)", at: nil)
            return nil
        }
        return [UInt8](data)
    }

    func absolute(_ path: String) -> String {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: workingDirectory).appendingPathComponent(path)
        return url.standardizedFileURL.path
    }

    /// `path` relative to the working directory when inside it, else absolute.
    /// Compared and cut as bytes, as paths are: `plan` shows 10,000 of them, and
    /// `hasPrefix`/`dropFirst` on `String` walk grapheme clusters.
    public func displayPath(_ path: String) -> String {
        var (path, folder) = (path, workingDirectory)
        return path.withUTF8 { path in
            folder.withUTF8 { folder in
                // The folder, then a `/` unless the folder ends with one (`/`), then something.
                let separated = folder.last == UInt8(ascii: "/")
                let start = folder.count + (separated ? 0 : 1)
                guard !folder.isEmpty, path.count > start, memcmp(path.baseAddress!, folder.baseAddress!, folder.count) == 0,
                      separated || path[folder.count] == UInt8(ascii: "/") else { return nil }
                return String(decoding: UnsafeBufferPointer(rebasing: path[start...]), as: UTF8.self)
            }
        } ?? path
    }

    // MARK: Documents

    /// The fleet's `notify` default and the file that sets it.
    private struct FleetNotify {
        var webhooks: [WebhookSpec]
        var file: String
    }

    private func decode(_ document: YAMLDocument, into configuration: inout Configuration, declared: inout DeclaredNames,
                        fleetNotify: inout FleetNotify?, context: DecodingContext, consumersAhead: ConsumersDecodedAhead?) {
        guard let root = document.root else { return }
        guard let reader = MappingReader(root, context, subject: "a configuration document") else { return }
        guard let kind = reader.string("kind", required: true) else {
            reader.abandon()
            return
        }
        switch kind.value {
        case "RotationPolicy":
            let (providers, keys, names, notifyDefault) = PolicyDecoder(context: context).decode(reader)
            if let notifyDefault, let node = reader.node("notify") {
                if let first = fleetNotify {
                    context.error("a second notify default for every key (the first is in \(first.file)): keep one", at: node)
                } else {
                    fleetNotify = FleetNotify(webhooks: notifyDefault, file: context.file)
                }
            }
            configuration.providers += providers
            configuration.keys += keys
            declared.providers.formUnion(names.providers)
            declared.keys.formUnion(names.keys)
        case "ConsumerManifest":
            let decoded = ManifestDecoder(context: context).decode(reader, ahead: consumersAhead)
            // Moved, not copied, when it is the first manifest (10,000 consumers at fleet scale).
            if configuration.consumers.isEmpty { configuration.consumers = decoded } else { configuration.consumers += decoded }
        default:
            context.diagnostics.error(
                "unknown kind '\(kind.value)'\(Suggestion.didYouMean(kind.value, in: Self.documentKinds)); kinds are RotationPolicy and ConsumerManifest",
                at: kind.location)
        }
    }

    // MARK: Across files

    /// The names, then the places written by two keys: two independent passes over every
    /// consumer, on a core each, their diagnostics joined in that order. Returns the files
    /// that several targets write (see `Configuration.filesWithSeveralTargets`).
    private func crossCheck(_ configuration: Configuration, declared: DeclaredNames, diagnostics: inout Diagnostics) -> Set<String> {
        let passes: [@Sendable () -> (Diagnostics, Set<String>)] = [
            { var found = Diagnostics(); checkNames(configuration, declared: declared, diagnostics: &found); return (found, []) },
            { var found = Diagnostics(); let shared = reportSharedTargets(configuration, diagnostics: &found); return (found, shared) },
        ]
        var shared = Set<String>()
        for (found, files) in passes.parallelMapEach({ $0() }) {
            diagnostics.append(contentsOf: found)
            shared.formUnion(files)
        }
        return shared
    }

    private func checkNames(_ configuration: Configuration, declared: DeclaredNames, diagnostics: inout Diagnostics) {
        reportDuplicates(configuration.providers.map(\.name), what: "provider", diagnostics: &diagnostics)
        reportDuplicates(configuration.keys.map(\.name), what: "key", diagnostics: &diagnostics)
        reportDuplicates(configuration.consumers.map(\.name), what: "consumer", diagnostics: &diagnostics)

        // Declared names, so a provider that failed to decode is not reported again as unknown.
        let providerNames = declared.providers
        var suggestions = ReferenceSuggestions()
        let providersByName = Dictionary(configuration.providers.map { ($0.name.value, $0) }, uniquingKeysWith: { first, _ in first })
        for key in configuration.keys {
            guard providerNames.contains(key.provider.value) else {
                diagnostics.error(
                    "key '\(key.name.value)' uses unknown provider '\(key.provider.value)'\(suggestions.didYouMean(key.provider.value, in: providerNames))",
                    at: key.provider.location)
                continue
            }
            if key.deleteWhenUnusedFor != nil, let provider = providersByName[key.provider.value], !provider.reportsLastUse {
                diagnostics.error(
                    "key '\(key.name.value)' sets delete_when_unused_for, but provider '\(provider.name.value)' reports no last-used time; give it a 'list' with 'last_used'",
                    at: key.name.location)
            }
        }
        reportSharedRoles(configuration, diagnostics: &diagnostics)
        let keyNames = declared.keys
        var consumersByKey = [String: Int](minimumCapacity: configuration.keys.count)
        for index in configuration.consumers.indices { consumersByKey[configuration.consumers[index].uses.value, default: 0] += 1 }
        // Each key used is looked up once; its consumers are reported in order only if unknown.
        let unknown = Set(consumersByKey.keys.filter { !keyNames.contains($0) })
        for consumer in configuration.consumers where !unknown.isEmpty && unknown.contains(consumer.uses.value) {
            diagnostics.error(
                "consumer '\(consumer.name.value)' uses unknown key '\(consumer.uses.value)'\(suggestions.didYouMean(consumer.uses.value, in: keyNames))",
                at: consumer.uses.location)
        }
        for key in configuration.keys where consumersByKey[key.name.value] == nil {
            diagnostics.warning("key '\(key.name.value)' has no consumers: a rotation would update nothing", at: key.name.location)
        }
    }

    /// A `postgres` provider's two roles take turns for one key: a second key using them (or
    /// another provider naming one of its roles) would set a password on the role the first
    /// key's consumers use.
    private func reportSharedRoles(_ configuration: Configuration, diagnostics: inout Diagnostics) {
        var keyOfProvider: [String: Located<String>] = [:]
        for key in configuration.keys {
            guard let provider = configuration.provider(named: key.provider.value), provider.fixedIDs != nil else { continue }
            if let first = keyOfProvider[provider.name.value] {
                diagnostics.error("key '\(key.name.value)' uses provider '\(provider.name.value)', whose roles already take turns for key '\(first.value)' (\(first.location)): give each key its own pair of roles", at: key.provider.location)
            } else {
                keyOfProvider[provider.name.value] = key.name
            }
        }
        var providerOfRole: [String: String] = [:]
        for provider in configuration.providers {
            for role in provider.fixedIDs ?? [] {
                if let first = providerOfRole[role] {
                    diagnostics.error("role '\(role)' is one of provider '\(first)''s roles too: give each provider its own pair of roles", at: provider.name.location)
                } else {
                    providerOfRole[role] = provider.name.value
                }
            }
        }
    }

    private func reportDuplicates(_ names: [Located<String>], what: String, diagnostics: inout Diagnostics) {
        var first = [String: SourceLocation](minimumCapacity: names.count)
        for name in names {
            if let original = first[name.value] {
                diagnostics.error("duplicate \(what) name '\(name.value)'", at: name.location,
                                  notes: [.note("'\(name.value)' is first defined here", at: original)])
            } else {
                first[name.value] = name.location
            }
        }
    }

    /// One place written by two different keys would flip between them on every rotation.
    /// Returns the files that more than one target writes (two variables of one env file).
    private func reportSharedTargets(_ configuration: Configuration, diagnostics: inout Diagnostics) -> Set<String> {
        let consumers = configuration.consumers
        // Each file's writers by position, first writer first: keyed by the path alone (one
        // string hashed per target), places told apart by type and selector within a file.
        var writers = [String: [(consumer: Int, target: Int)]](minimumCapacity: consumers.count)
        var shared = Set<String>()
        // By index: `for consumer in` would copy every consumer.
        for consumerIndex in consumers.indices {
            let targets = consumers[consumerIndex].targets
            for targetIndex in targets.indices {
                guard let path = targets[targetIndex].filePath else { continue }
                let target = targets[targetIndex]
                guard let others = writers[path] else {
                    writers[path] = [(consumerIndex, targetIndex)]
                    continue
                }
                shared.insert(path)  // a second target in this file, at the same place or not
                let (type, selector) = (target.typeName, target.selector)
                guard let (ownerIndex, ownerTarget) = others.first(where: {
                    let other = consumers[$0.consumer].targets[$0.target]
                    return other.typeName == type && other.selector == selector
                }) else {
                    writers[path, default: []].append((consumerIndex, targetIndex))
                    continue
                }
                let (owner, consumer) = (consumers[ownerIndex], consumers[consumerIndex])
                if owner.uses.value != consumer.uses.value {
                    diagnostics.error(
                        "\(selector) in \(displayPath(path)) is written by key '\(consumer.uses.value)' (consumer '\(consumer.name.value)') and by key '\(owner.uses.value)' (consumer '\(owner.name.value)'); one place can hold only one key",
                        at: target.location, notes: [.note("the other target is here", at: owner.targets[ownerTarget].location)])
                }
            }
        }
        return shared
    }
}

/// Every provider and key name written in the configuration, valid or not.
struct DeclaredNames: Sendable {
    var providers: Set<String> = []
    var keys: Set<String> = []
}

extension ProviderSpec {
    /// Whether the provider's list reports when a generation was last used.
    var reportsLastUse: Bool {
        switch kind {
        case .http(let http): http.list?.fields.lastUsed != nil
        case .exec(let exec): exec.list?.fields.lastUsed != nil
        case .postgres: true  // a role with open sessions is in use now (pg_stat_activity)
        case .manual, .generate: false
        }
    }
}
