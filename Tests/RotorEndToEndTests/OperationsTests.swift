import Foundation
import Testing
@testable import RotorCore

/// `run`, `status`, `history` and metrics, end to end, with time injected through
/// ROTOR_NOW rather than waited for.
@Suite(.serialized) struct OperationsTests {
    static let thursday = "2026-11-26T10:00:00Z"

    /// Four generate keys: one never rotated, one fresh, one due only in a weekend window,
    /// one whose target preflight refuses.
    func mixedScratch() throws -> Scratch {
        let scratch = try Scratch()
        try scratch.write("policies/p.yaml", """
            kind: RotationPolicy
            providers: { g: { type: generate } }
            keys:
              due-key: { provider: g, every: 30d }
              fresh-key: { provider: g, every: 30d }
              windowed-key: { provider: g, every: 30d, window: "Sat-Sun 00:00-06:00 UTC" }
              broken-key: { provider: g, every: 30d }
            """)
        var manifest = "kind: ConsumerManifest\nconsumers:\n"
        for key in ["due-key", "fresh-key", "windowed-key", "broken-key"] {
            manifest += "  \(key)-app: { uses: \(key), targets: [{ env_file: ../deploy/\(key).env, var: SECRET }] }\n"
            try scratch.write("deploy/\(key).env", "SECRET=initial\n")
        }
        try scratch.write("consumers/c.yaml", manifest)
        return scratch
    }

    @Test func runRotatesWhatIsDueAndOneFailingKeyStopsNoOther() throws {
        let scratch = try mixedScratch()
        let at = { (time: String) in ["ROTOR_NOW": time] }
        // Day 0 (Thursday): rotate fresh-key and windowed-key by hand so they have state.
        for key in ["fresh-key", "windowed-key"] {
            #expect(try RotorProcess.run(["rotate", key], in: scratch.url, environment: at(Self.thursday)).status == 0)
        }
        try scratch.write("deploy/broken-key.env", "OTHER=1\n")
        // Day 14 (a Thursday): only due-key (never rotated) and broken-key are due.
        let result = try RotorProcess.run(["run", "--json"], in: scratch.url, environment: at("2026-12-10T10:00:00Z"))
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(document?["version"] as? Int == 1)
        let keys = Dictionary(uniqueKeysWithValues: ((document?["keys"] as? [[String: Any]]) ?? []).map { ($0["key"] as? String ?? "", $0) })
        #expect(keys["due-key"]?["outcome"] as? String == "completed" && keys["due-key"]?["reason"] as? String == "never rotated by rotor")
        #expect(keys["broken-key"]?["outcome"] as? String == "failed")
        #expect((keys["broken-key"]?["message"] as? String)?.contains("preflight failed") == true)
        #expect(keys["fresh-key"]?["due"] as? Bool == false)
        #expect(keys["fresh-key"]?["outcome"] as? String == "skipped", "every key has an outcome (issue #19)")
        #expect(keys["fresh-key"]?["reason"] as? String == "current generation is 14d old; due in 16d (2026-12-26)")
        #expect(keys["windowed-key"]?["due"] as? Bool == false)
        #expect(keys["windowed-key"]?["reason"] as? String == "current generation is 14d old; due in 16d (2026-12-26)")
        // Day 40 on a Thursday: windowed-key is due but outside its window and waits.
        let later = try RotorProcess.run(["run"], in: scratch.url, environment: at("2027-01-07T10:00:00Z"))
        #expect(later.stdout.contains("windowed-key: skipped — not due: current generation is 42d old (every 30d), but outside its window 'Sat-Sun 00:00-06:00 UTC'; waits until 2027-01-09T00:00:00Z"))
        #expect(later.stdout.contains("fresh-key: completed — rotated to "))
        let weekend = try RotorProcess.run(["run"], in: scratch.url, environment: at("2027-01-09T01:00:00Z"))
        #expect(weekend.stdout.contains("windowed-key: completed — rotated to "))
        // broken-key failed three times: run waits (its dry run says so); plan keeps it due and
        // shows what preflight will refuse (exit 1).
        let dryRun = try RotorProcess.run(["run", "--dry-run"], in: scratch.url, environment: at("2027-01-09T02:00:00Z"))
        #expect(dryRun.status == 0 && dryRun.stdout.contains("broken-key  not due: ") && dryRun.stdout.contains("its last rotation failed (3 in a row"), "\(dryRun.stdout)")
        let plan = try RotorProcess.run(["plan"], in: scratch.url, environment: at("2027-01-09T02:00:00Z"))
        #expect(plan.status == 1 && plan.stdout.contains("! preflight will refuse: broken-key-app: deploy/broken-key.env:SECRET"), "\(plan.stdout)")
    }

    @Test func graceDeletionsHappenOnALaterRun() throws {
        let fixture = try RotationFixture(grace: "1h")
        #expect(try fixture.rotor(["rotate", "api-key"], environment: ["ROTOR_NOW": "2026-11-26T10:00:00Z"]).status == 0)
        #expect(try fixture.rotor(["rotate", "api-key"], environment: ["ROTOR_NOW": "2026-11-26T10:05:00Z"]).status == 0)
        #expect(try fixture.vendorKeys().count == 2)
        let early = try fixture.rotor(["run"], environment: ["ROTOR_NOW": "2026-11-26T10:30:00Z"])
        #expect(!early.stdout.contains("deleted generation"))
        #expect(try fixture.vendorKeys().count == 2)
        let late = try fixture.rotor(["run"], environment: ["ROTOR_NOW": "2026-11-26T11:10:00Z"])
        #expect(late.status == 0)
        #expect(late.stdout.contains("deleted generation") && late.stdout.contains("its grace period ended 2026-11-26T11:05:00Z"))
        let current = try #require(try fixture.currentGeneration())
        #expect(try fixture.vendorKeys() == [current.id])
    }

    @Test func statusNamesEveryTargetState() throws {
        let fixture = try RotationFixture(grace: "1h")
        try fixture.rotor(["rotate", "api-key"])
        let previousValue = try fixture.values()[0]
        try fixture.rotor(["rotate", "api-key"])
        #expect(try fixture.rotor(["status"]).status == 0)
        try fixture.scratch.write("deploy/c1/.env", "API_KEY=\(previousValue)\n")                 // stale
        try fixture.scratch.write("deploy/c2/config.json", "{broken")                              // unreadable
        try FileManager.default.removeItem(at: fixture.scratch.url.appendingPathComponent("deploy/c3/values.yaml"))  // missing
        try fixture.scratch.write("deploy/c4/credentials", "[svc]\napi_key = something-else\n")   // unknown
        let result = try fixture.rotor(["status", "--json"])
        #expect(result.status == 2)
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let key = try #require((document?["keys"] as? [[String: Any]])?.first)
        let states = ((key["targets"] as? [[String: Any]]) ?? []).map { $0["state"] as? String ?? "" }
        #expect(states == ["stale", "unreadable", "missing", "unknown", "in-sync", "in-sync"])
        #expect(key["pending_deletion"] != nil && key["overdue"] as? Bool == false)
        let text = try fixture.rotor(["status"])
        #expect(text.stdout.hasSuffix("4 targets not in sync, 0 keys overdue\n"))
    }

    @Test func historyVerifiesItsHashChain() throws {
        let fixture = try RotationFixture()
        try fixture.rotor(["rotate", "api-key"])
        try fixture.rotor(["rotate", "api-key", "--emergency"])
        try fixture.rotor(["rotate", "api-key"], environment: ["VENDOR_FAIL": "check"])
        let history = try fixture.rotor(["history", "api-key"])
        let lines = history.stdout.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[1].contains("break-glass  started  EMERGENCY") && lines[2].contains("rotate  completed  EMERGENCY"))
        #expect(lines[3].contains("rotate  failed"))
        let verified = try fixture.rotor(["history", "--verify"]).stdout
        #expect(verified.hasPrefix("audit log intact: 4 entries, hash chain verified; head 4:") && verified.count == "audit log intact: 4 entries, hash chain verified; head 4:".count + 65, "\(verified)")

        let database = fixture.scratch.url.appendingPathComponent(".rotor/state.db").path
        try Self.sqlite(database, "UPDATE audit SET entry = replace(entry, '\"failed\"', '\"completed\"') WHERE sequence = 4")
        let edited = try fixture.rotor(["history", "--verify"])
        #expect(edited.status == 1)
        #expect(edited.stdout.hasPrefix("audit log BROKEN: entry 4 (rotate of 'api-key' at "))
        try Self.sqlite(database, "DELETE FROM audit WHERE sequence = 2")
        #expect(try fixture.rotor(["history", "--verify"]).stdout
                == "audit log BROKEN: entry 2 is missing or out of order (found entry 3 in its place): entries were deleted or reordered\n")
    }

    /// Found by a reviewer (#18): a garbage last row must break the chain by name, never
    /// be skipped — whatever it holds (not JSON, JSON null, an entry with the wrong sequence,
    /// a copy of a real entry).
    @Test(arguments: ["'garbage'", "'null'", "'{}'", "x'00'",
                      "(SELECT replace(entry, '\"sequence\":1,', '\"sequence\":7,') FROM audit WHERE sequence = 1)",
                      "(SELECT entry FROM audit WHERE sequence = 1)",
                      // Found by an attacker: a blob that is not UTF-8 crashed rotor; a time of
                      // 1e300 seconds passed verify and crashed `history --json`.
                      "x'7B22FF22'", "(SELECT json_set(replace(entry, '\"sequence\":1,', '\"sequence\":5,'), '$.at', 1e300) FROM audit WHERE sequence = 1)",
                      // A member named twice: readers disagree about which counts (second attack).
                      "(SELECT substr(replace(entry, '\"sequence\":1,', '\"sequence\":5,'), 1, length(entry) - 1) || ',\"user\":\"mallory\"}' FROM audit WHERE sequence = 1)"])
    func aGarbageAuditRowBreaksTheChainByName(_ garbage: String) throws {
        let fixture = try RotationFixture()
        try fixture.rotor(["rotate", "api-key"])
        let database = fixture.scratch.url.appendingPathComponent(".rotor/state.db").path
        try Self.sqlite(database, "INSERT INTO audit (sequence, entry) VALUES (5, \(garbage))")
        let verify = try fixture.rotor(["history", "--verify"])
        #expect(verify.status == 1, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.hasPrefix("audit log BROKEN: audit row 5 "), "\(verify.stdout)\(verify.stderr)")
        let shown = try fixture.rotor(["history", "--json"])
        #expect(shown.status == 1 && shown.stderr.contains("'rotor history --verify' names where it is damaged"), "no crash: \(shown.status) \(shown.stderr)")
    }

    /// Found by an attacker (#18): escape sequences in an audit row reached the terminal
    /// through `history`.
    @Test func historyEscapesWhatTheAuditRowsHold() throws {
        let fixture = try RotationFixture()
        try fixture.rotor(["rotate", "api-key"])
        let database = fixture.scratch.url.appendingPathComponent(".rotor/state.db").path
        try Self.sqlite(database, "UPDATE audit SET entry = json_set(entry, '$.user', 'x' || char(27) || ']0;owned' || char(7), '$.key', char(27) || '[2J', '$.run', 'r' || char(10) || '2026-01-01T00:00:00Z  mallory@vm  k1  rotate  completed' || char(8238)) WHERE sequence = 1")
        let history = try fixture.rotor(["history"])
        #expect(history.status == 0)
        #expect(!history.stdout.contains("\u{1B}") && !history.stdout.contains("\u{07}") && !history.stdout.contains("\u{202E}"), "\(history.stdout)")
        #expect(history.stdout.contains("x\\x1b]0;owned\\x07"), "\(history.stdout)")
        // A newline in a field would forge the next entry (second attack): one line per entry.
        #expect(history.stdout.split(separator: "\n").count == 1, "\(history.stdout)")
        #expect(history.stdout.contains("run r\\n2026-01-01"), "\(history.stdout)")
        let verify = try fixture.rotor(["history", "--verify"])
        #expect(verify.status == 1 && !verify.stdout.contains("\u{1B}"), "the key in the broken entry's message is escaped: \(verify.stdout)")
    }

    /// Found by a reviewer (#18): the recorded user came unchecked from SUDO_USER. The
    /// account is the real uid's; the variable is kept beside it as a claim.
    @Test func theAuditLogRecordsTheAccountAndTheSudoClaimBesideIt() throws {
        let fixture = try RotationFixture()
        #expect(try fixture.rotor(["rotate", "api-key"], environment: ["SUDO_USER": "mallory"]).status == 0)
        let account = String(cString: getpwuid(getuid())!.pointee.pw_name)
        let history = try fixture.rotor(["history", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [String: Any]
        let entry = try #require((json?["entries"] as? [[String: Any]])?.last)
        #expect(entry["user"] as? String == account)
        #expect(entry["sudo_user"] as? String == "mallory")
        #expect(try fixture.rotor(["history"]).stdout.contains("\(account) (sudo: mallory)@"))
        #expect(try fixture.rotor(["history", "--verify"]).status == 0, "the claim is part of the hashed entry")
    }

    /// Issue #19 (SPEC, "Onboarding, people and schedules"): ROTOR_NOW must parse — an RFC
    /// 3339 time or a date meaning 00:00 UTC — or the command is a usage error; it was
    /// silently the real time.
    @Test func rotorNowMustParse() throws {
        let fixture = try RotationFixture()
        for bad in ["tomorrow", "2027-13-01", "2027-01-01 09:00"] {
            let result = try fixture.rotor(["plan"], environment: ["ROTOR_NOW": bad])
            #expect(result.status == 64, "\(bad): \(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("ROTOR_NOW="), "\(result.stderr)")
        }
        let day = try fixture.rotor(["plan", "--json"], environment: ["ROTOR_NOW": "2031-01-01"])
        #expect(day.status == 0, "\(day.stdout)\(day.stderr)")
        #expect(day.stdout.contains("2031-01-01T00:00:00Z"), "a date means 00:00 UTC: \(day.stdout.prefix(600))")
    }

    /// Issue #19: an unknown key or run is a usage error for every command.
    @Test func anUnknownKeyOrRunIsAUsageError() throws {
        let fixture = try RotationFixture()
        #expect(try fixture.rotor(["history", "api-key"]).status == 0, "a configured key with no history yet")
        #expect(try fixture.rotor(["history", "nosuch"]).status == 64)
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let rollback = try fixture.rotor(["rollback", "20990101T000000Z-abcdef"])
        #expect(rollback.status == 64 && rollback.stderr.contains("no run '20990101T000000Z-abcdef'"), "\(rollback.stdout)\(rollback.stderr)")
    }

    /// Issue #19's polish list: "rotated — rotated to", "1 targets", "1 checks passed".
    @Test func oneOfAThingIsSaidInTheSingular() throws {
        let setup = try ProviderSecretsTests.Setup()
        let result = try setup.rotor(["run"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("api-key: completed — rotated to "), "\(result.stdout)")
        #expect(result.stderr.contains("preflight ok (1 target)"), "\(result.stderr)")
        let history = try setup.rotor(["rotate", "api-key", "--json"])
        #expect(history.stdout.contains("1 check passed") && history.stdout.contains("1 target ready"), "\(history.stdout)")
    }

    /// Issue #19: `--quiet` printed every key's "skipped" line — the example crontab mailed
    /// every 15 minutes. Now nothing unless something failed or needs a person.
    @Test func quietIsSilentUnlessSomethingFails() throws {
        let setup = try ProviderSecretsTests.Setup()
        for environment in [[:], ["ROTOR_NOW": "2026-12-01T00:00:00Z"]] {
            let result = try setup.rotor(["run", "--quiet"], environment)
            #expect(result.status == 0 && result.stdout.isEmpty && result.stderr.isEmpty, "\(result.stdout)\(result.stderr)")
        }
        let failing = try setup.rotor(["run", "--quiet"], ["ROTOR_NOW": "2031-01-01T00:00:00Z", "VENDOR_FAIL": "check"])
        #expect(failing.status == 1)
        #expect(failing.stdout.contains("api-key: failed — verify-key failed"), "\(failing.stdout)")
    }

    /// Issue 19: an interrupted run was invisible to `status`, `plan` and `sync` until
    /// someone thought of `recover`, and `sync` would write the old generation over the
    /// interrupted run's new one. Each names it and the command that finishes it; `status`
    /// exits 3 while one exists; `sync` changes nothing for its key.
    @Test func statusPlanAndSyncNameAnInterruptedRun() throws {
        let scratch = try ProcessesTests.setup("")
        #expect(try RotorProcess.run(["rotate", "hook"], in: scratch.url).status == 0)
        let crashed = try RotorProcess.run(["rotate", "hook"], in: scratch.url, environment: ["ROTOR_TEST_CRASH_AT": "update.done"])
        #expect(crashed.status != 0)
        let run = try #require(try SQLiteStateStore(path: scratch.url.appendingPathComponent(".rotor/state.db").path).runs().first { $0.finished == nil }?.id)
        let named = "run \(run) of 'hook'"
        let status = try RotorProcess.run(["status"], in: scratch.url)
        #expect(status.status == 3 && status.stdout.contains(named) && status.stdout.contains("rotor recover"), "\(status.stdout)")
        let json = try RotorProcess.run(["status", "--json"], in: scratch.url)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((document["interrupted_runs"] as? [[String: Any]])?.first?["run"] as? String == run, "\(json.stdout)")
        #expect(json.status == 3)
        let plan = try RotorProcess.run(["plan"], in: scratch.url)
        #expect(plan.stderr.contains(named) && plan.stderr.contains("rotor recover"), "\(plan.stderr)")
        let planJSON = try RotorProcess.run(["plan", "--json"], in: scratch.url)
        #expect(planJSON.stdout.contains(named), "\(planJSON.stdout)")
        let before = try scratch.bytes("deploy/.env")
        let sync = try RotorProcess.run(["sync"], in: scratch.url)
        #expect(sync.status == 3 && sync.stdout.contains(named) && sync.stdout.contains("rotor recover"), "\(sync.stdout)")
        #expect(try scratch.bytes("deploy/.env") == before, "sync changed nothing")
        #expect(try RotorProcess.run(["recover"], in: scratch.url).status == 0)
        #expect(try RotorProcess.run(["status"], in: scratch.url).status == 0)
    }

    /// Issue 19: `window` was skipped for a key rotor never rotated, so the first cron run
    /// rotated every key at once, outside every window. The window holds for it too; a
    /// person's `rotate` still rotates at once.
    @Test func aWindowHoldsForAKeysFirstRotation() throws {
        let scratch = try Scratch()
        try scratch.writeGeneratedKey(#"every: 30d, grace: 0s, window: "Mon-Fri 09:00-17:00 UTC""#)
        try scratch.writeHookConsumer("    targets:\n      - env_file: ../deploy/.env\n        var: HOOK_SECRET\n")
        try scratch.write("deploy/.env", "HOOK_SECRET=initial\n")
        let sunday = ["ROTOR_NOW": "2026-12-06T12:00:00Z"]
        try scratch.startStateStore()
        let plan = try RotorProcess.run(["plan", "--detailed-exitcode"], in: scratch.url, environment: sunday)
        #expect(plan.status == 0, "nothing due on a Sunday: \(plan.stdout)")
        #expect(plan.stdout.contains("never rotated by rotor, but outside its window 'Mon-Fri 09:00-17:00 UTC'; waits until 2026-12-07T09:00:00Z"), "\(plan.stdout)")
        let run = try RotorProcess.run(["run"], in: scratch.url, environment: sunday)
        let untouched = String(decoding: try scratch.bytes("deploy/.env"), as: UTF8.self)
        #expect(run.status == 0 && untouched == "HOOK_SECRET=initial\n", "\(run.stdout)")
        let monday = try RotorProcess.run(["run"], in: scratch.url, environment: ["ROTOR_NOW": "2026-12-07T09:30:00Z"])
        let rotated = String(decoding: try scratch.bytes("deploy/.env"), as: UTF8.self)
        #expect(monday.status == 0 && rotated != "HOOK_SECRET=initial\n", "\(monday.stdout)")
        // A person rotating by hand is not held by the window.
        let byHand = try Scratch()
        try byHand.write("policies/key.yaml", String(decoding: try scratch.bytes("policies/key.yaml"), as: UTF8.self))
        try byHand.write("consumers/app.yaml", String(decoding: try scratch.bytes("consumers/app.yaml"), as: UTF8.self))
        try byHand.write("deploy/.env", "HOOK_SECRET=initial\n")
        #expect(try RotorProcess.run(["rotate", "hook"], in: byHand.url, environment: sunday).status == 0)
    }

    /// Issue 19: `plan --out` saved a plan it exited 1 on and still said "run it with:
    /// rotor apply". A plan preflight would refuse is not saved.
    @Test func aPlanThatWouldBeRefusedIsNotSaved() throws {
        let scratch = try ProcessesTests.setup("")
        #expect(unlink(scratch.url.appendingPathComponent("deploy/.env").path) == 0)
        #expect(mkfifo(scratch.url.appendingPathComponent("deploy/.env").path, 0o600) == 0)
        let plan = try RotorProcess.run(["plan", "--out", "plan.json"], in: scratch.url)
        #expect(plan.status == 1, "\(plan.stdout)")
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("plan.json").path))
        #expect(plan.stderr.contains("plan not saved to plan.json: preflight would refuse 1 target") && !plan.stderr.contains("rotor apply"), "\(plan.stderr)")
    }

    /// Issue 19: deleting the newest audit rows went unnoticed by `history --verify`. The
    /// runs are cross-checked now, and a head published earlier (`--head SEQ:HASH`, from the
    /// metrics file or a webhook) shows a cut tail or a rewritten chain even with the runs
    /// deleted too.
    @Test func historyVerifyCatchesACutTailThroughTheRunsAndAPublishedHead() throws {
        let scratch = try ProcessesTests.setup("")
        let metrics = scratch.url.appendingPathComponent("rotor.prom").path
        for _ in 0..<3 { #expect(try RotorProcess.run(["rotate", "hook"], in: scratch.url).status == 0) }
        #expect(try RotorProcess.run(["run", "--metrics-file", metrics], in: scratch.url).status == 0)
        let line = try #require(try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("rotor_audit_head_sequence{") })
        let hash = try #require(line.firstMatch(of: /hash="([0-9a-f]{64})"\} (\d+)/))
        let head = "\(hash.2):\(hash.1)"
        let intact = try RotorProcess.run(["history", "--verify", "--head", head], in: scratch.url)
        #expect(intact.status == 0 && intact.stdout.contains("head \(head)"), "\(intact.stdout)")
        let database = scratch.url.appendingPathComponent(".rotor/state.db").path
        try Self.sqlite(database, "DELETE FROM audit WHERE sequence = (SELECT max(sequence) FROM audit)")
        let cut = try RotorProcess.run(["history", "--verify"], in: scratch.url)
        #expect(cut.status == 1 && cut.stdout.contains("the audit log has no entry for 1 finished run"), "\(cut.stdout)")
        try Self.sqlite(database, "DELETE FROM runs WHERE id NOT IN (SELECT json_extract(entry, '$.run') FROM audit)")
        let cutWithRuns = try RotorProcess.run(["history", "--verify", "--head", head], in: scratch.url)
        #expect(cutWithRuns.status == 1 && cutWithRuns.stdout.contains("ends at entry \(Int(hash.2)! - 1), before the published head \(hash.2)"), "\(cutWithRuns.stdout)")
        let wrong = try RotorProcess.run(["history", "--verify", "--head", "1:" + String(repeating: "0", count: 64)], in: scratch.url)
        #expect(wrong.status == 1 && wrong.stdout.contains("entry 1 is not the one published"), "\(wrong.stdout)")
        let malformed = try RotorProcess.run(["history", "--verify", "--head", "nonsense"], in: scratch.url)
        #expect(malformed.status == 64, "\(malformed.stderr)")
    }

    static func samples(_ path: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            samples[String(parts[0])] = parts.count == 2 ? Double(parts[1]) : nil
        }
        return samples
    }

    /// Issue 19: a `{id}` target holding the current id counted as drifted forever (the
    /// shipped AWS example's AccessKeyId), and a key whose rotation failed read "completed"
    /// when its grace-period deletion completed after it in the same run: each key's outcome
    /// is now the worst of what this run did for it.
    @Test func metricsCountIdTargetsByIdAndGiveEachKeyTheWorstOutcomeOfTheRun() throws {
        let scratch = try Scratch()
        try scratch.writeGeneratedKey("every: 30d, grace: 1h")
        try scratch.writeHookConsumer("""
                targets:
                  - env_file: ../deploy/.env
                    var: HOOK_SECRET
                  - env_file: ../deploy/.env
                    var: HOOK_ID
                    value: "{id}"
            """)
        try scratch.write("deploy/.env", "HOOK_SECRET=initial\nHOOK_ID=none\n")
        let metrics = scratch.url.appendingPathComponent("rotor.prom").path
        for _ in 0..<2 { #expect(try RotorProcess.run(["rotate", "hook"], in: scratch.url).status == 0) }
        #expect(try RotorProcess.run(["run", "--metrics-file", metrics], in: scratch.url).status == 0)
        #expect(try Self.samples(metrics)["rotor_key_drifted_targets{key=\"hook\"}"] == 0)
        // A month on: the rotation is due and fails at preflight (its file is gone); the old
        // generation's grace has ended, so the same run deletes it — which must not hide the failure.
        #expect(rename(scratch.url.appendingPathComponent("deploy/.env").path, scratch.url.appendingPathComponent("deploy/env.kept").path) == 0)
        let later = try RotorProcess.run(["run", "--metrics-file", metrics], in: scratch.url, environment: ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(31 * 86_400))])
        #expect(later.status == 1 && later.stdout.contains("deleted generation"), "\(later.stdout)")
        let samples = try Self.samples(metrics)
        #expect(samples["rotor_key_last_run_outcome{key=\"hook\",outcome=\"failed\"}"] == 1, "\(samples)")
        #expect(samples["rotor_key_last_run_outcome{key=\"hook\",outcome=\"completed\"}"] == 0)
    }

    @Test func metricsFileIsPrometheusTextfile() throws {
        let fixture = try RotationFixture()
        let metrics = fixture.scratch.url.appendingPathComponent("rotor.prom").path
        try fixture.scratch.startStateStore()
        #expect(try fixture.rotor(["run", "--metrics-file", metrics], environment: ["ROTOR_NOW": "2026-11-26T10:00:00Z"]).status == 0)
        let text = try String(contentsOfFile: metrics, encoding: .utf8)
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 2, "not a sample line: \(line)")
            samples[String(parts[0])] = Double(parts[1])
        }
        #expect(samples["rotor_key_generation_age_seconds{key=\"api-key\"}"] == 0)
        let rotatedAt = try #require(ISO8601DateFormatter().date(from: "2026-11-26T10:00:00Z")).timeIntervalSince1970
        #expect(samples["rotor_key_last_rotation_timestamp_seconds{key=\"api-key\"}"] == rotatedAt)
        #expect(samples["rotor_key_last_run_outcome{key=\"api-key\",outcome=\"completed\"}"] == 1)
        #expect(samples["rotor_key_drifted_targets{key=\"api-key\"}"] == 0)
        #expect(text.contains("# TYPE rotor_key_generation_age_seconds gauge"))
    }

    static func sqlite(_ database: String, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [database, sql]
        try process.run()
        process.waitUntilExit()
    }
}

@Suite(.serialized) struct SyncCommandTests {
    @Test func syncHealsDriftedTargetsFromOneInSync() throws {
        let fixture = try RotationFixture()
        try fixture.rotor(["rotate", "api-key"])
        let value = try fixture.values()[0]
        try fixture.scratch.write("deploy/c1/.env", "# c1\nexport API_KEY='drifted' # rotated by rotor\r\nOTHER=1\n")
        try fixture.scratch.write("deploy/c4/credentials", "[default]\nregion = eu\n\n[svc]\napi_key = drifted\n")
        let dryRun = try fixture.rotor(["sync", "--dry-run"])
        #expect(dryRun.stdout.contains("would write the current generation (read from deploy/c2/config.json:/auth/apiKey) into: deploy/c1/.env:API_KEY (unknown), deploy/c4/credentials:[svc] api_key (unknown)"))
        #expect(try fixture.values()[0] == "drifted")
        let result = try fixture.rotor(["sync"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(Set(try fixture.values()) == [value])
        #expect(try String(decoding: fixture.scratch.bytes("deploy/c1/.env"), as: UTF8.self) == "# c1\nexport API_KEY='\(value)' # rotated by rotor\r\nOTHER=1\n")
        #expect(try fixture.rotor(["status"]).status == 0)
        #expect(try fixture.rotor(["history"]).stdout.contains("sync  completed"))
    }

    @Test func syncRefusesWhenNothingHoldsTheCurrentGeneration() throws {
        let fixture = try RotationFixture()
        try fixture.rotor(["rotate", "api-key"])
        let value = try fixture.values()[0]
        for path in RotationFixture.targetFiles {
            let text = try String(decoding: fixture.scratch.bytes(path), as: UTF8.self)
            try fixture.scratch.write(path, text.replacingOccurrences(of: value, with: "lost"))
        }
        let result = try fixture.rotor(["sync"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("no target holds the current generation (sha256:"))
        #expect(result.stdout.contains("rotor stores no secrets: rotate the key instead (rotor rotate api-key)"))
        #expect(Set(try fixture.values()) == ["lost"])
    }
}

@Suite(.serialized) struct ApplyCommandTests {
    @Test func aReviewedPlanRunsExactly() throws {
        let fixture = try RotationFixture()
        try fixture.scratch.startStateStore()  // apply, unattended, never starts one
        let plan = try fixture.rotor(["plan", "--out", "rotation.plan"])
        #expect(plan.status == 0 && plan.stderr.contains("plan saved to rotation.plan; run it with: rotor apply rotation.plan"))
        let saved = try String(decoding: fixture.scratch.bytes("rotation.plan"), as: UTF8.self)
        #expect(saved.contains("\"kind\" : \"rotor-plan\"") && saved.contains("\"consumers/services.yaml\" : \"sha256:"))
        #expect(!saved.contains(RotationFixture.initial), "the plan holds fingerprints, not values")
        let applied = try fixture.rotor(["apply", "rotation.plan"])
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect(!(try fixture.values()).contains(RotationFixture.initial))
    }

    @Test func aStalePlanIsRefusedNamingWhatChanged() throws {
        let fixture = try RotationFixture()
        try fixture.rotor(["plan", "--out", "rotation.plan"])
        let manifest = try String(decoding: fixture.scratch.bytes("consumers/services.yaml"), as: UTF8.self)
        try fixture.scratch.write("consumers/services.yaml", manifest + "\n# reviewed? no\n")
        try fixture.scratch.write("deploy/c5/.env", "API_KEY=changed-by-someone\n")
        let before = try fixture.snapshot()
        let result = try fixture.rotor(["apply", "rotation.plan"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("refusing to apply rotation.plan: things changed since it was made:\n  consumers/services.yaml was edited\n  deploy/c5/.env:API_KEY changed since the plan (was \(Fingerprint.of(RotationFixture.initial)), now \(Fingerprint.of("changed-by-someone")))\n"))
        #expect(try fixture.snapshot() == before)
        #expect(try fixture.vendorKeys().isEmpty)
        #expect(try fixture.rotor(["apply", "nope.plan"]).status == 64)
    }
}

@Suite(.serialized) struct NotificationTests {
    @Test func webhooksHearSuccessFailureAndEmergencyWithoutTheSecret() throws {
        let fixture = try RotationFixture()
        let policy = try String(decoding: fixture.scratch.bytes("policies/vendor.yaml"), as: UTF8.self)
        try fixture.scratch.write("policies/vendor.yaml", policy.replacingOccurrences(of: "    grace: 0s\n", with: """
                grace: 0s
                notify:
                  - webhook: "http://127.0.0.1:\(fixture.health.port)/hook/all"
                  - webhook: "http://127.0.0.1:\(fixture.health.port)/status/500"
                    on: [failure]

            """))
        #expect(try fixture.rotor(["validate"]).status == 0)
        fixture.environment["VENDOR_SECRET_PREFIX"] = "CANARYhook-"
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let failed = try fixture.rotor(["rotate", "api-key"], environment: ["VENDOR_FAIL": "check"])
        #expect(failed.status == 1, "a failing webhook does not change the outcome")
        #expect(failed.stderr.contains("notification failed: webhook at 127.0.0.1 answered 500 (the rotation is unaffected)"))
        #expect(try fixture.rotor(["rotate", "api-key", "--emergency"]).status == 0)
        let posts = fixture.health.requests.filter { $0.hasPrefix("POST /hook/all ") }
        #expect(posts.count == 3)
        let payloads = posts.compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst("POST /hook/all ".count).utf8)) as? [String: Any] }
        #expect(payloads.map { $0["outcome"] as? String } == ["completed", "failed", "completed"])
        #expect(payloads.map { $0["emergency"] as? Bool } == [false, false, true])
        #expect((payloads[0]["text"] as? String)?.hasPrefix("rotor: api-key rotated on ") == true)
        #expect((payloads[2]["text"] as? String)?.hasPrefix("rotor: EMERGENCY api-key rotated") == true)
        #expect((payloads[0]["new_fingerprint"] as? String)?.hasPrefix("sha256:") == true)
        // Issue 19: each payload publishes the audit chain's head after the rotation, which
        // `history --verify --head` checks the log against later.
        let entries = try #require(try SQLiteStateStore(path: fixture.scratch.url.appendingPathComponent(".rotor/state.db").path).auditLog())
        let heads = payloads.compactMap { $0["audit_head"] as? String }
        #expect(heads.count == 3 && heads.last == "\(entries.last!.sequence):\(entries.last!.hash)", "\(heads)")
        for head in heads { #expect(try fixture.rotor(["history", "--verify", "--head", head]).status == 0) }
        #expect(!fixture.health.requests.joined().contains("CANARYhook-"))
    }
}

@Suite(.serialized) struct EmergencyTests {
    @Test func anEmergencyReportsEveryConsumer() throws {
        let fixture = try RotationFixture(healthPath: "/status/500")
        let result = try fixture.rotor(["rotate", "api-key", "--emergency"])
        #expect(result.status == 3)
        #expect(result.stdout.contains("  c1: failed — c1: health check failed: GET http://127.0.0.1:\(fixture.health.port)/status/500: answered 500, expected 200"))
        // c1 is the canary: the others were never touched, and are accounted for as such.
        for consumer in ["c2", "c3", "c4", "c5"] {
            #expect(result.stdout.contains("  \(consumer): not touched"), "\(consumer) missing: \(result.stdout)")
        }
        #expect(try fixture.rotor(["history"]).stdout.contains("break-glass  started  EMERGENCY"))
    }

    /// The incident runbook (docs/incident.md) as written, with the targets holding a key
    /// rotor did not issue (pasted by hand). Issue 19: `--revoke-first` revoked rotor's
    /// recorded generation and said "old generation revoked first" with exit 0, while the
    /// deployed — leaked — key stayed live. Now it says that key is unknown and must be
    /// revoked by hand (exit 3); rotor's own is revoked too.
    @Test func theIncidentRunbookWithTargetsHoldingAnUnknownKey() throws {
        let fixture = try RotationFixture()
        // c1 also keeps the key's id (an `{id}` target), which the report may name.
        let manifest = String(decoding: try fixture.scratch.bytes("consumers/services.yaml"), as: UTF8.self)
        try fixture.scratch.write("consumers/services.yaml", manifest.replacingOccurrences(of: "      - env_file: ../deploy/c1/.env\n        var: API_KEY\n",
            with: "      - env_file: ../deploy/c1/.env\n        var: API_KEY\n      - { env_file: ../deploy/c1/.env, var: API_KEY_ID, value: \"{id}\", create: true }\n"))
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let recorded = try #require(try fixture.currentGeneration())
        let current = try #require(try fixture.values().first)
        let pasted = "pasted-by-hand-CANARY-4242"
        for file in RotationFixture.targetFiles {
            let text = String(decoding: try fixture.scratch.bytes(file), as: UTF8.self)
            try fixture.scratch.write(file, text.replacingOccurrences(of: current, with: pasted))
        }
        // Second attack review: an `{id}` target holding the pasted key with a letter in
        // front was named in the report, the key with it.
        let c1 = String(decoding: try fixture.scratch.bytes("deploy/c1/.env"), as: UTF8.self)
        try fixture.scratch.write("deploy/c1/.env", c1.replacingOccurrences(of: "API_KEY_ID=\(recorded.id)", with: "API_KEY_ID=x\(pasted)"))
        #expect(String(decoding: try fixture.scratch.bytes("deploy/c1/.env"), as: UTF8.self).contains("API_KEY_ID=x\(pasted)"))
        // 1. Find the key: its targets hold something rotor did not issue.
        let found = try fixture.rotor(["status"])
        #expect(found.status == 2 && found.stdout.contains("c1: deploy/c1/.env:API_KEY  unknown"), "\(found.stdout)")
        #expect(found.stdout.contains(String(Fingerprint.of(pasted).dropFirst("sha256:".count))) == false, "status shows states, not the unknown key's fingerprint")
        // 2. See what will happen.
        let dryRun = try fixture.rotor(["rotate", "api-key", "--emergency", "--revoke-first", "--dry-run"])
        #expect(dryRun.status == 0 && dryRun.stdout.contains("REVOKE FIRST"), "\(dryRun.stdout)")
        #expect(dryRun.stdout.contains("WARNING: the targets hold a key rotor did not issue (\(Fingerprint.of(pasted))): revoke-first cannot revoke it"), "\(dryRun.stdout)")
        #expect(dryRun.stdout.contains("confirm-revoked "), "the step's name is not cut: \(dryRun.stdout)")
        // 4. Rotate.
        let result = try fixture.rotor(["rotate", "api-key", "--emergency", "--revoke-first"])
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("but the DEPLOYED KEY IS UNKNOWN to rotor and still live: revoke it by hand"), "\(result.stdout)")
        #expect(result.stdout.contains("left to do: revoke by hand, at provider 'vendor', the key the targets held (\(Fingerprint.of(pasted)) at c1: deploy/c1/.env:API_KEY"), "\(result.stdout)")
        #expect(!(result.stdout + result.stderr).contains(pasted), "the pasted key's value is never printed")
        #expect(try !fixture.vendorKeys().contains(recorded.id), "rotor's recorded generation was revoked too")
        let new = try #require(try fixture.currentGeneration())
        #expect(try fixture.values().allSatisfy { Fingerprint.of($0) == new.fingerprint }, "every consumer is on the new key")
        // 6. Check.
        #expect(try fixture.rotor(["status", "api-key"]).status == 0)
        #expect(try fixture.rotor(["history", "api-key"]).stdout.contains("break-glass  started  EMERGENCY"))
        #expect(try fixture.rotor(["history", "--verify"]).status == 0)
        // With the targets on rotor's own generation, revoke-first is what it says.
        let known = try fixture.rotor(["rotate", "api-key", "--emergency", "--revoke-first"])
        #expect(known.status == 0 && known.stdout.contains("old generation revoked first"), "\(known.stdout)")
    }
}
