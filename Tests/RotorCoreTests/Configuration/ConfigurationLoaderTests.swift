import Foundation
import Testing
@testable import RotorCore

@Suite struct ConfigurationLoaderTests {
    @Test func theShippedPoliciesAndExamplesAreValid() {
        for paths in [["policies", "consumers"], ["examples/quickstart"]] {
            let result = ConfigurationLoader(workingDirectory: TestPaths.packageRoot.path).load(paths: paths)
            #expect(result.diagnostics.all.isEmpty, "\(paths): \(result.diagnostics.all)")
        }
    }

    @Test func decodesEveryFieldWithItsPlace() throws {
        let result = ConfigurationLoader(workingDirectory: TestPaths.packageRoot.path).load(paths: ["policies", "consumers"])
        let configuration = result.configuration
        let skytells = try #require(configuration.key(named: "skytells-prod"))
        #expect(skytells.every == RotorDuration(parsing: "90d"))
        #expect(skytells.grace == .zero)
        #expect(skytells.generationName.source == "data-pipeline-prod-{date}")
        #expect(skytells.name.location == SourceLocation(file: "policies/skytells.yaml", line: 11, column: 3))
        guard case .http(let verify) = try #require(skytells.verify.first) else { Issue.record("verify is not http"); return }
        #expect(verify.headers["Authorization"]?.usesSecret == true)
        let consumer = try #require(configuration.consumers.first { $0.name.value == "data-pipeline-prod" })
        #expect(consumer.targets.map(\.typeName) == ["env_file", "json_file", "yaml_file"])
        #expect(consumer.targets[0].filePath == TestPaths.packageRoot.appendingPathComponent("examples/deploy/data-pipeline/.env").path)
        #expect(consumer.reload?.argv.map(\.source) == ["systemctl", "restart", "data-pipeline"])
        let mail = try #require(configuration.provider(named: "mail-api"))
        guard case .http(let http) = mail.kind else { Issue.record("mail-api is not http"); return }
        #expect(http.auth.source == .environment("MAIL_ADMIN_TOKEN"))
        #expect(http.create.body == .object([("name", .string(try Template.parse("{name}").get())), ("scopes", .array([.string(Template(literal: "mail.send"))]))]))
        #expect(configuration.key(named: "mailer-prod")?.window?.source == "Mon-Fri 09:00-17:00 UTC")
    }

    @Test func stringFieldsTakeTextNotYAML11Guesses() throws {
        let folder = try TemporaryFolder()
        try folder.write("p.yaml", """
            kind: RotationPolicy
            providers:
              console: { type: manual, instructions: NO }
              local: { type: generate, format: { prefix: 0755 } }
            keys:
              k: { provider: local, description: yes }
            """)
        let result = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["p.yaml"])
        #expect(!result.diagnostics.hasErrors)
        guard case .manual(let manual) = try #require(result.configuration.provider(named: "console")).kind,
              case .generate(let format) = try #require(result.configuration.provider(named: "local")).kind
        else { Issue.record("wrong kinds"); return }
        #expect(manual.instructions == "NO")
        #expect(format.prefix == "0755")
        #expect(result.configuration.key(named: "k")?.description == "yes")
    }

    /// Issue 19: `notify:` could not be set once for every policy file. A policy document
    /// with only `notify:` (in a file of its own) is the default for every key whose key or
    /// file sets none; a second such default is an error naming the first.
    @Test func aNotifyDefaultInItsOwnFileReachesEveryKeyWithoutOne() throws {
        let folder = try TemporaryFolder()
        try folder.write("policies/notify.yaml", "kind: RotationPolicy\nnotify:\n  - webhook: https://alerts.example/rotor\n")
        try folder.write("policies/a.yaml", """
            kind: RotationPolicy
            providers:
              local: { type: generate }
            keys:
              plain: { provider: local }
              own: { provider: local, notify: { webhook: https://own.example/hook } }
            """)
        try folder.write("policies/b.yaml", """
            kind: RotationPolicy
            notify: { webhook: https://team-b.example/hook }
            keys:
              team-b: { provider: local }
            """)
        let result = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["policies"])
        #expect(!result.diagnostics.hasErrors, "\(result.diagnostics.sorted)")
        let urls = { (key: String) in result.configuration.key(named: key)?.notify.map(\.url.source) ?? [] }
        #expect(urls("plain") == ["https://alerts.example/rotor"])
        #expect(urls("own") == ["https://own.example/hook"])
        #expect(urls("team-b") == ["https://team-b.example/hook"])

        try folder.write("policies/z.yaml", "kind: RotationPolicy\nnotify: { webhook: https://other.example/hook }\n")
        let twice = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["policies"])
        let error = try #require(twice.diagnostics.errors.first)
        #expect(error.message == "a second notify default for every key (the first is in policies/notify.yaml): keep one", "\(error.message)")
        #expect(error.location?.file == "policies/z.yaml" && error.location?.line == 2)
    }

    @Test func defaultFoldersAndMissingConfiguration() throws {
        let folder = try TemporaryFolder()
        let empty = ConfigurationLoader(workingDirectory: folder.path).load(paths: [])
        #expect(empty.diagnostics.errors.map(\.message) == ["no configuration found: there is no policies/ or consumers/ folder in \(folder.url.standardizedFileURL.path); pass --config PATH (a file or folder)"])
        try folder.write("policies/a.yml", "kind: RotationPolicy\nproviders: {g: {type: generate}}\nkeys: {k: {provider: g}}\n")
        try folder.write("consumers/nested/b.yaml", "kind: ConsumerManifest\nconsumers: {c: {uses: k, targets: [{env_file: .env, var: K}]}}\n")
        try folder.write("consumers/notes.txt", "not yaml")
        let loaded = ConfigurationLoader(workingDirectory: folder.path).load(paths: [])
        #expect(loaded.diagnostics.all.isEmpty)
        #expect(loaded.configuration.files == ["policies/a.yml", "consumers/nested/b.yaml"])
        #expect(loaded.configuration.consumers.first?.targets.first?.filePath == folder.url.appendingPathComponent("consumers/nested/.env").standardizedFileURL.path)
        let missing = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["nope.yaml"])
        #expect(missing.diagnostics.errors.map(\.message) == ["--config nope.yaml: no such file or folder"])
    }

    /// Paths inside the working folder are shown relative to it; a folder that only starts
    /// with the same letters is not inside it.
    @Test func displayPathsAreRelativeOnlyInsideTheWorkingFolder() {
        let loader = ConfigurationLoader(workingDirectory: "/srv/app")
        #expect(loader.displayPath("/srv/app/deploy/é/.env") == "deploy/é/.env")
        #expect(loader.displayPath("/srv/app2/.env") == "/srv/app2/.env")
        #expect(loader.displayPath("/srv/app") == "/srv/app")
        #expect(loader.displayPath("/srv/app/") == "/srv/app/")
        #expect(loader.displayPath("/etc/app.env") == "/etc/app.env")
        #expect(ConfigurationLoader(workingDirectory: "/").displayPath("/etc/app.env") == "etc/app.env")
    }

    /// A long list of consumers is decoded on every core: the consumers and every error
    /// come out as from one pass, in file order, from either share.
    @Test func aLongManifestDecodesInOrderWithEveryError() throws {
        let folder = try TemporaryFolder()
        try folder.write("p.yaml", "kind: RotationPolicy\nproviders: {g: {type: generate}}\nkeys: {k: {provider: g}}\n")
        var manifest = "kind: ConsumerManifest\nconsumers:\n"
        for index in 0..<1_200 {
            // Consumer 7 (first share) lacks 'uses'; consumer 1,100 (last share) misspells 'targets'.
            let uses = index == 7 ? "" : "    uses: k\n"
            let targets = index == 1_100 ? "targts" : "targets"
            manifest += "  c\(index):\n\(uses)    \(targets): [{env_file: .env, var: V\(index)}]\n"
        }
        try folder.write("m.yaml", manifest)
        let result = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["p.yaml", "m.yaml"])
        #expect(result.configuration.consumers.map(\.name.value) == (0..<1_200).filter { $0 != 7 && $0 != 1_100 }.map { "c\($0)" })
        #expect(result.diagnostics.errors.map { "\($0.location?.line ?? 0): \($0.message)" } == [
            "25: consumer 'c7' is missing the required field 'uses'",
            "3304: unknown field 'targts' in consumer 'c1100' (did you mean 'targets'?)",
        ])
    }

    /// The loader says which files several targets write: the only ones `plan` must check
    /// for repeats when it warns about world-readable files.
    @Test func filesWrittenBySeveralTargetsAreKnown() throws {
        let folder = try TemporaryFolder()
        try folder.write("p.yaml", "kind: RotationPolicy\nproviders: {g: {type: generate}}\nkeys: {k: {provider: g}, l: {provider: g}}\n")
        try folder.write("m.yaml", """
            kind: ConsumerManifest
            consumers:
              a: { uses: k, targets: [ { env_file: one.env, var: A }, { env_file: alone.env, var: A } ] }
              b: { uses: l, targets: [ { env_file: one.env, var: B } ] }
              c: { uses: k, targets: [ { env_file: same.env, var: S }, { json_file: c.json, pointer: /x } ] }
              d: { uses: k, targets: [ { env_file: same.env, var: S } ] }
            """)
        let result = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["p.yaml", "m.yaml"])
        #expect(result.diagnostics.errors.isEmpty)
        #expect(result.configuration.filesWithSeveralTargets == [folder.path + "/one.env", folder.path + "/same.env"])
        #expect(Configuration().filesWithSeveralTargets == nil)
    }

    /// Large manifests whose consumers are decoded while the file is parsed
    /// (`MappingEntryStream`), each with something that could trip that up.
    enum AheadCase: String, CaseIterable, Sendable {
        case errorsEverywhere, aliasedConsumer, twoManifestDocuments, notAManifestAfterAll, syntaxErrorAtTheEnd, sequenceOfConsumers
        case complexKeysFirst
    }

    static func consumers(_ range: Range<Int>, errors: Bool = false) -> String {
        range.map { index in
            guard errors else { return "  c\(index):\n    uses: k\n    targets: [{env_file: .env, var: V\(index)}]\n" }
            switch index {
            case 5, 900, 1_999: return "  c\(index):\n    targets: [{env_file: .env, var: V\(index)}]\n"
            case 10: return "  c10: 5\n"
            case 50, 51: return "  c50:\n    uses: k\n    targets: [{env_file: .env, var: V\(index)}]\n"
            case 700: return "  c700:\n    uses: k\n    targts: [{env_file: .env, var: V}]\n"
            case 1_500: return "  [c, 1500]:\n    uses: k\n    targets: [{env_file: .env, var: V\(index)}]\n"
            case _ where index % 97 == 3: return "  c\(index):\n    uses: k\n    targets: [{env_file: .env, var: 1V\(index)}]\n"
            default: return "  c\(index):\n    uses: k\n    targets: [{env_file: .env, var: V\(index)}]\n"
            }
        }.joined()
    }

    static func manifest(_ aheadCase: AheadCase) -> String {
        switch aheadCase {
        case .errorsEverywhere:
            return "kind: ConsumerManifest\nconsumers:\n" + consumers(0..<2_000, errors: true) + "extra: 1\n"
        case .aliasedConsumer:
            return "kind: ConsumerManifest\nconsumers:\n  c0: &base {uses: k, targets: [{env_file: .env, var: BASE}]}\n"
                + consumers(1..<1_500) + "  c1500: *base\n" + consumers(1_501..<2_000)
        case .twoManifestDocuments:
            return "kind: ConsumerManifest\nconsumers:\n" + consumers(0..<1_000) + "---\nconsumers:\n" + consumers(1_000..<3_000)
                + "kind: ConsumerManifest\n"
        case .notAManifestAfterAll:
            return "consumers:\n" + consumers(0..<2_000, errors: true) + "kind: RotationPolicy\n"
        case .syntaxErrorAtTheEnd:
            return "kind: ConsumerManifest\nconsumers:\n" + consumers(0..<2_000) + "  broken: [unclosed\n"
        case .complexKeysFirst:
            // A mapping as the first top-level key, then one as a later key: neither is a value.
            return "? {consumers: {c: {uses: k}}}\n: 1\nkind: ConsumerManifest\n? {x: 1}\n: 2\nconsumers:\n" + consumers(0..<2_000)
        case .sequenceOfConsumers:
            return "kind: ConsumerManifest\nconsumers:\n" + (0..<3_000).map { "  - {uses: k, targets: [{env_file: .env, var: V\($0)}]}\n" }.joined()
        }
    }

    /// Same consumers, same diagnostics (text, place, order) as decoding after the parse.
    @Test(arguments: AheadCase.allCases)
    func decodingConsumersAheadChangesNothing(_ aheadCase: AheadCase) throws {
        let folder = try TemporaryFolder()
        try folder.write("p.yaml", "kind: RotationPolicy\nproviders: {g: {type: generate}}\nkeys: {k: {provider: g}}\n")
        let manifest = Self.manifest(aheadCase)
        #expect(manifest.utf8.count >= 64 << 10 && ConfigurationLoader.mayListManyConsumers(Array(manifest.utf8)))
        try folder.write("m.yaml", manifest)
        var loader = ConfigurationLoader(workingDirectory: folder.path)
        loader.consumersAhead = .off
        let after = loader.load(paths: ["p.yaml", "m.yaml"])
        for way in [ConfigurationLoader.ConsumersAhead.whileParsing, .everyEntry] {
            loader.consumersAhead = way
            let ahead = loader.load(paths: ["p.yaml", "m.yaml"])
            #expect(ahead.configuration.consumers == after.configuration.consumers, "\(way)")
            #expect(ahead.diagnostics.all == after.diagnostics.all, "\(way)")
        }
        if aheadCase == .errorsEverywhere {
            #expect(after.configuration.consumers.count > 1_900)
            #expect(after.diagnostics.errors.count >= 8)
        }
    }

    /// What the parse publishes is decoded in file order and stands for the first entries
    /// of the finished `consumers` mapping.
    @Test func consumersDecodedAheadLeadTheFinishedMapping() throws {
        let bytes = Array(Self.manifest(.errorsEverywhere).utf8)
        let stream = MappingEntryStream(handsOutEveryBatch: true)
        let ahead = BackgroundWork { ManifestDecoder.decodeAhead(stream, file: "m.yaml", directory: "/tmp") }
        let loaded = YAMLLoader.load(bytes, publishingEntriesTo: stream)
        let decoded = try #require(ahead.result())
        let root = try #require(loaded.documents.first?.root)
        guard case .mapping(let entries) = root.content, let consumers = entries.first(where: { $0.key.scalarText == "consumers" })?.value else {
            Issue.record("no consumers mapping")
            return
        }
        #expect(decoded.entriesLead(consumers))
        #expect(decoded.entries.count == 2 * consumers.mappingEntryCount)
        // c5, c900, c1999 lack 'uses'; c700 'targets'; c10 is no mapping; [c, 1500] has no name.
        #expect(decoded.consumers.count == 2_000 - 6)
        #expect(decoded.diagnostics.errors.count >= 5 + 2_000 / 97)
        // A stream closed before anything was taken hands nothing out.
        let closed = MappingEntryStream()
        closed.close()
        #expect(closed.take() == nil)
    }
}
