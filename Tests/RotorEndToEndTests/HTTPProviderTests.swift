import Foundation
import Testing
@testable import RotorCore

/// The `http` provider against a loopback key-management server (Peers/kms_server.py)
/// that behaves like vendor APIs and can be told to misbehave.
@Suite(.serialized) struct HTTPProviderTests {
    static let admin = "admin-token-for-tests-0001"

    final class Setup {
        let kms: HealthServer
        let scratch: Scratch
        var environment = ["KMS_ADMIN_TOKEN": HTTPProviderTests.admin]

        init(timeout: String = "2s", retries: Int = 3, grace: String = "0s", extraKeyFields: String = "") throws {
            kms = try HealthServer(script: "kms_server.py", arguments: [HTTPProviderTests.admin])
            scratch = try Scratch()
            let base = "http://127.0.0.1:\(kms.port)"
            try scratch.write("policies/mail.yaml", """
                kind: RotationPolicy
                providers:
                  mail-api:
                    type: http
                    base_url: \(base)/v3
                    auth: { bearer_env: KMS_ADMIN_TOKEN }
                    create: { method: POST, path: /api_keys, body: { name: "{name}", scopes: [mail.send] }, id: /api_key_id, secret: /api_key }
                    delete: { method: DELETE, path: "/api_keys/{id}" }
                    list: { path: /api_keys, items: /result, id: /api_key_id, name: /name, created: /created_at, last_used: /last_used_at }
                    timeout: \(timeout)
                    retries: \(retries)
                keys:
                  mailer:
                    provider: mail-api
                    grace: \(grace)
                    name: "mailer-{timestamp}"
                \(extraKeyFields)
                    verify:
                      - http: { url: "\(base)/v1/me", headers: { Authorization: "Bearer {secret}" } }
                """)
            try scratch.write("consumers/mailer.yaml", """
                kind: ConsumerManifest
                consumers:
                  mailer:
                    uses: mailer
                    targets:
                      - env_file: ../deploy/.env
                        var: MAIL_API_KEY
                      - json_file: ../deploy/config.json
                        pointer: /mail/key
                """)
            try scratch.write("deploy/.env", "MAIL_API_KEY=old-mail-key\n")
            try scratch.write("deploy/config.json", "{\"mail\": {\"key\": \"old-mail-key\"}}\n")
        }

        func rotor(_ arguments: [String], environment extra: [String: String] = [:]) throws -> RotorProcess.Result {
            try RotorProcess.run(arguments, in: scratch.url, environment: environment.merging(extra) { $1 })
        }

        /// Sends to the server's test-only endpoints.
        func control(_ json: String) throws {
            _ = try RotorProcess.run(["python3", "-c", "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method='POST'))",
                                      "http://127.0.0.1:\(kms.port)/_control", json], executable: URL(fileURLWithPath: "/usr/bin/env"))
        }

        func keys() throws -> [String] {
            let result = try RotorProcess.run(["python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
                                               "http://127.0.0.1:\(kms.port)/_keys"], executable: URL(fileURLWithPath: "/usr/bin/env"))
            return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String]) ?? []
        }

        func value() throws -> String { try EnvFileFormat(variable: "MAIL_API_KEY").read(Array(scratch.bytes("deploy/.env"))).get() }
        func requests(_ prefix: String) -> Int { kms.requests.filter { $0.hasPrefix(prefix) }.count }
    }

    /// The account token reaches the API only: commands rotor runs (here a reload) do not
    /// inherit it from rotor's environment — nor read it from rotor's own
    /// `/proc/$PPID/environ` (found by a reviewer, #18), even as root.
    @Test func commandsDoNotInheritTheProviderToken() throws {
        let setup = try Setup()
        let manifest = try String(decoding: setup.scratch.bytes("consumers/mailer.yaml"), as: UTF8.self)
        try setup.scratch.write("consumers/mailer.yaml", manifest + "\n" + """
                reload: [python3, \(RotationFixture.peers.path)/dump_environment.py, ../deploy/environment-seen]

            """)
        let result = try setup.rotor(["rotate", "mailer"], environment: ["UNRELATED_VARIABLE": "kept"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let seen = String(decoding: try setup.scratch.bytes("deploy/environment-seen"), as: UTF8.self)
        #expect(seen.contains("UNRELATED_VARIABLE"), "the reload saw rotor's environment: \(seen)")
        #expect(seen.contains("parent:"), "the reload looked at its parent's environ: \(seen)")
        #expect(!seen.contains(HTTPProviderTests.admin), "\(seen)")
    }

    @Test func createVerifyDeleteAgainstTheAPI() throws {
        let setup = try Setup()
        let first = try setup.rotor(["rotate", "mailer"])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        let gen1 = try setup.keys()
        let value = try setup.value()
        #expect(gen1.count == 1 && value.hasPrefix("kms_"))
        #expect(setup.requests("GET /v1/me") == 1, "the new key was verified at the API")
        #expect(try setup.rotor(["rotate", "mailer"]).status == 0)
        let gen2 = try setup.keys()
        #expect(gen2.count == 1 && gen2 != gen1, "the old key was deleted")
        #expect(try setup.rotor(["rotate", "mailer"], environment: ["KMS_ADMIN_TOKEN": ""]).stdout.contains("the provider's token variable KMS_ADMIN_TOKEN is not set"))
    }

    /// Retry-After: 2 is ten times the first backoff (0.2 s at most): only honouring the
    /// header puts the second POST 2 s after the first (a lower bound, whatever the machine).
    @Test func tooManyRequestsIsRetriedAfterRetryAfter() throws {
        let setup = try Setup()
        try setup.control(#"{"faults": [{"status": 429, "retry_after": "2"}]}"#)
        let result = try setup.rotor(["rotate", "mailer"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let posts = setup.kms.requests.filter { $0.hasPrefix("POST /v3/api_keys") }.compactMap { $0.split(separator: "@").last.flatMap { Double($0) } }
        #expect(posts.count == 2)
        if posts.count == 2 { #expect(posts[1] - posts[0] >= 1.9, "the retry came \(posts[1] - posts[0]) s after the 429") }
    }

    @Test func serverErrorsAreRetriedThenSucceed() throws {
        let setup = try Setup()
        try setup.control(#"{"faults": [{"status": 500, "method": "POST"}, {"status": 503, "method": "POST"}]}"#)
        #expect(try setup.rotor(["rotate", "mailer"]).status == 0)
        // Each 5xx may have come after the vendor acted: looked up by name before the next create.
        #expect(setup.requests("POST /v3/api_keys") == 3)
        #expect(setup.requests("GET /v3/api_keys") >= 2)
        #expect(try setup.keys().count == 1)
    }

    /// The vendor creates the key at once and answers after rotor's timeout: the key
    /// exists when rotor looks, whatever rotor's pauses between looks. With no retry left
    /// the rotation fails with nothing left behind.
    @Test func aTimedOutCreateIsFoundByNameAndDeleted() throws {
        let setup = try Setup(timeout: "1s", retries: 0)
        try setup.control(#"{"faults": [{"answer_late": 3}]}"#)
        let result = try setup.rotor(["rotate", "mailer"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("create failed: POST 127.0.0.1/v3/api_keys timed out after 1s"))
        #expect(result.stdout.contains("was found by name and deleted"))
        #expect(try setup.keys().isEmpty, "no orphan")
        #expect(try setup.value() == "old-mail-key")
    }

    @Test func malformedJSONLeavesNoOrphan() throws {
        let setup = try Setup(retries: 0)
        try setup.control(#"{"faults": [{"malformed": true}]}"#)
        let result = try setup.rotor(["rotate", "mailer"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("create answered 201 with malformed JSON"))
        #expect(try setup.keys().isEmpty)
        #expect(try setup.value() == "old-mail-key")
    }

    // MARK: Orphan keys (#18): a create whose outcome is unknown is never simply re-sent

    /// Found by a reviewer: a vendor that made the key and answered 502 got the create
    /// again — two keys of the same name, rotor knowing only the second.
    @Test func aCreateAnswered502AfterActingLeavesOneKey() throws {
        let setup = try Setup()
        try setup.control(#"{"faults": [{"status": 502, "after_create": true, "method": "POST"}]}"#)
        let result = try setup.rotor(["rotate", "mailer", "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("was found by name and deleted"), "\(result.stdout)")
        // Said in the message, not only in the steps (found by the operator review).
        #expect(result.stdout.contains("(after an attempt whose answer was lost: the generation it created anyway"), "\(result.stdout)")
        let keys = try setup.keys()
        #expect(keys.count == 1, "only the key rotor uses is left: \(keys)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let report = (json?["keys"] as? [[String: Any]])?.first
        #expect((report?["new_generation"] as? [String: Any])?["id"] as? String == keys.first)
    }

    /// Found by a reviewer: a vendor answering 503 after every create ended with three keys
    /// while rotor said "nothing was created or changed".
    @Test func aVendorThatAlways503sAfterCreatingKeepsNoKey() throws {
        let setup = try Setup(retries: 2)
        let fault = #"{"status": 503, "after_create": true, "method": "POST"}"#
        try setup.control(#"{"faults": [\#(fault), \#(fault), \#(fault)]}"#)
        let result = try setup.rotor(["rotate", "mailer"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("nothing was created"), "\(result.stdout)")
        #expect(result.stdout.contains("was found by name and deleted"))
        #expect(setup.requests("POST /v3/api_keys") == 3, "one create per attempt, each cleared up before the next")
        let left = try setup.keys()
        #expect(left.isEmpty, "no orphan: \(left)")
        #expect(try setup.value() == "old-mail-key")
    }

    /// Found by a reviewer: a vendor that got no answer out in time made the key 14 s later,
    /// after rotor had looked, found nothing and created another — exit 0, one key orphaned.
    /// Nothing found yet is not "none": rotor stops and names what to check (exit 3).
    @Test func aKeyThatMayStillAppearIsLeftToAPersonNamed() throws {
        let setup = try Setup(timeout: "1s", retries: 2)
        try setup.control(#"{"faults": [{"create_after": 5, "method": "POST"}]}"#)
        let result = try setup.rotor(["rotate", "mailer"])
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(setup.requests("POST /v3/api_keys") == 1, "no second create while the first may still act")
        let named = try #require(result.stdout.firstMatch(of: /a generation named '([^']+)' may exist/)?.1, "\(result.stdout)")
        var keys: [String] = []
        for _ in 0..<80 where keys.isEmpty { usleep(100_000); keys = try setup.keys() }
        #expect(keys.count == 1, "the slow create did make one: \(keys)")
        #expect(named.hasPrefix("mailer-"))
        #expect(try setup.value() == "old-mail-key")
    }

    /// Found by an attacker: a 303 after the vendor made the key was "nothing was created"
    /// (rotor follows no redirect, so what it led to is unknown).
    @Test func aRedirectAfterActingIsAnUnknownOutcome() throws {
        let setup = try Setup(retries: 0)
        try setup.control(#"{"faults": [{"status": 303, "after_create": true, "method": "POST"}]}"#)
        let result = try setup.rotor(["rotate", "mailer"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("was found by name and deleted"), "\(result.stdout)")
        #expect(try setup.keys().isEmpty)
    }

    /// Found by an attacker: an answer that is not HTTP at all, after the vendor acted,
    /// was taken for "never sent".
    @Test func aGarbledAnswerAfterActingIsAnUnknownOutcome() throws {
        let setup = try Setup(retries: 0)
        try setup.control(#"{"faults": [{"garble": true, "method": "POST"}]}"#)
        let result = try setup.rotor(["rotate", "mailer"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("was found by name and deleted"), "\(result.stdout)")
        #expect(try setup.keys().isEmpty)
    }

    /// Found by the second attack: an id of "../../x" was put in the path as is — curl
    /// removed the dot segments, the DELETE named another resource, answered 404, and rotor
    /// counted the key deleted while it lived on. A value is one path segment.
    @Test func anIDIsOnePathSegment() throws {
        let setup = try Setup()
        try setup.control(#"{"faults": [{"id": "../../x?y=1#z", "method": "POST"}]}"#)
        #expect(try setup.rotor(["rotate", "mailer"]).status == 0)
        #expect(try setup.keys() == ["../../x?y=1#z"])
        let second = try setup.rotor(["rotate", "mailer"])
        #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
        #expect(setup.kms.requests.contains { $0.hasPrefix("DELETE /v3/api_keys/..%2F..%2Fx%3Fy%3D1%23z ") }, "\(setup.kms.requests)")
        #expect(try setup.keys().count == 1 && !(try setup.keys()).contains("../../x?y=1#z"), "the old key really is gone")
    }

    /// Found by an attacker: with http_proxy set, the token for a loopback API went in
    /// clear to the proxy. Plain http never goes through a proxy.
    @Test func plainHTTPIgnoresAProxyFromTheEnvironment() throws {
        let setup = try Setup()
        let proxy = try HealthServer()
        let result = try setup.rotor(["rotate", "mailer"], environment: ["http_proxy": "http://127.0.0.1:\(proxy.port)", "HTTP_PROXY": "http://127.0.0.1:\(proxy.port)"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(proxy.requests.isEmpty, "the proxy saw: \(proxy.requests)")
        #expect(setup.requests("POST /v3/api_keys") == 1)
    }

    /// Found by a reviewer: an answer over 4 MiB was "nothing was created".
    @Test func anOversizedAnswerIsAnUnknownOutcome() throws {
        let setup = try Setup(retries: 0)
        try setup.control(#"{"faults": [{"big": 5000000}]}"#)
        let result = try setup.rotor(["rotate", "mailer"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("larger than"), "\(result.stdout)")
        #expect(result.stdout.contains("was found by name and deleted"), "\(result.stdout)")
        #expect(try setup.keys().isEmpty)
    }

    /// Found by a reviewer: rotor killed during a slow create was "recovered" at once; the
    /// create finished afterwards and its key was never found. Recovery waits out the
    /// create's deadline before it looks.
    @Test func recoveryWaitsForACreateStillUnderWay() throws {
        let setup = try Setup(timeout: "4s", retries: 0)
        try setup.control(#"{"faults": [{"create_after": 2.5}]}"#)
        let process = Process()
        process.executableURL = RotorProcess.binary
        process.arguments = ["rotate", "mailer"]
        process.currentDirectoryURL = setup.scratch.url
        process.environment = ProcessInfo.processInfo.environment.merging(setup.environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Killed once the create is on its way (the server logs the POST when it arrives).
        for _ in 0..<200 where setup.requests("POST /v3/api_keys") == 0 { usleep(25_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(try setup.keys().isEmpty, "the key does not exist yet when rotor dies")
        let result = try setup.rotor(["recover"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("waiting") || result.stdout.contains("waiting"), "says why it waits: \(result.stdout)\(result.stderr)")
        let left = try setup.keys()
        #expect(left.isEmpty, "the key the slow create made was found and deleted: \(left)")
        #expect(result.stdout.contains("new generation key_") && result.stdout.contains(" deleted"), "recover says what it deleted: \(result.stdout)")
        #expect(try setup.value() == "old-mail-key")
    }

    @Test func anAPIThatEchoesASecretDoesNotLeakIt() throws {
        let setup = try Setup(retries: 1)
        #expect(try setup.rotor(["rotate", "mailer"]).status == 0)
        let live = try setup.value()
        try setup.control(#"{"faults": [{"echo": true, "method": "POST"}, {"echo": true, "method": "POST"}]}"#)
        let result = try setup.rotor(["rotate", "mailer"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("create answered 500: {\"error\": \"internal error while handling key [REDACTED]"), "\(result.stdout)")
        #expect(!result.stdout.contains(live) && !result.stderr.contains(live))
        let history = try setup.rotor(["history", "--json"])
        #expect(!history.stdout.contains(live))
        // The peer echoed the admin token too (in "request by Bearer …"): masked as well.
        #expect(result.stdout.contains("(request by Bearer "), "\(result.stdout)")
        #expect(!result.stdout.contains(HTTPProviderTests.admin) && !result.stderr.contains(HTTPProviderTests.admin))
    }

    @Test func deletionWaitsWhileTheOldKeyIsStillUsed() throws {
        let setup = try Setup(grace: "1h", extraKeyFields: "    delete_when_unused_for: 10m")
        #expect(try setup.rotor(["rotate", "mailer"], environment: ["ROTOR_NOW": "2026-11-26T10:00:00Z"]).status == 0)
        let gen1 = try #require(try setup.keys().first)
        #expect(try setup.rotor(["rotate", "mailer"], environment: ["ROTOR_NOW": "2026-11-26T10:01:00Z"]).status == 0)
        #expect(try setup.keys().count == 2)
        try setup.control(#"{"last_used": {"\#(gen1)": "2026-11-26T10:05:00Z"}}"#)
        let busy = try setup.rotor(["run"], environment: ["ROTOR_NOW": "2026-11-26T10:10:00Z"])
        #expect(busy.stdout.contains("old key \(gen1) still in use (last used 2026-11-26T10:05:00Z): deleted once unused for 10m, at the latest 2026-11-26T11:01:00Z"), "\(busy.stdout)")
        #expect(try setup.keys().contains(gen1))
        let quiet = try setup.rotor(["run"], environment: ["ROTOR_NOW": "2026-11-26T10:20:00Z"])
        #expect(quiet.stdout.contains("deleted generation \(gen1): unused since 2026-11-26T10:05:00Z (10m or more)"), "\(quiet.stdout)")
        let remaining = try setup.keys()
        #expect(!remaining.contains(gen1) && remaining.count == 1)
    }
}
