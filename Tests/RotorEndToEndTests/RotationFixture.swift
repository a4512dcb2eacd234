import Foundation
import Testing
@testable import RotorCore

/// A scratch deployment for engine tests: five consumers of mixed target types (env, JSON,
/// YAML, INI, and an env file plus an exec secrets store), real reload commands, a health
/// check against a loopback HTTP server, and keys issued by a real vendor CLI process.
final class RotationFixture {
    static let initial = "initial-secret-0001"
    static let peers = RotorProcess.packageRoot.appendingPathComponent("Tests/RotorEndToEndTests/Peers")

    let scratch: Scratch
    let health: HealthServer
    var environment: [String: String]

    /// Every file target, relative to the scratch folder.
    static let targetFiles = ["deploy/c1/.env", "deploy/c2/config.json", "deploy/c3/values.yaml", "deploy/c4/credentials",
                              "deploy/c5/.env", "deploy/c5/store.txt"]

    init(healthPath: String = "/status/200", c2Reload: String = "[touch, ../deploy/c2/reloaded]", grace: String = "0s",
         confirmRevokedWithin: String = "0s") throws {
        scratch = try Scratch()
        health = try HealthServer()
        environment = ["VENDOR_DB": scratch.url.appendingPathComponent("vendor-db.json").path]
        let vendor = Self.peers.appendingPathComponent("vendor.py").path
        try scratch.write("policies/vendor.yaml", """
            kind: RotationPolicy
            \(Self.vendorProvider)
            keys:
              api-key:
                provider: vendor
                every: 30d
                grace: \(grace)
                confirm_revoked_within: \(confirmRevokedWithin)
                name: "{key}-{timestamp}"
                verify:
                  - exec: [python3, \(vendor), check]
                    stdin: "{secret}"
            """)
        try scratch.write("consumers/services.yaml", """
            kind: ConsumerManifest
            consumers:
              c1:
                uses: api-key
                targets:
                  - env_file: ../deploy/c1/.env
                    var: API_KEY
                reload: [touch, ../deploy/c1/reloaded]
                health: { http: { url: "http://127.0.0.1:\(health.port)\(healthPath)", expect: 200, timeout: 5s, retries: 1 } }
              c2:
                uses: api-key
                targets:
                  - json_file: ../deploy/c2/config.json
                    pointer: /auth/apiKey
                reload: \(c2Reload)
                health: { exec: [test, -f, ../deploy/c2/reloaded] }
              c3:
                uses: api-key
                targets:
                  - yaml_file: ../deploy/c3/values.yaml
                    path: auth.apiKey
              c4:
                uses: api-key
                targets:
                  - ini_file: ../deploy/c4/credentials
                    section: svc
                    key: api_key
              c5:
                uses: api-key
                targets:
                  - env_file: ../deploy/c5/.env
                    var: API_KEY
                  - exec: [python3, \(vendor), put, ../deploy/c5/store.txt]
                    stdin: "{secret}"
                    read: [python3, \(vendor), get, ../deploy/c5/store.txt]
                reload: [touch, ../deploy/c5/reloaded]
            """)
        try scratch.write("deploy/c1/.env", "# c1\nexport API_KEY='\(Self.initial)' # rotated by rotor\r\nOTHER=1\n")
        try scratch.write("deploy/c2/config.json", "{\n  \"name\": \"c2\",\n  \"auth\": {\"apiKey\": \"\(Self.initial)\", \"region\": \"eu\"}\n}\n")
        try scratch.write("deploy/c3/values.yaml", "replicas: 2\nauth:\n  apiKey: \"\(Self.initial)\"  # rotated by rotor\n  model: base\n")
        try scratch.write("deploy/c4/credentials", "[default]\nregion = eu\n\n[svc]\napi_key = \(Self.initial)\n")
        try scratch.write("deploy/c5/.env", "API_KEY=\(Self.initial)\n")
        try scratch.write("deploy/c5/store.txt", Self.initial)
    }

    @discardableResult
    func rotor(_ arguments: [String], environment extra: [String: String] = [:]) throws -> RotorProcess.Result {
        try RotorProcess.run(arguments, in: scratch.url, environment: environment.merging(extra) { $1 })
    }

    /// `providers:` with the `vendor` exec provider (`Peers/vendor.py`, keys in `$VENDOR_DB`).
    static var vendorProvider: String {
        let vendor = peers.appendingPathComponent("vendor.py").path
        return """
            providers:
              vendor:
                type: exec
                create: [python3, \(vendor), create, "{name}"]
                id: /AccessKey/AccessKeyId
                secret: /AccessKey/SecretAccessKey
                delete: [python3, \(vendor), delete, "{id}"]
                list: { command: [python3, \(vendor), list], items: /keys, id: /id, name: /name }
                timeout: 4s    # recovery after a crash during a create waits this out
            """
    }

    func snapshot() throws -> [String: Data] {
        Dictionary(uniqueKeysWithValues: try Self.targetFiles.map { ($0, try scratch.bytes($0)) })
    }

    /// The value each target holds, read by independent readers and checked against
    /// rotor's own (a bug shared by rotor's reader and writer cannot pass unseen).
    func values() throws -> [String] {
        let independent = try independentValues()
        #expect(try rotorValues() == independent, "rotor's readers disagree with independent ones")
        return independent
    }

    /// The value each target holds, read as rotor's formats read it.
    func rotorValues() throws -> [String] {
        let text = { (path: String) in String(decoding: try self.scratch.bytes(path), as: UTF8.self) }
        return [
            try EnvFileFormat(variable: "API_KEY").read(Array(try scratch.bytes("deploy/c1/.env"))).get(),
            try JSONFileFormat(pointer: JSONPointer("/auth/apiKey")!).read(Array(try scratch.bytes("deploy/c2/config.json"))).get(),
            try YAMLFileFormat(keyPath: ["auth", "apiKey"]).read(Array(try scratch.bytes("deploy/c3/values.yaml"))).get(),
            try INIFileFormat(section: "svc", key: "api_key").read(Array(try scratch.bytes("deploy/c4/credentials"))).get(),
            try EnvFileFormat(variable: "API_KEY").read(Array(try scratch.bytes("deploy/c5/.env"))).get(),
            try text("deploy/c5/store.txt"),
        ]
    }

    /// The value each target holds, read by readers that share no code with rotor
    /// (`Peers/read_targets.py`: python-dotenv, json, PyYAML, configparser): a bug shared by
    /// rotor's reader and writer cannot pass unseen. Every file must parse.
    func independentValues() throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.peers.appendingPathComponent("read_targets.py").path, scratch.url.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let values = try JSONSerialization.jsonObject(with: data) as? [String] else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "a target does not parse: \(String(decoding: data, as: UTF8.self))"])
        }
        return values
    }

    /// Key ids the vendor holds now.
    func vendorKeys() throws -> [String] {
        guard let data = try? Data(contentsOf: scratch.url.appendingPathComponent("vendor-db.json")) else { return [] }
        let db = try JSONSerialization.jsonObject(with: data) as? [String: [[String: String]]]
        return (db?["keys"] ?? []).compactMap { $0["id"] }
    }

    /// The state's current generation, through the state store.
    func currentGeneration() throws -> GenerationRecord? {
        try StateStoreURL.open(nil, workingDirectory: scratch.url.path, createIfMissing: false)?.store.keyStates()["api-key"]?.current
    }

    /// Files left that should not be: temporary files anywhere, backups after a finished run.
    func leftovers() throws -> [String] {
        let all = try FileManager.default.subpathsOfDirectory(atPath: scratch.url.path)
        return all.filter { $0.contains(".rotor-tmp-") || ($0.hasPrefix(".rotor/backups/") && $0.split(separator: "/").count > 3) }
    }
}

/// A loopback HTTP server from `Peers/` (health checks and webhooks, or a key-management
/// API), stopped when the value goes away.
final class HealthServer {
    let process = Process()
    let port: Int
    let log: URL
    private let input = Pipe()

    init(script: String = "health_server.py", arguments extra: [String] = []) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-health-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let portFile = folder.appendingPathComponent("port")
        log = folder.appendingPathComponent("requests.log")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", RotationFixture.peers.appendingPathComponent(script).path, portFile.path, log.path] + extra
        process.standardInput = input
        try process.run()
        for _ in 0..<200 {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) {
                self.port = port
                return
            }
            usleep(25_000)
        }
        process.terminate()
        throw CocoaError(.fileReadNoSuchFile)
    }

    var requests: [String] { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    /// Ends the peer: end of input, then TERM, then — should it still run after 5 s (a
    /// copy of its input pipe kept open by a sibling, signals blocked) — KILL.
    deinit {
        try? input.fileHandleForWriting.close()
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
