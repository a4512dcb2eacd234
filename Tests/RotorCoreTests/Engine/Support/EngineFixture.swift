import Foundation
import Testing
@testable import RotorCore

/// One key (`api`) of a scripted provider, two consumers with three targets in real
/// files of a temporary folder, an in-memory store and an engine over them.
///
/// `web` holds the secret and the id in `web.env`; its health check fails while the file
/// holds a `canary-` secret when `healthRejectsNewKey` is set. `worker` holds the secret
/// in `worker.json`.
final class EngineFixture: @unchecked Sendable {
    let folder: TemporaryFolder
    let store = InMemoryStateStore()
    let provider = ScriptedProvider()
    let configuration: Configuration
    private(set) var progressLines: [String] = []
    private let progressLock = NSLock()
    let now = ISO8601DateFormatter().date(from: "2026-11-30T09:00:00Z")!

    static let oldSecret = "old-secret-0001"

    struct Options {
        var grace = "0s"
        var healthRejectsNewKey = false
        /// Shell run first in that health check.
        var healthAlso = ""
        var verifyPasses = true
        var maxGenerations = 3
        var deleteInactiveWhenFull = true
    }

    init(_ options: Options = Options()) throws {
        folder = try TemporaryFolder()
        let verify = options.verifyPasses ? "" : "    verify:\n      - exec: [\"false\"]\n"
        let health = options.healthRejectsNewKey ? "    health: { exec: [sh, -c, \"\(options.healthAlso)! grep -q canary web.env\"] }\n" : ""
        try folder.write("rotor.yaml", """
            kind: RotationPolicy
            providers:
              vendor:
                type: exec
                create: [vendor-cli, create]
                id: /id
                secret: /secret
                delete: [vendor-cli, delete, "{id}"]
                list: { command: [vendor-cli, list], items: /keys, id: /id, name: /name, status: /status }
                max_generations: \(options.maxGenerations)
                delete_inactive_when_full: \(options.deleteInactiveWhenFull)
            keys:
              api:
                provider: vendor
                every: 30d
                grace: \(options.grace)
            \(verify)---
            kind: ConsumerManifest
            consumers:
              web:
                uses: api
                targets:
                  - env_file: web.env
                    var: API_KEY
                  - env_file: web.env
                    var: API_KEY_ID
                    value: "{id}"
            \(health)  worker:
                uses: api
                targets:
                  - json_file: worker.json
                    pointer: /api/key

            """)
        try folder.write("web.env", "# web\nAPI_KEY=\(Self.oldSecret)\nAPI_KEY_ID=key-0\n")
        try folder.write("worker.json", "{\n  \"api\": { \"key\": \"\(Self.oldSecret)\" }\n}\n")
        let result = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["rotor.yaml"])
        #expect(!result.diagnostics.hasErrors, "\(result.diagnostics.all.map(\.message))")
        configuration = result.configuration
        provider.seed(id: "key-0", name: "api-old", secret: Self.oldSecret)
        try store.saveKeyState(KeyState(current: old), for: "api")
    }

    /// The generation in use before each test's rotation.
    var old: GenerationRecord {
        GenerationRecord(id: "key-0", fingerprint: Fingerprint.of(Self.oldSecret), created: now.addingTimeInterval(-40 * 86_400))
    }

    func engine() -> RotationEngine {
        let provider = self.provider
        let now = self.now
        return RotationEngine(configuration: configuration, store: store, backupsRoot: folder.path + "/.rotor/backups",
                              progress: { [weak self] line in self?.told(line) }, targetProgress: nil, clock: { now },
                              displayPath: { $0 }, manualInput: ManualInput(),
                              makeProvider: { _, _, _ in provider }, lostCreatePauses: [0.01], lostCreateWaitLimit: 0.01)
    }

    private func told(_ line: String) { progressLock.withLock { progressLines.append(line) } }

    func rotate(_ options: RotationOptions = RotationOptions()) async -> RotationReport {
        await engine().rotate("api", options: options)
    }

    /// The bytes of every target file, to compare before and after.
    func targetBytes() throws -> [String: Data] {
        try ["web.env", "worker.json"].reduce(into: [:]) { $0[$1] = try Data(contentsOf: folder.url.appendingPathComponent($1)) }
    }

    func text(_ file: String) throws -> String { try folder.read(file) }

    /// The run's journal as `step.phase` labels.
    func journal(_ report: RotationReport) throws -> [String] {
        try store.labels(of: try #require(report.runID))
    }

    var backupFolders: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: folder.path + "/.rotor/backups")) ?? []
    }

    /// Which secret every target holds: "old", "new" (the given one) or the value itself.
    func holders(new: String?) throws -> [String] {
        let web = try text("web.env"), worker = try text("worker.json")
        func which(_ text: String) -> String {
            if let new, text.contains(new) { return "new" }
            return text.contains(Self.oldSecret) ? "old" : "neither"
        }
        return [which(web), which(worker)]
    }
}
