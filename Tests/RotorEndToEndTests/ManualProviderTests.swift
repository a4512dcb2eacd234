import Foundation
import Testing
@testable import RotorCore

/// The seed's case: a key only a person can create in a web console.
@Suite(.serialized) struct ManualProviderTests {
    func scratch(verifyStatus: Int = 200, health: HealthServer) throws -> Scratch {
        let scratch = try Scratch()
        try scratch.write("policies/skytells.yaml", """
            kind: RotationPolicy
            providers:
              skytells-console:
                type: manual
                instructions: "Skytells Console > Settings > API Keys > Generate New API Key"
            keys:
              skytells-prod:
                provider: skytells-console
                every: 90d
                grace: 0s
                name: "data-pipeline-prod-{date}"
                verify:
                  - http: { url: "http://127.0.0.1:\(health.port)/status/\(verifyStatus)", headers: { Authorization: "Bearer {secret}" } }
            """)
        try scratch.write("consumers/c.yaml", """
            kind: ConsumerManifest
            consumers:
              data-pipeline-prod:
                uses: skytells-prod
                targets:
                  - env_file: ../deploy/.env
                    var: SKYTELLS_API_KEY
                  - json_file: ../deploy/config.json
                    pointer: /skytells/apiKey
            """)
        try scratch.write("deploy/.env", "SKYTELLS_API_KEY=sk-old-0000\n")
        try scratch.write("deploy/config.json", "{\"skytells\": {\"apiKey\": \"sk-old-0000\"}}\n")
        return scratch
    }

    /// From now on the console refuses `secret` (a person deleted it there): the verify
    /// check answers 401 for it.
    func refuse(_ secrets: String..., in scratch: Scratch) throws {
        let policy = try String(decoding: scratch.bytes("policies/skytells.yaml"), as: UTF8.self)
        let deleted = secrets.map { String(Fingerprint.of("Bearer \($0)").dropFirst("sha256:".count)) }.joined(separator: ",")
        try scratch.write("policies/skytells.yaml", policy.replacingOccurrences(of: "/status/200", with: "/reject/\(deleted)/200"))
    }

    func value(_ scratch: Scratch) throws -> String {
        try EnvFileFormat(variable: "SKYTELLS_API_KEY").read(Array(scratch.bytes("deploy/.env"))).get()
    }

    @Test func theSecretOnStdinThenSecretEnvWithAndWithoutYes() throws {
        let health = try HealthServer()
        let scratch = try scratch(health: health)
        let first = try RotorProcess.run(["rotate", "skytells-prod"], in: scratch.url, stdin: "sk-first-secret-1111\n")
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(first.stderr.contains("Create the new key: Skytells Console > Settings > API Keys > Generate New API Key — name it 'data-pipeline-prod-"))
        #expect(try value(scratch) == "sk-first-secret-1111")
        let sentKey = "auth=" + Fingerprint.of("Bearer sk-first-secret-1111")
        #expect(health.requests.contains { $0.hasPrefix("GET /status/200") && $0.hasSuffix(sentKey) }, "verify ran with the new key: \(health.requests)")

        // Second rotation, same day: a distinct name, and the old key's deletion needs a person.
        let second = try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "NEW_KEY"], in: scratch.url, environment: ["NEW_KEY": "sk-second-secret-2222"])
        #expect(second.status == 3)
        #expect(second.stderr.contains("Delete the key 'data-pipeline-prod-"))
        #expect(second.stdout.contains("waits for a person to delete it"))
        #expect(try value(scratch) == "sk-second-secret-2222")
        let pending = try #require(try StateStoreURL.open(nil, workingDirectory: scratch.url.path)?.store.keyStates()["skytells-prod"])
        #expect(pending.previous != nil && pending.current?.id != pending.previous?.id)

        // With --yes the person confirms: the old key is gone from the state. The console
        // refuses the keys the person deleted (confirm-revoked tries both: the second, and
        // the first, still pending — its value known from the backups its run kept).
        try refuse("sk-first-secret-1111", "sk-second-secret-2222", in: scratch)
        let third = try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "NEW_KEY", "--yes"], in: scratch.url, environment: ["NEW_KEY": "sk-third-secret-3333"])
        #expect(third.status == 0, "\(third.stdout)\(third.stderr)")
        #expect(!third.stdout.contains("sk-third") && !third.stderr.contains("sk-third"))
        #expect(third.stdout.contains("and its key rejected"), "\(third.stdout)")
    }

    @Test func verifyRunsBeforeAnyConsumerIsTouched() throws {
        let health = try HealthServer()
        let scratch = try scratch(verifyStatus: 401, health: health)
        let result = try RotorProcess.run(["rotate", "skytells-prod"], in: scratch.url, stdin: "sk-mistyped-secret\n")
        // The key the person created exists in the console: deleting it is their job (exit 3).
        #expect(result.status == 3)
        #expect(result.stdout.contains("verify-key failed: GET http://127.0.0.1:\(health.port)/status/401: answered 401, expected 200"))
        #expect(result.stdout.contains("left to do: delete the new generation data-pipeline-prod-"))
        // Found by a reviewer (#18): the prompt called the key just made "the old key".
        #expect(!result.stderr.contains("old key"), "\(result.stderr)")
        #expect(result.stderr.contains("Delete the key 'data-pipeline-prod-"), "\(result.stderr)")
        #expect(try value(scratch) == "sk-old-0000")
    }

    @Test func cronCannotCreateAManualKeyAndSaysWhatToDo() throws {
        let health = try HealthServer()
        let scratch = try scratch(health: health)
        let result = try RotorProcess.run(["run"], in: scratch.url)
        #expect(result.status == 1)
        #expect(result.stdout.contains("this key is issued by hand (Skytells Console > Settings > API Keys > Generate New API Key): a person must run 'rotor rotate KEY' with the new secret on stdin or --secret-env VAR"))
        #expect(try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "UNSET_VAR"], in: scratch.url).stdout.contains("--secret-env UNSET_VAR: the variable is not set or empty"))
        #expect(try value(scratch) == "sk-old-0000")
    }

    /// A person pastes the secret at the terminal's prompt: the terminal never shows it
    /// (echo is off before the prompt appears), and it reaches the targets.
    @Test func aSecretTypedAtTheTerminalIsNotShown() throws {
        let health = try HealthServer()
        let scratch = try scratch(health: health)
        let secret = "sk-typed-at-the-prompt-7777"
        let result = try RotorProcess.run(["python3", RotationFixture.peers.appendingPathComponent("type_at_prompt.py").path,
                                           "Paste the new secret", secret, RotorProcess.binary.path, "rotate", "skytells-prod", "--yes"],
                                          in: scratch.url, executable: URL(fileURLWithPath: "/usr/bin/env"))
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("Paste the new secret (it is not shown): "), "the transcript: \(result.stdout)")
        #expect(!result.stdout.contains(secret), "the terminal showed the secret: \(result.stdout)")
        #expect(try value(scratch) == secret)
    }

    /// Ctrl-C at the secret prompt ends the wait at once: nothing was created or changed,
    /// the lock is released, and the terminal echoes again (issue 17, item 7: it was left
    /// without echo).
    @Test func ctrlCAtThePromptStopsCleanlyAndRestoresTheEcho() throws {
        let health = try HealthServer()
        let scratch = try scratch(health: health)
        let result = try RotorProcess.run(["python3", RotationFixture.peers.appendingPathComponent("type_at_prompt.py").path,
                                           "Paste the new secret", "^C", RotorProcess.binary.path, "rotate", "skytells-prod", "--yes"],
                                          in: scratch.url, executable: URL(fileURLWithPath: "/usr/bin/env"))
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("stopped by a signal at the prompt"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("echo: on\n"), "the terminal echoes again: \(result.stdout.suffix(200))")
        #expect(try value(scratch) == "sk-old-0000")
        #expect(try RotorProcess.run(["recover"], in: scratch.url).stdout == "nothing to recover\n")
    }
}
