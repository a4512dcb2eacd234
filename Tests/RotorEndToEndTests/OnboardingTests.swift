import Foundation
import Testing
@testable import RotorCore

/// Issue 19: onboarding a fleet whose keys already exist (`rotor adopt`), cron that never
/// starts over (`run` never creates a store), a failing key that cron does not hammer
/// (backoff), a plan that checks what preflight will check, and `--verbose`.
@Suite(.serialized) struct OnboardingTests {
    /// The key every target holds is recorded as the current generation, so that `every`
    /// counts from the adoption and the first rotation deletes the original at its vendor
    /// (it used to stay live there, exit 0). Targets that disagree, or a vendor key whose id
    /// rotor cannot tell, are refused with nothing recorded.
    @Test func anAdoptedKeysFirstRotationDeletesTheOriginalAtItsVendor() throws {
        let fixture = try RotationFixture()
        try fixture.scratch.write("vendor-db.json", #"{"keys": [{"id": "AKORIGINAL", "name": "original", "secret": "\#(RotationFixture.initial)"}]}"#)
        let adoptedAt = ["ROTOR_NOW": "2027-01-01T00:00:00Z"]
        let noID = try fixture.rotor(["adopt", "api-key"], environment: adoptedAt)
        #expect(noID.status == 1 && noID.stdout.contains("give the id its provider knows this key by with --id ID, so that the first rotation deletes the right key there"), "\(noID.stdout)\(noID.stderr)")
        let yaml = String(decoding: try fixture.scratch.bytes("deploy/c3/values.yaml"), as: UTF8.self)
        try fixture.scratch.write("deploy/c3/values.yaml", yaml.replacingOccurrences(of: RotationFixture.initial, with: "another-key-CANARY-5151"))
        let disagree = try fixture.rotor(["adopt", "api-key", "--id", "AKORIGINAL"], environment: adoptedAt)
        #expect(disagree.status == 1, "\(disagree.stdout)")
        #expect(disagree.stdout.contains("its targets disagree: ") && disagree.stdout.contains("c3: deploy/c3/values.yaml:auth.apiKey holds \(Fingerprint.of("another-key-CANARY-5151"))"), "\(disagree.stdout)")
        #expect(!(disagree.stdout + disagree.stderr).contains("CANARY-5151"), "fingerprints only")
        #expect(try fixture.currentGeneration() == nil, "nothing recorded")
        try fixture.scratch.write("deploy/c3/values.yaml", yaml)

        // Found by an attacker: an id the vendor does not list, one holding the secret, one
        // with a line break (a forged history line) — all refused, nothing recorded.
        let unlisted = try fixture.rotor(["adopt", "api-key", "--id", "AKNOSUCH"], environment: adoptedAt)
        #expect(unlisted.status == 1 && unlisted.stdout.contains("provider 'vendor' does not list a key 'AKNOSUCH'"), "\(unlisted.stdout)")
        let holding = try fixture.rotor(["adopt", "api-key", "--id", RotationFixture.initial + "-1"], environment: adoptedAt)
        #expect(holding.status == 1 && holding.stdout.contains("the id must not hold the secret"), "\(holding.stdout)")
        #expect(!(holding.stdout + holding.stderr).contains(RotationFixture.initial), "\(holding.stdout)\(holding.stderr)")
        let forged = try fixture.rotor(["adopt", "api-key", "--id", "AK\n2027-01-01T00:00:00Z  root@vm  api-key  rotate  completed"], environment: adoptedAt)
        #expect(forged.status == 1 && forged.stdout.contains("the id must be one printable word"), "\(forged.stdout)")
        // Second attack review: a blank-looking filler (it looks like the real id) and the
        // secret upper-cased.
        #expect(try fixture.rotor(["adopt", "api-key", "--id", "AKORIGINAL\u{3164}"], environment: adoptedAt).stdout.contains("one printable word"))
        let upper = try fixture.rotor(["adopt", "api-key", "--id", RotationFixture.initial.uppercased()], environment: adoptedAt)
        #expect(upper.status == 1 && upper.stdout.contains("must not hold the secret"), "\(upper.stdout)")
        #expect(try fixture.currentGeneration() == nil)
        let adopted = try fixture.rotor(["adopt", "api-key", "--id", "AKORIGINAL"], environment: adoptedAt)
        #expect(adopted.status == 0, "\(adopted.stdout)\(adopted.stderr)")
        #expect(adopted.stdout.contains("api-key: completed — adopted AKORIGINAL (\(Fingerprint.of(RotationFixture.initial))) as held by 6 targets; next rotation due 2027-01-31T00:00:00Z"), "\(adopted.stdout)")
        let current = try #require(try fixture.currentGeneration())
        #expect(current.id == "AKORIGINAL" && current.created == GlobalOptions.fixedNow("2027-01-01"))
        #expect(try fixture.rotor(["status"], environment: adoptedAt).status == 0, "every target in sync with the adopted generation")
        #expect(try fixture.rotor(["plan", "--detailed-exitcode"], environment: ["ROTOR_NOW": "2027-01-15T00:00:00Z"]).status == 0, "not due: 14 days old")
        #expect(try fixture.rotor(["adopt", "api-key", "--id", "AKORIGINAL"]).status == 1, "a recorded key is not adopted again")

        let run = try fixture.rotor(["run"], environment: ["ROTOR_NOW": "2027-02-15T00:00:00Z"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(try !fixture.vendorKeys().contains("AKORIGINAL"), "the original key is deleted at the vendor")
        #expect(run.stdout.contains("old generation AKORIGINAL rejected by its verify checks"), "\(run.stdout)")
        let history = try fixture.rotor(["history", "api-key"])
        #expect(history.stdout.contains("  adopt  completed  new \(Fingerprint.of(RotationFixture.initial))"), "\(history.stdout)")
        #expect(try fixture.rotor(["history", "--verify"]).status == 0)
    }

    /// Found by an attacker: a vendor id read from a `{id}` target was adopted, and the first
    /// rotation deleted that key at the vendor — another team's. A person names it with --id.
    @Test func aVendorIdFromATargetIsConfirmedByAPerson() throws {
        let fixture = try RotationFixture()
        try fixture.scratch.write("vendor-db.json", #"{"keys": [{"id": "AKORIGINAL", "name": "o", "secret": "\#(RotationFixture.initial)"}, {"id": "AKOTHERTEAM", "name": "t", "secret": "theirs-0002"}]}"#)
        let manifest = String(decoding: try fixture.scratch.bytes("consumers/services.yaml"), as: UTF8.self)
        try fixture.scratch.write("consumers/services.yaml", manifest.replacingOccurrences(of: "      - env_file: ../deploy/c1/.env\n        var: API_KEY\n",
            with: "      - env_file: ../deploy/c1/.env\n        var: API_KEY\n      - { env_file: ../deploy/c1/.env, var: API_KEY_ID, value: \"{id}\" }\n"))
        #expect(try String(decoding: fixture.scratch.bytes("consumers/services.yaml"), as: UTF8.self).contains("API_KEY_ID"))
        try fixture.scratch.write("deploy/c1/.env", "API_KEY=\(RotationFixture.initial)\nAPI_KEY_ID=AKOTHERTEAM\n")
        let fromTarget = try fixture.rotor(["adopt", "api-key"])
        #expect(fromTarget.status == 1 && fromTarget.stdout.contains("its {id} target names 'AKOTHERTEAM': check it, then 'rotor adopt api-key --id AKOTHERTEAM'"), "\(fromTarget.stdout)")
        let disagree = try fixture.rotor(["adopt", "api-key", "--id", "AKORIGINAL"])
        #expect(disagree.status == 1 && disagree.stdout.contains("--id AKORIGINAL differs from the id its {id} targets hold ('AKOTHERTEAM')"), "\(disagree.stdout)")
        #expect(try fixture.currentGeneration() == nil && fixture.vendorKeys() == ["AKORIGINAL", "AKOTHERTEAM"])

        // Second attack review: an id another key holds already (the first rotation of
        // this one deleted the other's live key).
        let policy = String(decoding: try fixture.scratch.bytes("policies/vendor.yaml"), as: UTF8.self)
        try fixture.scratch.write("policies/vendor.yaml", policy + "\n  team-key: { provider: vendor, every: 30d, grace: 0s }\n")
        try fixture.scratch.write("consumers/team.yaml", "kind: ConsumerManifest\nconsumers:\n  team: { uses: team-key, targets: [{ env_file: ../deploy/team.env, var: KEY }] }\n")
        try fixture.scratch.write("deploy/team.env", "KEY=theirs-0002\n")
        #expect(try fixture.rotor(["adopt", "team-key", "--id", "AKOTHERTEAM"]).status == 0)
        try fixture.scratch.write("deploy/c1/.env", "API_KEY=\(RotationFixture.initial)\nAPI_KEY_ID=AKOTHERTEAM\n")
        let taken = try fixture.rotor(["adopt", "api-key", "--id", "AKOTHERTEAM"])
        #expect(taken.status == 1 && taken.stdout.contains("'AKOTHERTEAM' is a generation of key 'team-key' at the same provider"), "\(taken.stdout)")
        #expect(try fixture.currentGeneration() == nil)
    }

    /// Found by an attacker: an empty file, or another application's SQLite database, at
    /// `--state` was taken for a store (rotor's tables written into it, every key rotated as
    /// never rotated); `recover` and `apply` started a store where `run` refuses.
    @Test func onlyARotorStoreIsAStoreForRunRecoverAndApply() throws {
        let scratch = try ProcessesTests.setup("")
        try scratch.write("empty.db", "")
        let sqlite = { (sql: String) in try RotorProcess.run(["sqlite3", "foreign.db", sql], in: scratch.url, executable: URL(fileURLWithPath: "/usr/bin/env")).stdout }
        _ = try sqlite("CREATE TABLE invoices (id INTEGER)")
        for state in ["sqlite:empty.db", "sqlite:foreign.db"] {
            let run = try RotorProcess.run(["run", "--state", state], in: scratch.url)
            #expect(run.status == 1 && run.stderr.contains("never starts one"), "\(state): \(run.stdout)\(run.stderr)")
        }
        #expect(try sqlite(".tables").trimmingCharacters(in: .whitespacesAndNewlines) == "invoices", "nothing written into the other database")
        // Second attack review: an application of its own with GRDB's bookkeeping and a `keys` table.
        _ = try sqlite("CREATE TABLE grdb_migrations (identifier TEXT); INSERT INTO grdb_migrations VALUES ('v1'); CREATE TABLE keys (id INTEGER); CREATE TABLE runs (id INTEGER); CREATE TABLE locks (id INTEGER)")
        let lookalike = try RotorProcess.run(["run", "--state", "sqlite:foreign.db"], in: scratch.url)
        #expect(lookalike.status == 1 && lookalike.stderr.contains("never starts one"), "\(lookalike.stderr)")
        #expect(try sqlite("SELECT count(*) FROM grdb_migrations").trimmingCharacters(in: .whitespacesAndNewlines) == "1", "no migration of rotor's recorded there")
        #expect(try Data(contentsOf: scratch.url.appendingPathComponent("empty.db")).isEmpty)
        let recover = try RotorProcess.run(["recover", "--state", "sqlite:typo.db"], in: scratch.url)
        #expect(recover.status == 0 && !FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("typo.db").path), "\(recover.stdout)")
        #expect(try RotorProcess.run(["plan", "--out", "p.json", "--state", "sqlite:typo.db"], in: scratch.url).status == 0)
        let apply = try RotorProcess.run(["apply", "p.json", "--state", "sqlite:typo.db"], in: scratch.url)
        #expect(apply.status == 1 && apply.stderr.contains("'rotor apply' never starts one"), "\(apply.stdout)\(apply.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("typo.db").path))
        #expect(String(decoding: try scratch.bytes("deploy/.env"), as: UTF8.self) == "HOOK_SECRET=whsec_initial\n")
    }

    /// Found by an attacker: a relative PATH entry was resolved against rotor's folder by
    /// `plan` and against the command's folder by the run (where a planted program ran); a
    /// folder passed as a command. Only absolute PATH entries and regular files count.
    @Test func onlyAbsolutePathEntriesAndRegularFilesAreCommands() throws {
        let scratch = try Scratch()
        try scratch.writeGeneratedKey("every: 30d, grace: 0s, verify: [{ exec: [mytool] }]")
        try scratch.writeHookConsumer("    targets: [{ env_file: ../deploy/.env, var: HOOK_SECRET }]\n    reload: [/tmp]")
        try scratch.write("deploy/.env", "HOOK_SECRET=whsec_initial\n")
        try scratch.write("bin/mytool", "#!/bin/sh\nexit 0\n")
        chmod(scratch.url.appendingPathComponent("bin/mytool").path, 0o755)
        let plan = try RotorProcess.run(["plan"], in: scratch.url, environment: ["PATH": "bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")])
        #expect(plan.status == 1 && plan.stdout.contains("verify command 'mytool' is not installed or not on PATH"), "\(plan.stdout)")
        #expect(plan.stdout.contains("app: reload command '/tmp' is not installed or not on PATH"), "\(plan.stdout)")
    }

    /// `run` with no store at `--state` (a typo) exits 1 saying how to start, and creates
    /// nothing. `adopt --all` starts one: a `{id}` target names the id; a key whose targets
    /// hold nothing yet is skipped (its first rotation creates it).
    @Test func runNeverStartsAStoreAndAdoptAllStartsOne() throws {
        let scratch = try Scratch()
        try scratch.write("policies/keys.yaml", """
            kind: RotationPolicy
            providers:
              local: { type: generate }
            keys:
              hook: { provider: local, every: 30d, grace: 0s }
              fresh: { provider: local, every: 30d, grace: 0s }
            """)
        try scratch.write("consumers/apps.yaml", """
            kind: ConsumerManifest
            consumers:
              app:
                uses: hook
                targets:
                  - { env_file: ../deploy/.env, var: HOOK_SECRET }
                  - { env_file: ../deploy/.env, var: HOOK_ID, value: "{id}" }
              new-app:
                uses: fresh
                targets: [{ env_file: ../deploy/new.env, var: FRESH_SECRET, create: true }]
            """)
        try scratch.write("deploy/.env", "HOOK_SECRET=whsec_deployed_by_hand\nHOOK_ID=hook-2026-original\n")
        // Found by the operator review: the dry run said nothing of it and exited 0.
        let dryRun = try RotorProcess.run(["run", "--dry-run"], in: scratch.url)
        #expect(dryRun.status == 1 && dryRun.stderr.contains("'rotor run' never starts one"), "\(dryRun.stdout)\(dryRun.stderr)")
        let typo = try RotorProcess.run(["run", "--state", "sqlite:typo/state.db"], in: scratch.url)
        #expect(typo.status == 1 && typo.stderr.contains("there is no state store at sqlite:typo/state.db, and 'rotor run' never starts one"), "\(typo.stderr)")
        #expect(typo.stderr.contains("start with 'rotor adopt --all'"))
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("typo").path))
        #expect(String(decoding: try scratch.bytes("deploy/.env"), as: UTF8.self).contains("whsec_deployed_by_hand"))

        let adopt = try RotorProcess.run(["adopt", "--all"], in: scratch.url)
        #expect(adopt.status == 0, "\(adopt.stdout)\(adopt.stderr)")
        #expect(adopt.stdout.contains("hook: completed — adopted hook-2026-original"), "\(adopt.stdout)")
        #expect(adopt.stdout.contains("fresh: skipped — no target of 'fresh' holds a value to adopt"), "\(adopt.stdout)")
        // Again, as when a key joins an onboarded fleet: the recorded keys are skipped, not failed.
        let again = try RotorProcess.run(["adopt", "--all"], in: scratch.url)
        #expect(again.status == 0 && again.stdout.contains("hook: skipped — recorded already (hook-2026-original "), "\(again.stdout)")
        #expect(try RotorProcess.run(["adopt", "hook"], in: scratch.url).status == 1, "named, a recorded key is refused")
        // Issue 19: "set create: true" did not work for a missing file. rotor does not
        // create files (whose account and mode?): the message says what works.
        let plan = try RotorProcess.run(["plan"], in: scratch.url)
        #expect(plan.status == 1 && plan.stdout.contains("deploy/new.env:FRESH_SECRET: the file does not exist — rotor edits files, it does not create them: create it first"), "\(plan.stdout)")
        let missing = try RotorProcess.run(["run"], in: scratch.url)
        #expect(missing.status == 1 && missing.stdout.contains("the file does not exist — rotor edits files, it does not create them"), "\(missing.stdout)")
        try scratch.write("deploy/new.env", "")
        chmod(scratch.url.appendingPathComponent("deploy/new.env").path, 0o600)
        let run = try RotorProcess.run(["rotate", "fresh"], in: scratch.url)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(String(decoding: try scratch.bytes("deploy/new.env"), as: UTF8.self).hasPrefix("FRESH_SECRET="))
        #expect(try RotorProcess.run(["run"], in: scratch.url).stdout.contains("hook: skipped"))
        // status --quiet: only what needs attention (the crontab's hourly check), nothing when all is well.
        let quiet = try RotorProcess.run(["status", "--quiet", "hook"], in: scratch.url)
        #expect(quiet.status == 0 && quiet.stdout.isEmpty && quiet.stderr.isEmpty, "\(quiet.stdout)\(quiet.stderr)")
        try scratch.write("deploy/.env", "HOOK_SECRET=drifted\nHOOK_ID=hook-2026-original\n")
        let drift = try RotorProcess.run(["status", "--quiet"], in: scratch.url)
        #expect(drift.status == 2 && drift.stdout.contains("app: deploy/.env:HOOK_SECRET  unknown") && !drift.stdout.contains("fresh"), "\(drift.stdout)")
        #expect(try RotorProcess.run(["adopt", "nosuch"], in: scratch.url).status == 64)
        #expect(try RotorProcess.run(["adopt", "hook", "fresh", "--id", "x"], in: scratch.url).status == 64)
    }

    /// Found by an operator (and an attacker): `adopt --all`, the README's onboarding step,
    /// adopted the first key of a `generate` provider and refused every other one — each was
    /// given the same made-up id, "a generation of key … at the same provider".
    @Test func adoptAllAdoptsEveryKeyOfOneGenerateProvider() throws {
        let scratch = try Scratch()
        try scratch.write("policies/keys.yaml", """
            kind: RotationPolicy
            providers:
              local: { type: generate }
            keys:
              alpha: { provider: local, every: 30d, grace: 0s }
              beta: { provider: local, every: 30d, grace: 0s }
              gamma: { provider: local, every: 30d, grace: 0s }
            """)
        try scratch.write("consumers/apps.yaml", "kind: ConsumerManifest\nconsumers:\n" + ["alpha", "beta", "gamma"].map {
            "  \($0)-app: { uses: \($0), targets: [{ env_file: ../deploy/\($0).env, var: SECRET }] }\n"
        }.joined())
        for key in ["alpha", "beta", "gamma"] { try scratch.write("deploy/\(key).env", "SECRET=whsec_by_hand_\(key)\n") }
        let adopt = try RotorProcess.run(["adopt", "--all"], in: scratch.url)
        #expect(adopt.status == 0, "\(adopt.stdout)\(adopt.stderr)")
        for key in ["alpha", "beta", "gamma"] {
            #expect(adopt.stdout.contains("\(key): completed — adopted adopted-") && adopt.stdout.contains("-\(key)"), "\(adopt.stdout)")
        }
        #expect(try RotorProcess.run(["rotate", "alpha", "beta", "gamma"], in: scratch.url).status == 0)
    }

    /// A scheduled rotation that failed is not retried at every cron run: 1 h, then 2 h…
    /// (at most 24 h); plan and status say when; `rotate` tries at once.
    @Test func aFailingKeyIsRetriedAfterABackoff() throws {
        let scratch = try ProcessesTests.setup("")
        try scratch.writeGeneratedKey("every: 30d, grace: 0s")
        #expect(try RotorProcess.run(["adopt", "hook"], in: scratch.url, environment: ["ROTOR_NOW": "2027-01-01T00:00:00Z"]).status == 0)
        try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("deploy/.env"))  // preflight fails
        let first = try RotorProcess.run(["run"], in: scratch.url, environment: ["ROTOR_NOW": "2027-02-01T00:00:00Z"])
        #expect(first.status == 1 && first.stdout.contains("hook: failed — preflight failed"), "\(first.stdout)")
        let soon = ["ROTOR_NOW": "2027-02-01T00:30:00Z"]
        let waiting = try RotorProcess.run(["run"], in: scratch.url, environment: soon)
        #expect(waiting.status == 0, "\(waiting.stdout)")
        #expect(waiting.stdout.contains("hook: skipped — not due: current generation is 31d old (every 30d), but its last rotation failed (once, the newest at 2027-02-01T00:00:00Z); the next scheduled try is from 2027-02-01T01:00:00Z"), "\(waiting.stdout)")
        // plan keeps it due (apply rotates at once) and says when run would try.
        let plan = try RotorProcess.run(["plan"], in: scratch.url, environment: soon)
        #expect(plan.stdout.contains("hook  rotate: current generation is 31d old (every 30d); its last rotation failed (once, the newest at 2027-02-01T00:00:00Z); the next scheduled try is from 2027-02-01T01:00:00Z"), "\(plan.stdout)")
        #expect(try RotorProcess.run(["run", "--dry-run"], in: scratch.url, environment: soon).stdout.contains("hook  not due: current generation is 31d old (every 30d), but its last rotation failed"))
        let status = try RotorProcess.run(["status", "--json"], in: scratch.url, environment: soon)
        let key = try #require(((try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["keys"] as? [[String: Any]])?.first)
        #expect((key["failed_rotations"] as? [String: Any])?["retry_at"] as? String == "2027-02-01T01:00:00Z", "\(key)")
        // The second failure doubles the pause; a person's rotate is not held.
        #expect(try RotorProcess.run(["run"], in: scratch.url, environment: ["ROTOR_NOW": "2027-02-01T01:00:00Z"]).status == 1)
        #expect(try RotorProcess.run(["plan"], in: scratch.url, environment: ["ROTOR_NOW": "2027-02-01T02:00:00Z"]).stdout.contains("failed (2 in a row, the newest at 2027-02-01T01:00:00Z); the next scheduled try is from 2027-02-01T03:00:00Z"))
        try scratch.write("deploy/.env", "HOOK_SECRET=whsec_initial\n")
        #expect(try RotorProcess.run(["rotate", "hook"], in: scratch.url, environment: ["ROTOR_NOW": "2027-02-01T02:00:00Z"]).status == 0)
        #expect(try RotorProcess.run(["run"], in: scratch.url, environment: ["ROTOR_NOW": "2027-03-15T00:00:00Z"]).stdout.contains("hook: completed — rotated to"), "after a success the schedule is the usual one")
    }

    /// `plan` refuses what preflight would refuse without calling the provider: a provider
    /// command with a typo, a reload command that does not exist (they passed the plan and
    /// failed at apply).
    @Test func planChecksTheCommandsPreflightWillNeed() throws {
        let fixture = try RotationFixture(c2Reload: "[no-such-reload-command]")
        let policy = String(decoding: try fixture.scratch.bytes("policies/vendor.yaml"), as: UTF8.self)
        try fixture.scratch.write("policies/vendor.yaml", policy.replacingOccurrences(of: "create: [python3,", with: "create: [pyhton3,"))
        let plan = try fixture.rotor(["plan"])
        #expect(plan.status == 1, "\(plan.stdout)")
        #expect(plan.stdout.contains("! preflight will refuse: the provider's command 'pyhton3' is not installed or not on PATH"), "\(plan.stdout)")
        #expect(plan.stdout.contains("! preflight will refuse: c2: reload command 'no-such-reload-command' is not installed or not on PATH"), "\(plan.stdout)")
        #expect(try fixture.rotor(["rotate", "api-key", "--dry-run"]).status == 1)
        #expect(try fixture.values().allSatisfy { $0 == RotationFixture.initial })
        // Once per command, not once per use (create and delete are one CLI).
        #expect(plan.stdout.components(separatedBy: "'pyhton3' is not installed").count == 2, "\(plan.stdout)")

        // Found by the operator review: an exec provider's token_env was not checked.
        try fixture.scratch.write("policies/vendor.yaml", policy.replacingOccurrences(of: "    type: exec\n", with: "    type: exec\n    token_env: [VENDOR_TOKEN]\n"))
        try fixture.scratch.write("consumers/services.yaml", String(decoding: try fixture.scratch.bytes("consumers/services.yaml"), as: UTF8.self)
            .replacingOccurrences(of: "[no-such-reload-command]", with: "[touch, ../deploy/c2/reloaded]"))
        // Second attack review: an exec target's command was not looked for by plan.
        let services = String(decoding: try fixture.scratch.bytes("consumers/services.yaml"), as: UTF8.self)
        try fixture.scratch.write("consumers/services.yaml", services.replacingOccurrences(of: "      - exec: [python3,", with: "      - exec: [no-such-store-cli,"))
        let storeCLI = try fixture.rotor(["plan"], environment: ["VENDOR_TOKEN": "account-token"])
        #expect(storeCLI.status == 1 && storeCLI.stdout.contains("c5: exec target command 'no-such-store-cli' is not installed or not on PATH"), "\(storeCLI.stdout)")
        try fixture.scratch.write("consumers/services.yaml", services)
        let untokened = try RotorProcess.run(["plan"], in: fixture.scratch.url, environment: fixture.environment, unset: ["VENDOR_TOKEN"])
        #expect(untokened.status == 1 && untokened.stdout.contains("! preflight will refuse: the provider's token variable VENDOR_TOKEN is not set"), "\(untokened.stdout)")
        #expect(try fixture.rotor(["plan"], environment: ["VENDOR_TOKEN": "account-token"]).status == 0)
    }

    /// Found by the operator review: for a missing JSON or YAML file the hint ("create it
    /// empty") did not work, and a YAML path rotor cannot add passed the plan.
    @Test func aMissingFileGetsAHintThatWorksForItsFormat() throws {
        let scratch = try Scratch()
        try scratch.writeGeneratedKey("every: 30d, grace: 0s")
        try scratch.writeHookConsumer("""
                targets:
                  - { json_file: ../deploy/app.json, pointer: /hook, create: true }
                  - { yaml_file: ../deploy/app.yaml, path: auth.hook, create: true }
            """)
        try scratch.startStateStore()
        let missing = try RotorProcess.run(["plan"], in: scratch.url)
        #expect(missing.stdout.contains("deploy/app.json:/hook: the file does not exist — rotor edits files, it does not create them: create it first, mode 0600 and owned by the account that reads it, holding {}"), "\(missing.stdout)")
        #expect(missing.stdout.contains("deploy/app.yaml:auth.hook: the file does not exist — rotor edits files, it does not create them: create it first, mode 0600 and owned by the account that reads it, with the path written out"), "\(missing.stdout)")
        try scratch.write("deploy/app.json", "{}")
        try scratch.write("deploy/app.yaml", "replicas: 1\n")
        let yaml = try RotorProcess.run(["plan"], in: scratch.url)
        #expect(yaml.status == 1 && yaml.stdout.contains("! preflight will refuse: app: deploy/app.yaml:auth.hook:") && !yaml.stdout.contains("app.json:/hook:"), "\(yaml.stdout)")
        try scratch.write("deploy/app.yaml", "replicas: 1\nauth:\n  hook: placeholder\n")
        #expect(try RotorProcess.run(["plan"], in: scratch.url).status == 0)
        #expect(try RotorProcess.run(["rotate", "hook"], in: scratch.url).status == 0)
        #expect(try RotorProcess.run(["plan", "hook"], in: scratch.url).stdout.contains("not due"))
    }

    /// Issue 19: a YAML block-scalar target, refused by preflight, was missing from the plan
    /// and the dry runs.
    @Test func aTargetPreflightCannotRewriteIsInThePlanAndTheDryRuns() throws {
        let scratch = try Scratch()
        try scratch.writeGeneratedKey("every: 30d, grace: 0s")
        try scratch.writeHookConsumer("    targets: [{ yaml_file: ../deploy/values.yaml, path: auth.key }]")
        try scratch.write("deploy/values.yaml", "auth:\n  key: |\n    whsec_block_scalar\n")
        try scratch.startStateStore()
        let refusal = "! preflight will refuse: app: deploy/values.yaml:auth.key: auth.key is a multi-line or block scalar; rotor rewrites single-line scalars only"
        for command in [["plan"], ["rotate", "hook", "--dry-run"], ["run", "--dry-run"]] {
            let result = try RotorProcess.run(command, in: scratch.url)
            #expect(result.status == 1 && result.stdout.contains(refusal), "\(command): \(result.stdout)")
        }
        let rotate = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(rotate.status == 1 && rotate.stdout.contains("preflight failed: deploy/values.yaml:auth.key: auth.key is a multi-line or block scalar"), "\(rotate.stdout)")
    }

    /// `--verbose` shows every command rotor ran, how it ended and what it printed — with
    /// any secret masked (the vendor CLI prints the new key on stdout).
    @Test func verboseShowsEveryCommandWithSecretsMasked() throws {
        let fixture = try RotationFixture()
        // The vendor CLI also prints most of the new secret on stderr (found by an attacker:
        // shown before rotor had parsed the answer, so before the redactor knew it).
        // And a health check that prints the deployed key on a key rotor never rotated (it
        // was not known to the redactor: no generation recorded).
        let services = String(decoding: try fixture.scratch.bytes("consumers/services.yaml"), as: UTF8.self)
        try fixture.scratch.write("consumers/services.yaml", services.replacingOccurrences(of: "health: { exec: [test, -f, ../deploy/c2/reloaded] }",
            with: "health: { exec: [sh, -c, \"grep -h API_KEY ../deploy/c1/.env.deployed >&2; test -f ../deploy/c2/reloaded\"] }"))
        try FileManager.default.copyItem(at: fixture.scratch.url.appendingPathComponent("deploy/c1/.env"), to: fixture.scratch.url.appendingPathComponent("deploy/c1/.env.deployed"))
        let result = try fixture.rotor(["rotate", "api-key", "--verbose"], environment: ["VENDOR_PRINT_FRAGMENT": "1"])
        #expect(!result.stderr.contains(RotationFixture.initial) && result.stderr.contains("rotor:   stderr: export API_KEY="), "the deployed key is masked: \(result.stderr)")
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("rotor: ran [python3 ") && result.stderr.contains("vendor.py create api-key-"), "\(result.stderr)")
        #expect(result.stderr.contains(": exited 0 after "), "\(result.stderr)")
        #expect(result.stderr.contains("rotor: ran [touch ../deploy/c1/reloaded]"), "\(result.stderr)")
        #expect(result.stderr.contains("rotor:   stdout: {\"AccessKey\""), "the create command's answer is shown: \(result.stderr)")
        let secret = try #require(try fixture.values().first)
        #expect(!result.stderr.contains(secret) && !result.stdout.contains(secret), "the new secret is masked")
        #expect(result.stderr.contains("rotor:   stderr: debug: issued key ending "), "\(result.stderr)")
        #expect(!result.stderr.contains(String(secret.dropFirst(5))) && !result.stderr.contains(String(secret.dropFirst(5).prefix(12))), "a piece of it is masked too: \(result.stderr)")
        #expect(!(try fixture.rotor(["rotate", "api-key"])).stderr.contains("rotor: ran ["), "nothing without --verbose")
    }
}
