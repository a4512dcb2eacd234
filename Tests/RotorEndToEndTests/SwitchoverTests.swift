import Foundation
import Testing
@testable import RotorCore

/// A consumer that holds an id and a secret never sees half a credential, whatever a
/// watcher reads or wherever rotor is killed (issue 26, part 1).
@Suite(.serialized) struct SwitchoverTests {
    /// A consumer `pair` with `{id}` and `{secret}` in one env file and in one JSON file, and
    /// a consumer `split` with the id and the secret in two env files (the id file listed
    /// first, so that only rotor's ordering rule can keep the pair sound).
    final class PairFixture {
        let scratch: Scratch
        let environment: [String: String]

        init() throws {
            scratch = try Scratch()
            environment = ["VENDOR_DB": scratch.url.appendingPathComponent("vendor-db.json").path]
            let vendor = RotationFixture.peers.appendingPathComponent("vendor.py").path
            try scratch.write("policies/vendor.yaml", """
                kind: RotationPolicy
                \(RotationFixture.vendorProvider)
                keys:
                  api-key:
                    provider: vendor
                    every: 30d
                    grace: 0s
                    confirm_revoked_within: 0s
                    name: "{key}-{timestamp}"
                    verify:
                      - exec: [python3, \(vendor), check]
                        stdin: "{secret}"
                """)
            try scratch.write("consumers/services.yaml", """
                kind: ConsumerManifest
                consumers:
                  pair:
                    uses: api-key
                    targets:
                      - env_file: ../deploy/pair/.env
                        var: KEY_ID
                        value: "{id}"
                      - json_file: ../deploy/pair/config.json
                        pointer: /auth/id
                        value: "{id}"
                      - env_file: ../deploy/pair/.env
                        var: KEY_SECRET
                      - json_file: ../deploy/pair/config.json
                        pointer: /auth/secret
                    reload: [touch, ../deploy/pair/reloaded]
                  split:
                    uses: api-key
                    targets:
                      - env_file: ../deploy/split/id.env
                        var: KEY_ID
                        value: "{id}"
                      - env_file: ../deploy/split/secret.env
                        var: KEY_SECRET
                    reload: [touch, ../deploy/split/reloaded]
                """)
            try scratch.write("deploy/pair/.env", "# pair\nKEY_ID=AKINITIAL\nOTHER=1\nKEY_SECRET=initial-secret-0001\n")
            try scratch.write("deploy/pair/config.json", "{\"auth\": {\"id\": \"AKINITIAL\", \"region\": \"eu\", \"secret\": \"initial-secret-0001\"}}\n")
            try scratch.write("deploy/split/id.env", "KEY_ID=AKINITIAL\n")
            try scratch.write("deploy/split/secret.env", "KEY_SECRET=initial-secret-0001\n")
        }

        @discardableResult
        func rotor(_ arguments: [String], environment extra: [String: String] = [:]) throws -> RotorProcess.Result {
            try RotorProcess.run(arguments, in: scratch.url, environment: environment.merging(extra) { $1 })
        }

        /// The vendor's keys: id → secret.
        func vendorSecrets() throws -> [String: String] {
            let data = try Data(contentsOf: scratch.url.appendingPathComponent("vendor-db.json"))
            let db = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            let keys = db?["keys"] as? [[String: String]] ?? []
            return Dictionary(uniqueKeysWithValues: keys.compactMap { key in key["id"].flatMap { id in key["secret"].map { (id, $0) } } })
        }

        /// The three pairs a reader can assemble now, read with python-dotenv and json.
        func pairs() throws -> [String: [String]] {
            let script = """
                import json, sys, dotenv
                root = sys.argv[1]
                e = dotenv.dotenv_values(root + "/deploy/pair/.env")
                j = json.load(open(root + "/deploy/pair/config.json"))["auth"]
                print(json.dumps({"same-env": [e["KEY_ID"], e["KEY_SECRET"]], "same-json": [j["id"], j["secret"]],
                                  "split": [dotenv.dotenv_values(root + "/deploy/split/id.env")["KEY_ID"],
                                            dotenv.dotenv_values(root + "/deploy/split/secret.env")["KEY_SECRET"]]}))
                """
            let (status, output) = try RotorProcess.spawn(["/usr/bin/env", "python3", "-c", script, scratch.url.path])
            guard status == 0, let pairs = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [String]] else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "a pair file does not parse: \(output)"])
            }
            return pairs
        }
    }

    @Test func aWatcherNeverSeesAMixedPairDuringTwentyRotations() throws {
        let fixture = try PairFixture()
        let stop = fixture.scratch.url.appendingPathComponent("stop")
        let out = fixture.scratch.url.appendingPathComponent("pairs.json")
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        watcher.arguments = ["python3", RotationFixture.peers.appendingPathComponent("watch_pairs.py").path, fixture.scratch.url.path, stop.path, out.path]
        try watcher.run()
        for round in 1...20 {
            let result = try fixture.rotor(["rotate", "api-key", "--quiet"])
            #expect(result.status == 0, "round \(round): \(result.stdout)\(result.stderr)")
        }
        FileManager.default.createFile(atPath: stop.path, contents: nil)
        watcher.waitUntilExit()
        #expect(watcher.terminationStatus == 0, "the watcher failed reading a pair (a file did not parse)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        let seen = try #require(report["pairs"] as? [String: [[String]]])
        #expect((report["reads"] as? Int ?? 0) > 100, "the watcher read too rarely to prove anything")

        for source in ["same-env", "same-json"] {
            let pairs = seen[source] ?? []
            #expect(pairs.count >= 21, "\(source): the watcher should have seen every generation")
            // One file, one rename: an id is only ever seen with its own secret.
            #expect(Set(pairs.map { $0[0] }).count == pairs.count, "\(source): an id seen with two secrets: \(Self.masked(pairs))")
            #expect(Set(pairs.map { $0[1] }).count == pairs.count, "\(source): a secret seen with two ids: \(Self.masked(pairs))")
        }
        // Two files: the secret may be newer than the id (never the other way round).
        let split = seen["split"] ?? []
        let idOrder = Self.firstAppearance(split.map { $0[0] })
        let secretOrder = Self.firstAppearance(split.map { $0[1] })
        for pair in split {
            #expect(idOrder[pair[0]]! <= secretOrder[pair[1]]!, "split: a new id was readable beside an old secret: \(Self.masked([pair]))")
        }
        // And the last pair is the current generation, everywhere.
        let current = try fixture.vendorSecrets()
        #expect(current.count == 1)
        for (source, pair) in try fixture.pairs() {
            #expect(current[pair[0]] == pair[1], "\(source) does not hold the current generation")
        }
    }

    static func firstAppearance(_ values: [String]) -> [String: Int] {
        var order: [String: Int] = [:]
        for value in values where order[value] == nil { order[value] = order.count }
        return order
    }

    static func masked(_ pairs: [[String]]) -> String {
        pairs.map { "(\($0[0]), \(Fingerprint.of($0[1])))" }.joined(separator: " ")
    }

    /// kill -9 at every journal point of the switch, then `recover`: each pair matches a
    /// generation the vendor holds, in every file — also the variable a third consumer
    /// keeps in the pair's file (a shared file in the crash matrix).
    @Test(arguments: ["update.intent#1", "update.intent#2", "update.intent#3", "update.done#1", "update.done#2",
                      "update.intent#5", "update.done#6", "update.intent#7", "update.done#7", "reload.intent#1", "reload.done#2",
                      "restore.intent#1", "verify.done", "commit.done", "delete.intent"])
    func aCrashAnywhereInTheSwitchLeavesMatchingPairs(_ point: String) throws {
        let fixture = try PairFixture()
        let manifest = String(decoding: try fixture.scratch.bytes("consumers/services.yaml"), as: UTF8.self)
        try fixture.scratch.write("consumers/services.yaml", manifest + "\n" + """
              sharing:
                uses: api-key
                targets: [{ env_file: ../deploy/pair/.env, var: SHARED_SECRET, create: true }]
                health: { exec: [sh, -c, "test ! -e ../deploy/fail-health"] }

            """)
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        if point.hasPrefix("restore") {
            // A rollback to crash in: the sharing consumer's health fails this time.
            try fixture.scratch.write("deploy/fail-health", "")
        }
        let crashed = try fixture.rotor(["rotate", "api-key"], environment: ["ROTOR_TEST_CRASH_AT": point])
        #expect(crashed.status == 9, "rotor should have been killed at \(point): \(crashed.stdout)\(crashed.stderr)")
        try? FileManager.default.removeItem(at: fixture.scratch.url.appendingPathComponent("deploy/fail-health"))
        let recovered = try fixture.rotor(["recover"])
        #expect(recovered.status == 0, "\(recovered.stdout)\(recovered.stderr)")
        let vendor = try fixture.vendorSecrets()
        let pairs = try fixture.pairs()
        for (source, pair) in pairs {
            #expect(vendor[pair[0]] == pair[1], "after a crash at \(point) and recover, \(source) holds a pair the vendor does not know")
        }
        #expect(Set(pairs.values.map { $0[0] }).count == 1, "every consumer on one generation")
        let shared = try EnvFileFormat(variable: "SHARED_SECRET").read(Array(fixture.scratch.bytes("deploy/pair/.env"))).get()
        #expect(shared == pairs["same-env"]?[1], "the consumer sharing the file is on the same generation")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
    }

    /// Eight consumers, one env file: their edits queue on the file, so none undoes another's
    /// (issue 17, item 1: one rotation ended "completed" with K2 on the deleted generation).
    @Test func consumersSharingAFileNeverUndoEachOther() throws {
        let fixture = try RotationFixture()
        let consumers = (1...8).map { index in """
              s\(index):
                uses: api-key
                targets:
                  - env_file: ../deploy/shared.env
                    var: K\(index)
            """ }.joined(separator: "\n")
        try fixture.scratch.write("consumers/services.yaml", "kind: ConsumerManifest\nconsumers:\n" + consumers + "\n")
        try fixture.scratch.write("deploy/shared.env", (1...8).map { "K\($0)=initial-secret-0001\n" }.joined())
        for round in 1...10 {
            let result = try fixture.rotor(["rotate", "api-key", "--parallel", "8", "--quiet"])
            #expect(result.status == 0, "round \(round): \(result.stdout)\(result.stderr)")
            let current = try #require(try fixture.currentGeneration())
            let text = String(decoding: try fixture.scratch.bytes("deploy/shared.env"), as: UTF8.self)
            let values = try (1...8).map { try EnvFileFormat(variable: "K\($0)").read(Array(text.utf8)).get() }
            #expect(values.allSatisfy { Fingerprint.of($0) == current.fingerprint }, "round \(round): a consumer's edit was undone: \(values.map(Fingerprint.of))")
        }
    }

    /// Found by an attacker: a rollback restored whole-file backups in the order consumers
    /// finished, not the order they wrote, and left a consumer on the deleted new key.
    @Test func aRollbackPutsBackOnlyWhatEachEditChanged() throws {
        let fixture = try RotationFixture()
        try fixture.scratch.write("consumers/services.yaml", """
            kind: ConsumerManifest
            consumers:
              a:
                uses: api-key
                targets:
                  - env_file: ../deploy/shared.env
                    var: A_KEY
                health: { exec: [sleep, "1"] }
              b:
                uses: api-key
                targets:
                  - env_file: ../deploy/shared.env
                    var: B_KEY
                health: { exec: [grep, -q, "B_KEY=initial", ../deploy/shared.env] }
            """)
        try fixture.scratch.write("deploy/shared.env", "# shared\nA_KEY=initial-secret-0001\nB_KEY=initial-secret-0001\n")
        let before = try fixture.scratch.bytes("deploy/shared.env")
        for round in 1...3 {
            let result = try fixture.rotor(["rotate", "api-key"])
            #expect(result.status == 1, "round \(round): \(result.stdout)\(result.stderr)")
            #expect(try fixture.scratch.bytes("deploy/shared.env") == before, "round \(round): the file is not back as it was")
        }
    }

    /// Found by an attacker (second round): two consumers writing one variable; the rollback
    /// went in the order the consumers finished, so the later write's backup (holding the
    /// new value) was restored last. Restores go in reverse order of the writes, and a file
    /// nobody else changed comes back byte for byte (quoting included).
    @Test func twoConsumersOfOneVariableRollBackInReverseWriteOrder() throws {
        let fixture = try RotationFixture()
        try fixture.scratch.write("consumers/services.yaml", """
            kind: ConsumerManifest
            consumers:
              api:
                uses: api-key
                targets: [{ env_file: ../deploy/shared.env, var: K }]
                health: { exec: [sh, -c, "sleep 1; test -e ../hc-ok && exit 0; touch ../hc-ok; exit 1"] }
              worker:
                uses: api-key
                targets: [{ env_file: ../deploy/shared.env, var: K }]
            """)
        try fixture.scratch.write("deploy/shared.env", "export K=initial-secret-0001 # kept\n")
        let before = try fixture.scratch.bytes("deploy/shared.env")
        for round in 1...4 {
            try? FileManager.default.removeItem(at: fixture.scratch.url.appendingPathComponent("hc-ok"))
            let result = try fixture.rotor(["rotate", "api-key"], environment: ["VENDOR_SECRET_PREFIX": "vk+/"])
            #expect(result.status == 1, "round \(round): \(result.stdout)\(result.stderr)")
            let after = try fixture.scratch.bytes("deploy/shared.env")
            #expect(after == before, "round \(round): \(String(decoding: after, as: UTF8.self))")
        }
    }

    /// Found by an attacker (second round): a target with two hard links was replaced
    /// through one name, splitting it from the other. Such a target is refused.
    @Test func aHardLinkedTargetIsRefused() throws {
        let fixture = try PairFixture()
        #expect(link(fixture.scratch.url.appendingPathComponent("deploy/split/id.env").path,
                     fixture.scratch.url.appendingPathComponent("deploy/split/hard.env").path) == 0)
        let result = try fixture.rotor(["rotate", "api-key"])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("2 hard links"), "\(result.stdout)")
    }

    /// Found by an attacker (second round): `{id}` in an exec target's stdin was written as
    /// the literal text `{id}`.
    @Test func anExecTargetGetsTheGenerationsID() throws {
        let fixture = try RotationFixture()
        let vendor = RotationFixture.peers.appendingPathComponent("vendor.py").path
        try fixture.scratch.write("consumers/services.yaml", """
            kind: ConsumerManifest
            consumers:
              store:
                uses: api-key
                targets:
                  - exec: [python3, \(vendor), put, ../deploy/pair.txt]
                    stdin: "{id}:{secret}"
            """)
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let current = try #require(try fixture.currentGeneration())
        let text = String(decoding: try fixture.scratch.bytes("deploy/pair.txt"), as: UTF8.self)
        #expect(text.hasPrefix("\(current.id):"), "\(text.prefix(12))…")
    }

    /// Found by an attacker (second round): a vendor's escape sequences reached the terminal
    /// raw, in its error messages and in an id it returned.
    @Test func aVendorsEscapeSequencesNeverReachTheTerminal() throws {
        let fixture = try RotationFixture()
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        var outputs: [String] = []
        for environment in [["VENDOR_FAIL": "create"], [:], ["VENDOR_FAIL": "delete"]] {
            let result = try fixture.rotor(["rotate", "api-key"], environment: environment.merging(["VENDOR_ESC": "1"]) { $1 })
            outputs += [result.stdout, result.stderr]
            #expect(result.status != 0, "\(environment): \(result.stdout)")
            if environment.isEmpty {
                #expect(try fixture.vendorKeys().count == 1, "the generation with an unshowable id was found by name and deleted")
            }
        }
        outputs += [try fixture.rotor(["history"]).stdout, try fixture.rotor(["status"]).stdout]
        for output in outputs { #expect(!output.contains("\u{1B}") && !output.contains("\u{07}"), "raw control characters: \(output.prefix(400))") }
        #expect(outputs.joined().contains("\\x1b"), "what the vendor printed is shown, escaped")
    }

    /// Found by an attacker: `rollback RUN` wrote its whole-file backup back over another
    /// key's later rotation in the same file.
    @Test func rollbackRunLeavesAnotherKeysLaterEditAlone() throws {
        let fixture = try PairFixture()
        try fixture.scratch.write("policies/vendor.yaml", """
            kind: RotationPolicy
            \(RotationFixture.vendorProvider)
            keys:
              k1: { provider: vendor, grace: 1d, name: "k1-{timestamp}" }
              k2: { provider: vendor, grace: 0s, name: "k2-{timestamp}" }
            """)
        try fixture.scratch.write("consumers/services.yaml", """
            kind: ConsumerManifest
            consumers:
              c1: { uses: k1, targets: [{ env_file: ../deploy/shared.env, var: K1 }] }
              c2: { uses: k2, targets: [{ env_file: ../deploy/shared.env, var: K2 }] }
            """)
        try fixture.scratch.write("deploy/shared.env", "K1=initial-one\nK2=initial-two\n")
        #expect(try fixture.rotor(["rotate", "k1"]).status == 0)
        let k1Before = try EnvFileFormat(variable: "K1").read(Array(fixture.scratch.bytes("deploy/shared.env"))).get()
        let second = try fixture.rotor(["rotate", "k1", "--json"])
        let run = try #require(((try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])?["keys"] as? [[String: Any]])?.first?["run"] as? String)
        #expect(try fixture.rotor(["rotate", "k2"]).status == 0)
        let k2Now = try EnvFileFormat(variable: "K2").read(Array(fixture.scratch.bytes("deploy/shared.env"))).get()
        let undone = try fixture.rotor(["rollback", run])
        #expect(undone.status == 0, "\(undone.stdout)\(undone.stderr)")
        let file = Array(try fixture.scratch.bytes("deploy/shared.env"))
        #expect(try EnvFileFormat(variable: "K1").read(file).get() == k1Before, "k1 is back on its earlier generation")
        #expect(try EnvFileFormat(variable: "K2").read(file).get() == k2Now, "k2's later rotation stays")
    }

    /// Two rotor processes (cron and a person, two keys) editing one file: edits queue on
    /// the file across processes too, so neither undoes the other's.
    @Test func twoProcessesSharingAFileNeverUndoEachOther() throws {
        let fixture = try PairFixture()
        try fixture.scratch.write("policies/vendor.yaml", """
            kind: RotationPolicy
            providers:
              local:
                type: generate
                format: { prefix: "gk_", bytes: 24, encoding: base64url }
            keys:
              k1: { provider: local, grace: 0s }
              k2: { provider: local, grace: 0s }
            """)
        let consumers = ["k1", "k2"].flatMap { key in (1...4).map { index in
            "  \(key)-\(index): { uses: \(key), targets: [{ env_file: ../deploy/shared.env, var: \(key.uppercased())_\(index) }] }"
        } }
        try fixture.scratch.write("consumers/services.yaml", "kind: ConsumerManifest\nconsumers:\n" + consumers.joined(separator: "\n") + "\n")
        // A large file widens each edit's read-to-rename window, where a race would land.
        try fixture.scratch.write("deploy/shared.env", "# " + String(repeating: "n", count: 2 << 20) + "\n"
                                  + (1...4).map { "K1_\($0)=initial-one\nK2_\($0)=initial-two\n" }.joined())
        let script = "for i in $(seq 10); do \(RotorProcess.binary.path) rotate \"$1\" --quiet || exit 1; done"
        let loops = ["k1", "k2"].map { key in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", script, "sh", key]
            process.currentDirectoryURL = fixture.scratch.url
            return process
        }
        for process in loops { try process.run() }
        for process in loops { process.waitUntilExit() }
        #expect(loops.allSatisfy { $0.terminationStatus == 0 })
        let store = try #require(try StateStoreURL.open(nil, workingDirectory: fixture.scratch.url.path, createIfMissing: false)?.store)
        let states = try store.keyStates()
        let file = Array(try fixture.scratch.bytes("deploy/shared.env"))
        for key in ["k1", "k2"] {
            let current = try #require(states[key]?.current)
            for index in 1...4 {
                let value = try EnvFileFormat(variable: "\(key.uppercased())_\(index)").read(file).get()
                #expect(Fingerprint.of(value) == current.fingerprint, "\(key)-\(index) lost its edit to the other process")
            }
        }
    }

    /// Found by an operator: `status` called every `{id}` target "unknown" and exited 2
    /// forever. An id is compared with the current generation's id.
    @Test func statusComparesIDTargetsWithTheCurrentID() throws {
        let fixture = try PairFixture()
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let status = try fixture.rotor(["status", "--json"])
        #expect(status.status == 0, "\(status.stdout)")
        #expect(!status.stdout.contains("\"unknown\""), "\(status.stdout)")
        try fixture.scratch.write("deploy/split/id.env", "KEY_ID=AKSOMETHINGELSE\n")
        let drifted = try fixture.rotor(["status"])
        #expect(drifted.status == 2, "a wrong id is drift: \(drifted.stdout)")
    }

    /// Found by an attacker (second round): a lock another program held on a target made
    /// rotor wait without limit and without a word.
    @Test func aLockHeldByAnotherProgramIsNamedNotWaitedForeverOn() throws {
        let fixture = try PairFixture()
        let file = fixture.scratch.url.appendingPathComponent("deploy/split/secret.env").path
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [file, "sleep", "60"]
        try holder.run()
        defer { holder.terminate() }
        usleep(300_000)
        let before = try fixture.pairs()
        let result = try fixture.rotor(["rotate", "api-key"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("held a lock on it (flock)"), "\(result.stdout)")
        #expect(try fixture.pairs() == before, "rolled back: every pair as it was")
    }

    /// Each target of a consumer's file is journalled, and the file changed by one rename.
    @Test func oneConsumerFileChangesInOneEdit() throws {
        let fixture = try PairFixture()
        let result = try fixture.rotor(["rotate", "api-key", "--json", "--parallel", "1"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let steps = try #require(((document["keys"] as? [[String: Any]])?.first?["steps"]) as? [[String: Any]])
        let written = steps.filter { $0["step"] as? String == "update" }.compactMap { $0["target"] as? String }
        // Ordering rule: within `split`, the secret's file before the id's file.
        let secretFile = try #require(written.firstIndex { $0.contains("secret.env") })
        let idFile = try #require(written.firstIndex { $0.contains("id.env") })
        #expect(secretFile < idFile, "the id file was written before the secret file: \(written)")
        #expect(written.count == 6)
    }
}

/// After the old generation is deleted, its secret is tried against the key's verify
/// checks and must be rejected (issue 26, part 2).
@Suite(.serialized) struct ConfirmRevokedTests {
    static func steps(_ output: String) throws -> [[String: Any]] {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        return try #require(((document["keys"] as? [[String: Any]])?.first?["steps"]) as? [[String: Any]])
    }

    static func confirmation(_ output: String) throws -> [String: Any]? {
        try steps(output).first { $0["step"] as? String == "confirm-revoked" }
    }

    @Test func theDeletedKeyIsRejected() throws {
        let fixture = try RotationFixture()
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let result = try fixture.rotor(["rotate", "api-key", "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let step = try #require(try Self.confirmation(result.stdout))
        #expect(step["status"] as? String == "ok", "\(step)")
        #expect((step["detail"] as? String ?? "").contains("rejected"))
    }

    @Test func aDeleteThatDidNothingNeedsAPerson() throws {
        let fixture = try RotationFixture(confirmRevokedWithin: "1s")
        let policy = String(decoding: try fixture.scratch.bytes("policies/vendor.yaml"), as: UTF8.self)
        try fixture.scratch.write("policies/vendor.yaml", policy.replacingOccurrences(of: "    verify:\n", with: """
                notify:
                  - webhook: "http://127.0.0.1:\(fixture.health.port)/hook/all"
                verify:

            """))
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let old = try #require(try fixture.currentGeneration())
        let values = try fixture.values()
        let result = try fixture.rotor(["rotate", "api-key", "--emergency"], environment: ["VENDOR_DELETE_NOOP": "1"])
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        // The incident report leads with the evidence, then the consumers.
        #expect(lines.first?.contains("the old key still answers; revoke it at the provider") == true, "\(result.stdout)")
        #expect(lines.first?.contains(old.id) == true)
        #expect(result.stdout.contains("c1: switched"))
        let json = try fixture.rotor(["rotate", "api-key", "--emergency", "--json"], environment: ["VENDOR_DELETE_NOOP": "1"])
        #expect(json.status == 3)
        let key = try #require(((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["keys"] as? [[String: Any]])?.first)
        let revocation = try #require((key["revocations"] as? [[String: Any]])?.first)
        #expect(revocation["status"] as? String == "still-active")
        #expect((revocation["attempts"] as? Int ?? 0) >= 2, "eventual consistency gets retries within the bound")
        let consumers = try #require(key["consumers"] as? [[String: Any]], "an emergency's JSON says how each consumer ended")
        #expect(consumers.count == 5 && consumers.allSatisfy { $0["state"] as? String == "switched" })
        let step = try #require(try Self.confirmation(json.stdout))
        #expect(step["status"] as? String == "failed")
        let hooks = fixture.health.requests.filter { $0.hasPrefix("POST /hook") }
        #expect(hooks.count == 3 && hooks.dropFirst().allSatisfy { $0.contains("still answers") }, "the webhook carries the evidence: \(fixture.health.requests)")
        LeakScan(secrets: values + [try fixture.values()[0]]).check([result.stdout, result.stderr, json.stdout, json.stderr,
                                                                      try fixture.rotor(["history", "--json"]).stdout] + hooks)
        try LeakScan(secrets: values).check(folder: fixture.scratch.url.appendingPathComponent(".rotor"))
    }

    /// Found by an operator: the generation a rotation retires (pending from an earlier run)
    /// was deleted silently and never tried.
    @Test func aRetiredGenerationIsTriedToo() throws {
        let fixture = try RotationFixture(grace: "1h")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let pending = try #require(try StateStoreURL.open(nil, workingDirectory: fixture.scratch.url.path, createIfMissing: false)?
            .store.keyStates()["api-key"]?.previous)
        let result = try fixture.rotor(["rotate", "api-key", "--json"], environment: ["VENDOR_DELETE_NOOP": "1"])
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        let key = try #require(((try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["keys"] as? [[String: Any]])?.first)
        let revocations = try #require(key["revocations"] as? [[String: Any]])
        #expect(revocations.count == 1 && revocations[0]["generation_id"] as? String == pending.id && revocations[0]["status"] as? String == "still-active",
                "\(revocations)")
        #expect((key["message"] as? String ?? "").hasPrefix("the old key still answers; revoke it at the provider (generation \(pending.id))"))
    }

    /// Checks that refuse every key prove nothing: a refusal of the old key counts only when
    /// the same checks still accept the generation in use.
    @Test func aVerifierThatRefusesEverythingProvesNothing() throws {
        let fixture = try RotationFixture()
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let marker = fixture.scratch.url.appendingPathComponent("checked-once").path
        let result = try fixture.rotor(["rotate", "api-key", "--json"], environment: ["VENDOR_CHECK_ONCE": marker])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let step = try #require(try Self.confirmation(result.stdout))
        #expect(step["status"] as? String == "not-checked", "\(step)")
        #expect((step["detail"] as? String ?? "").contains("refuse the generation in use"), "\(step)")
    }

    /// Only 401 and 403 are a refusal; a redirect, 429, 404 or 5xx say nothing about the key.
    @Test func onlyAnAuthRefusalIsEvidence() async throws {
        let server = try HealthServer()
        for (status, conclusive) in [(401, true), (403, true), (302, false), (404, false), (429, false), (503, false)] {
            let check = CheckSpec.http(HTTPCheckSpec(url: Template(literal: "http://127.0.0.1:\(server.port)/status/\(status)"), method: "GET", headers: [:],
                                                     body: nil, expect: [200], timeout: RotorDuration(seconds: 5), retries: 0,
                                                     location: SourceLocation(file: "t", line: 1, column: 1)))
            let failure = await CheckRunner(runner: CommandRunner()).run(check, values: [:], secret: nil, directory: "/", retrying: false)
            #expect(failure?.inconclusive == !conclusive, "HTTP \(status)")
        }
        for (argv, conclusive) in [(["sh", "-c", "exit 1"], true), (["sh", "-c", "kill -KILL $$"], false), (["no-such-command-here"], false)] {
            let check = CheckSpec.exec(CommandSpec(argv: argv.map(Template.init(literal:)), timeout: RotorDuration(seconds: 5),
                                                   location: SourceLocation(file: "t", line: 1, column: 1)))
            let failure = await CheckRunner(runner: CommandRunner()).run(check, values: [:], secret: nil, directory: "/")
            #expect(failure?.inconclusive == !conclusive, "\(argv)")
        }
    }

    @Test func aSlowRevocationIsWaitedFor() throws {
        let fixture = try RotationFixture(confirmRevokedWithin: "10s")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let result = try fixture.rotor(["rotate", "api-key", "--json"], environment: ["VENDOR_REVOKE_DELAY": "1.5"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let step = try #require(try Self.confirmation(result.stdout))
        #expect(step["status"] as? String == "ok", "\(step)")
    }

    @Test func afterTheGracePeriodTheBackupHoldsTheOldValue() throws {
        let fixture = try RotationFixture(grace: "1h")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let later = ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(7200))]
        let result = try fixture.rotor(["run", "--json"], environment: later)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let step = try #require(try Self.confirmation(result.stdout))
        #expect(step["status"] as? String == "ok", "\(step)")
        #expect(try fixture.leftovers().isEmpty, "the backups go once the old generation is gone")
    }

    @Test func withoutTheOldValueItSaysNotChecked() throws {
        let fixture = try RotationFixture(grace: "1h")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        try FileManager.default.removeItem(at: fixture.scratch.url.appendingPathComponent(".rotor/backups"))
        let later = ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(7200))]
        let result = try fixture.rotor(["run", "--json"], environment: later)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let step = try #require(try Self.confirmation(result.stdout))
        #expect(step["status"] as? String == "not-checked", "\(step)")
        #expect((step["detail"] as? String ?? "").contains("not checked"))
    }
}
