import Foundation
import Testing
@testable import RotorCore

/// Issue #18: providers never keep a key rotor does not use, and no value rotor knows is
/// ever echoed — whatever its shape — through stdout, `--json`, the state store, the
/// journal, the audit log, a webhook body or a file left behind.
@Suite(.serialized) struct ProviderSecretsTests {
    /// An exec vendor CLI with `list`, one key with a verify check, one env-file consumer
    /// and a webhook that records every body it gets.
    final class Setup {
        let scratch = try! Scratch()
        let webhook: HealthServer
        var environment: [String: String]
        static let vendor = RotationFixture.peers.appendingPathComponent("vendor.py").path

        init(shape: String = "", canList: Bool = true) throws {
            webhook = try HealthServer()
            environment = ["VENDOR_DB": scratch.url.appendingPathComponent("vendor-db.json").path, "VENDOR_SECRET_SHAPE": shape]
            let provider = RotationFixture.vendorProvider.split(separator: "\n").filter { canList || !$0.contains("list:") }.joined(separator: "\n")
            try scratch.write("policies/vendor.yaml", """
                kind: RotationPolicy
                \(provider)
                keys:
                  api-key:
                    provider: vendor
                    every: 30d
                    confirm_revoked_within: 0s
                    name: "{key}-{timestamp}"
                    verify:
                      - exec: [python3, \(Self.vendor), check]
                        stdin: "{secret}"
                    notify:
                      - webhook: http://127.0.0.1:\(webhook.port)/hook
                """)
            try ProviderSecretsTests.writeApp(scratch, uses: "api-key", value: "initial-value-0001")
            try scratch.startStateStore()
        }

        func rotor(_ arguments: [String], _ extra: [String: String] = [:]) throws -> RotorProcess.Result {
            try RotorProcess.run(arguments, in: scratch.url, environment: environment.merging(extra) { $1 })
        }

        /// Every secret the vendor holds now.
        func vendorSecrets() throws -> [String] {
            let data = try scratch.bytes("vendor-db.json")
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            return (json["keys"] as? [[String: Any]] ?? []).compactMap { $0["secret"] as? String }
        }

        func vendorIDs() throws -> [String] {
            let json = try JSONSerialization.jsonObject(with: try scratch.bytes("vendor-db.json")) as? [String: Any]
            return (json?["keys"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
    }

    /// Found by a reviewer: a vendor CLI whose delete fails saying `cannot delete ID (secret S)`
    /// put S — the new key's (deleting N after a failed verify) or the old key's (deleting O
    /// after success) — into stdout, `--json` `left`, the journal, the audit log and the
    /// webhook body, whenever S had no credential shape: short, 40 hex digits, words.
    @Test(arguments: ["short", "hex", "spaced"])
    func aSecretAVendorEchoesIsMaskedEverywhere(shape: String) throws {
        let setup = try Setup(shape: shape)
        var outputs: [String] = [], values: Set<String> = []
        func run(_ arguments: [String], _ extra: [String: String] = [:]) throws -> Int32 {
            let result = try setup.rotor(arguments, extra)
            outputs += [result.stdout, result.stderr]
            values.formUnion(try setup.vendorSecrets())
            return result.status
        }
        let echo = ["VENDOR_ECHO_SECRET": "1"]
        #expect(try run(["rotate", "api-key"]) == 0)
        // verify-key fails; the new key's deletion fails and echoes the new key.
        #expect(try run(["rotate", "api-key", "--json"], echo.merging(["VENDOR_FAIL": "check,delete"]) { $1 }) == 3)
        // The old key's deletion fails and echoes the old key (read from the target).
        #expect(try run(["rotate", "api-key", "--json"], echo.merging(["VENDOR_FAIL": "delete"]) { $1 }) == 3)
        // Its deletion fails again in the next run, which knows it only from the backups.
        #expect(try run(["rotate", "api-key", "--json"], echo.merging(["VENDOR_FAIL": "delete"]) { $1 }) == 1)
        #expect(try run(["run", "--json"]) == 0)
        for arguments in [["history", "--json"], ["history", "--verify"], ["status", "--json"], ["recover", "--json"]] { _ = try run(arguments) }
        #expect(values.count >= 3, "the vendor issued the values this test looks for: \(values.count)")
        #expect(outputs.contains { $0.contains("(secret [REDACTED])") }, "the echo reached rotor and was masked: \(outputs)")

        let scan = LeakScan(secrets: Array(values))
        scan.check(outputs)
        let webhook = setup.webhook.requests.filter { $0.hasPrefix("POST /hook") }
        #expect(webhook.count >= 3, "every rotation was notified: \(webhook)")
        scan.check(webhook)
        // The state store (journal, audit log, runs, with its WAL), backups and anything
        // else rotor left: only the target and the vendor's database may hold a value.
        try scan.check(folder: setup.scratch.url, allowed: ["deploy/.env", "vendor-db.json"])
    }

    /// Found by a reviewer: a vendor CLI that made the key and then exited 1 was reported
    /// as "nothing was created", and the key stayed live.
    @Test func anExecCreateThatFailsAfterActingLeavesNoKey() throws {
        let setup = try Setup()
        let result = try setup.rotor(["rotate", "api-key"], ["VENDOR_FAIL": "create-after"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("nothing was created"), "\(result.stdout)")
        #expect(result.stdout.contains("was found by name and deleted"), "\(result.stdout)")
        #expect(try setup.vendorIDs().isEmpty, "no orphan at the vendor")
        #expect(try String(decoding: setup.scratch.bytes("deploy/.env"), as: UTF8.self) == "API_KEY=initial-value-0001\n")
    }

    /// Found by an attacker: a CLI that made the key and then exited 127 (a wrapper whose
    /// helper is missing) was taken for one that never ran.
    @Test func aCreateThatExits127AfterActingIsLookedUp() throws {
        let setup = try Setup()
        let result = try setup.rotor(["rotate", "api-key"], ["VENDOR_FAIL": "create-after", "VENDOR_EXIT": "127"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("was found by name and deleted"), "\(result.stdout)")
        #expect(try setup.vendorIDs().isEmpty)
    }

    /// Found by an attacker: rotor SIGKILLed during a slow exec create; `recover` waited
    /// out the deadline and looked, but the CLI — in its own process group, orphaned — kept
    /// running and made the key afterwards. Recovery stops it first.
    @Test func recoveryStopsACreateCommandThatOutlivedRotor() throws {
        let setup = try Setup()
        let pidFile = setup.scratch.url.appendingPathComponent("cli.pid").path
        let process = Process()
        process.executableURL = RotorProcess.binary
        process.arguments = ["rotate", "api-key"]
        process.currentDirectoryURL = setup.scratch.url
        process.environment = ProcessInfo.processInfo.environment.merging(setup.environment) { $1 }
            .merging(["VENDOR_CREATE_DELAY": "30", "VENDOR_PID_FILE": pidFile]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var cli: pid_t = 0
        for _ in 0..<400 where cli == 0 {
            cli = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { pid_t($0) } ?? 0
            usleep(25_000)
        }
        #expect(cli > 0, "the vendor CLI started")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(kill(cli, 0) == 0, "the CLI outlives rotor")
        let result = try setup.rotor(["recover"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("stopped 1 process of the create"), "\(result.stderr)")
        // Gone, or a zombie nobody reaps (the CLI's parent was rotor): either acts no more.
        let state = (try? String(contentsOfFile: "/proc/\(cli)/stat", encoding: .utf8))?.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).first
        #expect(state == nil || state == "Z", "recover stopped the CLI before looking: state \(String(describing: state))")
        let made = FileManager.default.fileExists(atPath: setup.scratch.url.appendingPathComponent("vendor-db.json").path) ? try setup.vendorIDs() : []
        #expect(made.isEmpty, "no key was made: \(made)")
    }

    /// With no `list`, rotor cannot tell whether the failed create made a key: it says what a
    /// person must check, and exits 3 — never "nothing was created".
    @Test func aFailedCreateAtAProviderThatCannotListNeedsAPerson() throws {
        let setup = try Setup(canList: false)
        let result = try setup.rotor(["rotate", "api-key"], ["VENDOR_FAIL": "create-after"])
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("may exist at provider 'vendor'"), "\(result.stdout)")
        #expect(result.stdout.contains("delete it there"), "\(result.stdout)")
        #expect(try setup.vendorIDs().count == 1, "the vendor did make one: the person is told to look")
    }

    /// A CLI that is not installed made nothing: that failure stays an ordinary one.
    @Test func aCreateCommandThatCannotStartMadeNothing() throws {
        let setup = try Setup(canList: false)
        let policy = try String(decoding: setup.scratch.bytes("policies/vendor.yaml"), as: UTF8.self)
        try setup.scratch.write("policies/vendor.yaml", policy.replacingOccurrences(of: "create: [python3,", with: "create: [./no-such-cli,"))
        let result = try setup.rotor(["rotate", "api-key"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("nothing was created or changed") || result.stdout.contains("not installed"), "\(result.stdout)")
    }

    // MARK: Tokens reach provider commands only

    /// An exec provider's `token_env` reaches its own commands and no other: a reload
    /// neither inherits it nor reads it in rotor's `/proc/$PPID/environ`.
    @Test func anExecProvidersTokensReachOnlyItsCommands() throws {
        let setup = try Setup()
        let token = "vendor-account-token-5d1e7c"
        let policy = try String(decoding: setup.scratch.bytes("policies/vendor.yaml"), as: UTF8.self)
        try setup.scratch.write("policies/vendor.yaml", policy.replacingOccurrences(of: "    type: exec\n", with: "    type: exec\n    token_env: [VENDOR_TOKEN]\n"))
        let manifest = try String(decoding: setup.scratch.bytes("consumers/app.yaml"), as: UTF8.self)
        try setup.scratch.write("consumers/app.yaml", manifest + "\n    reload: [python3, \(RotationFixture.peers.path)/dump_environment.py, ../deploy/seen]\n")
        let result = try setup.rotor(["rotate", "api-key"], ["VENDOR_TOKEN": token, "VENDOR_REQUIRE_TOKEN": "VENDOR_TOKEN", "UNRELATED_VARIABLE": "kept"])
        #expect(result.status == 0, "the provider's commands got the token: \(result.stdout)\(result.stderr)")
        let seen = String(decoding: try setup.scratch.bytes("deploy/seen"), as: UTF8.self)
        #expect(seen.contains("UNRELATED_VARIABLE") && seen.contains("parent:"), "\(seen)")
        #expect(!seen.contains(token), "\(seen)")
    }

    /// Found by a reviewer: the manual key's `--secret-env` variable reached every reload
    /// and health command.
    @Test func aManualKeysSecretEnvReachesNoCommand() throws {
        let dump = "[python3, \(RotationFixture.peers.path)/dump_environment.py, ../deploy/seen]"
        let scratch = try Self.manualScene(consumerExtras: "reload: \(dump)\nhealth: { exec: \(dump) }")
        let secret = "console-secret-9b7f1e2a"
        let result = try RotorProcess.run(["rotate", "console-key", "--secret-env", "NEW_CONSOLE_KEY", "--yes"], in: scratch.url,
                                          environment: ["NEW_CONSOLE_KEY": secret, "UNRELATED_VARIABLE": "kept"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let seen = String(decoding: try scratch.bytes("deploy/seen"), as: UTF8.self)
        #expect(seen.components(separatedBy: "own:").count == 3, "the reload and the health check both looked: \(seen)")
        #expect(seen.contains("UNRELATED_VARIABLE"), "\(seen)")
        #expect(!seen.contains(secret), "\(seen)")
        // (rotor's own environ keeps the variable's name, its value zeroed.)
        #expect(!seen.split(separator: "\n").filter { $0.hasPrefix("own:") }.contains { $0.contains("NEW_CONSOLE_KEY") }, "\(seen)")
        #expect(try String(decoding: scratch.bytes("deploy/.env"), as: UTF8.self) == "API_KEY=\(secret)\n")
    }

    // MARK: From the attack on #18

    /// Found by an attacker: a verify command that printed the secret URL-encoded, base64 or
    /// as Python's JSON (`\u00e9`, `\/`) leaked it everywhere — those are the forms an
    /// echo takes by accident (a logged request, an Authorization header, a config dump).
    @Test func encodedFormsOfAKnownSecretAreMasked() throws {
        let webhook = try HealthServer()
        let scratch = try Self.manualScene(keyExtras: """
            verify:
              - exec: [python3, -c, "import sys,json,base64,urllib.parse as u; s=sys.stdin.read(); print('rejected', u.quote(s, safe=''), u.quote_plus(s), base64.b64encode(s.encode()).decode(), json.dumps(s), json.dumps(s).replace('/', '\\\\/'), file=sys.stderr); sys.exit(1)"]
                stdin: "{secret}"
            notify:
              - webhook: http://127.0.0.1:\(webhook.port)/hook
            """)
        let secret = "pé/s+w:rd x&y=z?é~"
        var outputs: [String] = []
        for arguments in [["rotate", "console-key", "--secret-env", "NEW_KEY", "--yes", "--json"], ["history", "--json"], ["history"]] {
            let result = try RotorProcess.run(arguments, in: scratch.url, environment: ["NEW_KEY": secret])
            outputs += [result.stdout, result.stderr]
        }
        #expect(outputs[0].contains("verify-key failed"), "\(outputs[0])")
        #expect(outputs[0].contains("rejected [REDACTED] [REDACTED] [REDACTED]"), "\(outputs[0])")
        let scan = LeakScan(secrets: [secret])
        scan.check(outputs + webhook.requests)
        try scan.check(folder: scratch.url)
    }

    /// Found by a reviewer: a CLI that printed its answer and then failed had handed over a
    /// live key whose value rotor never learned — and quoted it in its error.
    @Test func aFailedCreatesPrintedAnswerIsKnownToTheRedactor() throws {
        let setup = try Setup(shape: "spaced", canList: false)
        let result = try setup.rotor(["rotate", "api-key", "--json"], ["VENDOR_FAIL": "create-after", "VENDOR_ECHO_SECRET": "1"])
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("for key [REDACTED]"), "\(result.stdout)")
        let scan = LeakScan(secrets: try setup.vendorSecrets())
        scan.check([result.stdout, result.stderr] + setup.webhook.requests)
        try scan.check(folder: setup.scratch.url, allowed: ["vendor-db.json"])
    }

    /// Found by an attacker: a vendor whose id embeds the key had it stored raw in the
    /// state, the journal and the audit log. Such a generation is deleted at once.
    @Test func anIDHoldingTheSecretIsNeverStored() throws {
        let setup = try Setup()
        let result = try setup.rotor(["rotate", "api-key", "--json"], ["VENDOR_ID_HOLDS_SECRET": "1"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("contains its secret"), "\(result.stdout)")
        #expect(try setup.vendorIDs().isEmpty, "deleted at once")
        // The vendor DB is empty now: the canary is the vendor's secret prefix.
        let scan = LeakScan(secrets: ["vk-"])
        for arguments in [["history", "--json"], ["status", "--json"]] {
            let shown = try setup.rotor(arguments)
            scan.check([shown.stdout, shown.stderr])
        }
        scan.check([result.stdout, result.stderr])
        try scan.check(folder: setup.scratch.url.appendingPathComponent(".rotor"))
    }

    // MARK: From the second attack on #18

    /// A list whose items carry no name cannot clear a lost create: exit 3, never "none".
    @Test func aListWithoutNamesCannotClearALostCreate() throws {
        let setup = try Setup()
        let result = try setup.rotor(["rotate", "api-key"], ["VENDOR_FAIL": "create-after", "VENDOR_LIST_NO_NAMES": "1"])
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("may exist at provider 'vendor'"), "\(result.stdout)")
    }

    /// An id holding its secret base64-encoded is refused like one holding it as is.
    @Test func anIDHoldingTheSecretEncodedIsNeverStored() throws {
        let setup = try Setup()
        let result = try setup.rotor(["rotate", "api-key"], ["VENDOR_ID_HOLDS_SECRET": "base64"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("contains its secret"), "\(result.stdout)")
        #expect(try setup.vendorIDs().isEmpty)
        let status = try setup.rotor(["status", "--json"])
        #expect(!status.stdout.contains("AK-"), "\(status.stdout)")
    }

    /// A manual key `console-key` with one env-file consumer `app` (deploy/.env); the
    /// extras are YAML lines added to the key and to the consumer.
    static func manualScene(keyExtras: String = "", consumerExtras: String = "") throws -> Scratch {
        let scratch = try Scratch()
        func indented(_ lines: String, _ by: Int) -> String {
            lines.split(separator: "\n").map { String(repeating: " ", count: by) + $0 }.joined(separator: "\n")
        }
        try scratch.write("policies/console.yaml", """
            kind: RotationPolicy
            providers:
              console: { type: manual, instructions: "Console > API Keys > Generate" }
            keys:
              console-key:
                provider: console
                every: 30d
            \(indented(keyExtras, 4))
            """)
        try writeApp(scratch, uses: "console-key", value: "before-0001", extras: indented(consumerExtras, 4))
        return scratch
    }

    /// One consumer `app` of `key`, its env file `deploy/.env` holding `value`; `extras`:
    /// YAML lines of the consumer (indented to its fields).
    static func writeApp(_ scratch: Scratch, uses key: String, value: String, extras: String = "") throws {
        try scratch.write("consumers/app.yaml", """
            kind: ConsumerManifest
            consumers:
              app:
                uses: \(key)
                targets:
                  - env_file: ../deploy/.env
                    var: API_KEY
            \(extras)
            """)
        try scratch.write("deploy/.env", "API_KEY=\(value)\n")
    }
}
