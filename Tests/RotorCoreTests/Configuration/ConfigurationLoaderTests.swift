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
}
