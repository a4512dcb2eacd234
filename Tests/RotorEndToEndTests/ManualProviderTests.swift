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

    /// Cron cannot paste a secret (issue 19): a due manual key is left to a person with exit
    /// 3 and the command they run — not "failed" (exit 1) at every cron run.
    @Test func cronLeavesADueManualKeyToAPerson() throws {
        let health = try HealthServer()
        let scratch = try scratch(health: health)
        let adopted = try RotorProcess.run(["adopt", "skytells-prod"], in: scratch.url, environment: ["ROTOR_NOW": "2027-01-01"])
        #expect(adopted.status == 0, "\(adopted.stdout)\(adopted.stderr)")
        let later = ["ROTOR_NOW": "2027-06-01"]
        let result = try RotorProcess.run(["run"], in: scratch.url, environment: later)
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("skytells-prod: NEEDS A PERSON — due (current generation is 151d old (every 90d)), and only a person can give its new secret: nothing was done"), "\(result.stdout)")
        #expect(result.stdout.contains("left to do: run 'rotor rotate skytells-prod' at a terminal"), "\(result.stdout)")
        #expect(try value(scratch) == "sk-old-0000")
        // Said with --quiet too: it needs a person.
        #expect(try RotorProcess.run(["run", "--quiet"], in: scratch.url, environment: later).stdout.contains("rotor rotate skytells-prod"))
        #expect(try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "UNSET_VAR"], in: scratch.url).stdout.contains("--secret-env UNSET_VAR: the variable is not set or empty"))
        // Found by an attacker: the key in use given as the new one was accepted, and the
        // person told to delete it — every consumer's key.
        let same = try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "KEY", "--yes"], in: scratch.url, environment: ["KEY": "sk-old-0000"])
        #expect(same.status == 1 && same.stdout.contains("the secret given is a key in use now or used before (\(Fingerprint.of("sk-old-0000"))), not a new one"), "\(same.stdout)")
        #expect(!same.stderr.contains("Delete the key"), "\(same.stderr)")
        #expect(try value(scratch) == "sk-old-0000")
        // Second attack review: on a key rotor never recorded, the deployed key given as new
        // (an emergency) was accepted and kept in service.
        let fresh = try self.scratch(health: health)
        let unknown = try RotorProcess.run(["rotate", "skytells-prod", "--emergency", "--secret-env", "KEY"], in: fresh.url, environment: ["KEY": "sk-old-0000"])
        #expect(unknown.status == 1 && unknown.stdout.contains("not a new one"), "\(unknown.stdout)")
    }

    /// Second attack review: `--yes` while the old key still answers dropped the reminder
    /// (the state kept no old generation). It stays waiting for a person now.
    @Test func yesWhileTheOldKeyStillAnswersKeepsItWaiting() throws {
        let health = try HealthServer()
        let scratch = try scratch(health: health)
        _ = try RotorProcess.run(["adopt", "skytells-prod"], in: scratch.url)
        let rotated = try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "NEW", "--yes"], in: scratch.url, environment: ["NEW": "sk-new-secret-7777"])
        #expect(rotated.status == 3 && rotated.stdout.contains("still answers its verify checks: kept as waiting for a person to delete it"), "\(rotated.stdout)")
        #expect(try value(scratch) == "sk-new-secret-7777")
        #expect(try RotorProcess.run(["run"], in: scratch.url).status == 3, "the reminder stays")
        try refuse("sk-old-0000", in: scratch)
        #expect(try RotorProcess.run(["confirm", "skytells-prod"], in: scratch.url).status == 0)
        #expect(try RotorProcess.run(["run"], in: scratch.url).status == 0)
    }

    /// The CI job (issue 19): `plan` marks a due manual key `needs_person` and does not call
    /// it pending work (--detailed-exitcode 0 when it is all there is); `apply` leaves it to
    /// its person instead of failing on it.
    @Test func planMarksADueManualKeyAndApplyLeavesIt() throws {
        let health = try HealthServer()
        let scratch = try scratch(health: health)
        _ = try RotorProcess.run(["adopt", "skytells-prod"], in: scratch.url, environment: ["ROTOR_NOW": "2027-01-01"])
        let later = ["ROTOR_NOW": "2027-06-01"]
        let plan = try RotorProcess.run(["plan", "--json", "--detailed-exitcode", "--out", "plan.json"], in: scratch.url, environment: later)
        #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        let key = try #require((document["keys"] as? [[String: Any]])?.first)
        #expect(key["due"] as? Bool == true && key["needs_person"] as? Bool == true, "\(key)")
        #expect((document["summary"] as? [String: Any])?["needs_person"] as? Int == 1)
        let text = try RotorProcess.run(["plan"], in: scratch.url, environment: later)
        #expect(text.stdout.contains("skytells-prod  NEEDS A PERSON"), "\(text.stdout)")
        #expect(text.stdout.contains("a person rotates it: rotor rotate skytells-prod"), "\(text.stdout)")
        let apply = try RotorProcess.run(["apply", "plan.json"], in: scratch.url, environment: later)
        #expect(apply.status == 0, "\(apply.stdout)\(apply.stderr)")
        #expect(apply.stdout.contains("skytells-prod: left for a person (a manual key) — rotor rotate skytells-prod"), "\(apply.stdout)")
        #expect(try value(scratch) == "sk-old-0000")
    }

    /// An old key waiting for a person to delete it keeps `run` at exit 3 until `rotor
    /// confirm` records the deletion (audited); then `run` is quiet again.
    @Test func aDeletionWaitingForAPersonEndsWithConfirm() throws {
        let health = try HealthServer()
        let scratch = try scratch(health: health)
        let rotated = try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "NEW_KEY"], in: scratch.url, environment: ["NEW_KEY": "sk-new-secret-5555"])
        _ = try RotorProcess.run(["adopt", "skytells-prod"], in: scratch.url)  // refused: it has a generation
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        let second = try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "NEW_KEY"], in: scratch.url, environment: ["NEW_KEY": "sk-newer-secret-6666"])
        #expect(second.status == 3)
        #expect(second.stdout.contains("run 'rotor confirm skytells-prod'"), "\(second.stdout)")
        let runsBefore = try RotorProcess.run(["history", "--json"], in: scratch.url).stdout.components(separatedBy: "\"sequence\"").count
        let run = try RotorProcess.run(["run"], in: scratch.url)
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        // Said at every run, recorded only once a person confirms (not an entry every 15 minutes).
        #expect(try RotorProcess.run(["run"], in: scratch.url).status == 3)
        #expect(try RotorProcess.run(["history", "--json"], in: scratch.url).stdout.components(separatedBy: "\"sequence\"").count == runsBefore)
        #expect(try RotorProcess.run(["status"], in: scratch.url).stdout.contains("— waits for a person: delete it in the console, then 'rotor confirm skytells-prod'"))
        #expect(run.stdout.contains("left to do: delete the key 'data-pipeline-prod-"), "\(run.stdout)")
        #expect(run.stdout.contains("in the console, then run 'rotor confirm skytells-prod'"), "\(run.stdout)")
        // Found by an attacker: confirm recorded the deletion although the old key still
        // answered, and nothing tracked the live key any more. Refused now, reminder kept.
        let early = try RotorProcess.run(["confirm", "skytells-prod"], in: scratch.url)
        #expect(early.status == 3 && early.stdout.contains("still answers its verify checks: it is not deleted at the provider yet; nothing was recorded"), "\(early.stdout)")
        #expect(try RotorProcess.run(["run"], in: scratch.url).status == 3, "the reminder stays")
        try refuse("sk-new-secret-5555", in: scratch)
        let confirm = try RotorProcess.run(["confirm", "skytells-prod"], in: scratch.url)
        #expect(confirm.status == 0, "\(confirm.stdout)\(confirm.stderr)")
        #expect(confirm.stdout.contains("a person confirmed deleting it"), "\(confirm.stdout)")
        #expect(confirm.stdout.contains("rejected by its verify checks"), "the old key was tried and refused: \(confirm.stdout)")
        #expect(try RotorProcess.run(["run"], in: scratch.url).status == 0)
        let history = try RotorProcess.run(["history", "skytells-prod"], in: scratch.url)
        #expect(history.stdout.contains("  confirm  completed"), "\(history.stdout)")
        #expect(try RotorProcess.run(["history", "--verify"], in: scratch.url).status == 0)
        // Nothing waits any more; and confirm is for manual keys only.
        #expect(try RotorProcess.run(["confirm", "skytells-prod"], in: scratch.url).status == 1)
        #expect(try RotorProcess.run(["confirm", "nosuch"], in: scratch.url).status == 64)
    }

    /// At the terminal the secret is asked first and the deletion's confirmation after,
    /// neither echoed (issue 19: the confirmation came first, and what was typed there was
    /// shown — a secret pasted into the wrong prompt landed on screen).
    @Test func theSecretIsAskedBeforeTheConfirmationAndNeitherIsShown() throws {
        let health = try HealthServer()
        let scratch = try scratch(health: health)
        _ = try RotorProcess.run(["adopt", "skytells-prod"], in: scratch.url)
        try refuse("sk-old-0000", in: scratch)  // the person deletes it in the console when asked
        let secret = "sk-typed-at-the-prompt-8888"
        let confirmation = "Type 'yes' once it is deleted (not shown): "
        let result = try RotorProcess.run(["python3", RotationFixture.peers.appendingPathComponent("type_at_prompt.py").path,
                                           "Paste the new secret", secret, confirmation, "yes", "--",
                                           RotorProcess.binary.path, "rotate", "skytells-prod"],
                                          in: scratch.url, executable: URL(fileURLWithPath: "/usr/bin/env"))
        #expect(result.status == 0, "\(result.stdout)")
        let secretPrompt = try #require(result.stdout.range(of: "Paste the new secret (it is not shown): "))
        let confirmPrompt = try #require(result.stdout.range(of: confirmation))
        #expect(secretPrompt.upperBound <= confirmPrompt.lowerBound, "the secret is asked first: \(result.stdout)")
        #expect(!result.stdout.contains(secret), "the terminal showed the secret: \(result.stdout)")
        #expect(!result.stdout[confirmPrompt.upperBound...].contains("yes"), "the terminal showed the answer: \(result.stdout)")
        #expect(try value(scratch) == secret)
        #expect(try RotorProcess.run(["run"], in: scratch.url).status == 0, "nothing waits for a person")
        // The adopted key's console name is unknown to rotor: the person is told which key it is.
        #expect(result.stdout.contains("Delete the key that was in use before rotor's first rotation (adopted as 'adopted-"), "\(result.stdout)")

        // An old key still waiting for its deletion is confirmed before a new one is asked
        // for: refused before any prompt, with the way on.
        let waiting = try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "NEW_KEY"], in: scratch.url, environment: ["NEW_KEY": "sk-newer-secret-9999"])
        #expect(waiting.status == 3, "\(waiting.stdout)")
        let refused = try RotorProcess.run(["python3", RotationFixture.peers.appendingPathComponent("type_at_prompt.py").path,
                                            "Paste the new secret", "sk-never-typed", "--", RotorProcess.binary.path, "rotate", "skytells-prod"],
                                           in: scratch.url, executable: URL(fileURLWithPath: "/usr/bin/env"))
        #expect(refused.status == 1, "\(refused.stdout)")
        #expect(!refused.stdout.contains("Paste the new secret"), "\(refused.stdout)")
        #expect(refused.stdout.contains("must be gone before a new key is made: delete the key 'data-pipeline-prod-"), "\(refused.stdout)")
        #expect(refused.stdout.contains("run 'rotor confirm skytells-prod' (or rotate with --yes"), "\(refused.stdout)")
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
