import Foundation
import Testing
@testable import RotorCore

/// `rotor run` rotates several keys at once (`--parallel-keys`; issue 20): keys that share a
/// file never undo each other's edits, and a kill -9 with several keys in flight leaves every
/// key recoverable.
@Suite(.serialized) struct ParallelKeysTests {
    /// Four keys (`k1`…`k4`, rotor-generated, due every day, grace 0s), each with a consumer
    /// of its own env file and one of a variable in `deploy/shared.env`. With `barrier`
    /// present, each own consumer's first health check waits (≤ `barrierPolls` × 50 ms)
    /// until the four keys are all being health-checked: it passes only if they go at once
    /// (and, while `hold` is there, it goes on waiting).
    final class Fleet {
        static let keys = ["k1", "k2", "k3", "k4"]
        let scratch: Scratch

        init(barrierPolls: Int = 160) throws {
            scratch = try Scratch()
            try scratch.write("policies/keys.yaml", """
                kind: RotationPolicy
                providers:
                  local: { type: generate, format: { prefix: "pk_", bytes: 24, encoding: base64url } }
                keys:
                \(Self.keys.map { "  \($0): { provider: local, every: 1d, grace: 0s }" }.joined(separator: "\n"))
                """)
            let barrier = #"[ -e ../barrier ] || exit 0; [ -e "../started/$0" ] && exit 0; touch "../started/$0"; i=0; while [ "$(ls ../started | wc -l)" -lt 4 ] || [ -e ../hold ]; do i=$((i+1)); [ $i -gt \#(barrierPolls) ] && exit 1; sleep 0.05; done"#
            var manifest = "kind: ConsumerManifest\nconsumers:\n"
            for key in Self.keys {
                manifest += """
                      \(key)-own:
                        uses: \(key)
                        targets: [{ env_file: ../deploy/\(key)/.env, var: SECRET }]
                        health: { exec: [sh, -c, '\(barrier)', \(key)] }
                      \(key)-shared:
                        uses: \(key)
                        targets: [{ env_file: ../deploy/shared.env, var: \(key.uppercased()) }]

                    """
                try scratch.write("deploy/\(key)/.env", "SECRET=pk_initial\n")
            }
            try scratch.write("consumers/app.yaml", manifest)
            // A large shared file widens each edit's read-to-rename window, where a race would land.
            try scratch.write("deploy/shared.env", "# " + String(repeating: "n", count: 1 << 20) + "\n"
                              + Self.keys.map { "\($0.uppercased())=pk_initial\n" }.joined())
            try scratch.write("started/.keep", "")
        }

        /// ROTOR_NOW `days` after today: every key is due again two days on.
        static func at(day days: Int) -> [String: String] {
            ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(Double(days) * 86_400))]
        }

        @discardableResult
        func rotor(_ arguments: [String], day: Int = 0, environment: [String: String] = [:]) throws -> RotorProcess.Result {
            try RotorProcess.run(arguments, in: scratch.url, environment: Self.at(day: day).merging(environment) { $1 })
        }

        func currentFingerprints() throws -> [String: String] {
            let store = try #require(try StateStoreURL.open(nil, workingDirectory: scratch.url.path, createIfMissing: false)?.store)
            return try store.keyStates().compactMapValues { $0.current?.fingerprint }
        }

        /// Each key's targets, as fingerprints read by the env-file reader (the file must parse).
        func heldFingerprints() throws -> [String: [String]] {
            let shared = Array(try scratch.bytes("deploy/shared.env"))
            var held: [String: [String]] = [:]
            for key in Self.keys {
                let own = try EnvFileFormat(variable: "SECRET").read(Array(scratch.bytes("deploy/\(key)/.env"))).get()
                let inShared = try EnvFileFormat(variable: key.uppercased()).read(shared).get()
                held[key] = [own, inShared].map(Fingerprint.of)
            }
            return held
        }

        /// Every key's two targets hold the generation the state calls current.
        func expectEveryKeyInSync(_ context: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
            let current = try currentFingerprints()
            for (key, held) in try heldFingerprints() {
                #expect(held.allSatisfy { $0 == current[key] }, "\(context): \(key) holds \(held), the state says \(current[key] ?? "nothing")",
                        sourceLocation: sourceLocation)
            }
            let leftovers = try FileManager.default.subpathsOfDirectory(atPath: scratch.url.path)
                .filter { $0.contains(".rotor-tmp-") || ($0.hasPrefix(".rotor/backups/") && $0.split(separator: "/").count > 3) }
            #expect(leftovers.isEmpty, "\(context): \(leftovers)", sourceLocation: sourceLocation)
        }
    }

    @Test func keysRotateAtOnceAndNeverUndoEachOthersEdits() throws {
        let fleet = try Fleet()
        #expect(try fleet.rotor(["rotate"] + Fleet.keys).status == 0)
        let first = try fleet.currentFingerprints()
        try fleet.scratch.write("barrier", "")
        // Due again: the four go at once (their health checks wait for each other).
        let result = try fleet.rotor(["run", "--json"], day: 2)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let reports = (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["keys"] as? [[String: Any]] ?? []
        #expect(reports.map { $0["key"] as? String } == Fleet.keys, "the reports come in the plan's order")
        #expect(reports.allSatisfy { $0["outcome"] as? String == "completed" }, "\(result.stdout)")
        #expect(reports.map { $0["canary"] as? String } == Fleet.keys.map { "\($0)-own" }, "run's JSON names each key's canary")
        let second = try fleet.currentFingerprints()
        #expect(Fleet.keys.allSatisfy { first[$0] != nil && second[$0] != first[$0] }, "every key rotated")
        try fleet.expectEveryKeyInSync("after the parallel run")
    }

    /// `--parallel-keys 1`: one key at a time, so the health checks that wait for all four
    /// fail and the first three keys are rolled back (the fourth finds the others' marks) —
    /// the limit holds.
    @Test func parallelKeysLimitsHowManyGoAtOnce() throws {
        let fleet = try Fleet(barrierPolls: 40)
        #expect(try fleet.rotor(["rotate"] + Fleet.keys).status == 0)
        let before = try fleet.currentFingerprints()
        try fleet.scratch.write("barrier", "")
        let result = try fleet.rotor(["run", "--parallel-keys", "1"], day: 2)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.components(separatedBy: "rolled back —").count - 1 == 3 && result.stdout.contains("k4: completed"), "\(result.stdout)")
        let after = try fleet.currentFingerprints()
        #expect(["k1", "k2", "k3"].allSatisfy { after[$0] == before[$0] } && after["k4"] != before["k4"])
        try fleet.expectEveryKeyInSync("after the serial run")
        #expect(try fleet.rotor(["run", "--parallel-keys", "0"]).status == 64)
    }

    /// SIGTERM while four keys are in their health checks: every one is rolled back, and
    /// nothing is left for `recover`.
    @Test func aSignalRollsBackEveryKeyInFlight() throws {
        let fleet = try Fleet()
        #expect(try fleet.rotor(["rotate"] + Fleet.keys).status == 0)
        let before = try fleet.currentFingerprints()
        try fleet.scratch.write("barrier", "")
        try fleet.scratch.write("hold", "")
        let run = try BackgroundRotor(["run"], in: fleet.scratch.url, environment: Fleet.at(day: 2))
        let started = fleet.scratch.url.appendingPathComponent("started")
        let deadline = Date().addingTimeInterval(30)
        while (try FileManager.default.contentsOfDirectory(atPath: started.path)).count < 5, Date() < deadline { usleep(20_000) }
        kill(run.pid, SIGTERM)
        let (status, output) = run.finish()
        #expect(status == 1, "\(output)")
        #expect(output.components(separatedBy: "rolled back —").count - 1 == 4, "\(output)")
        #expect(try fleet.currentFingerprints() == before)
        try fleet.expectEveryKeyInSync("after a signal")
        #expect(try fleet.rotor(["recover"], day: 2).stdout == "nothing to recover\n")
    }

    /// Found by an attacker: a second run that waits for a key's lock while the first is
    /// killed mid-rotation takes the dead runner's lease over — it must recover that run
    /// first, not rotate over it (then `recover` put the dead run's backups back over the
    /// new generation: the canary on a deleted key).
    @Test func aRunTakingOverADeadRunnersLeaseRecoversItsRunFirst() throws {
        let fleet = try Fleet(barrierPolls: 1200)
        #expect(try fleet.rotor(["rotate"] + Fleet.keys).status == 0)
        try fleet.scratch.write("barrier", "")
        try fleet.scratch.write("hold", "")
        // The first run writes k1's canary (k1-own) and waits in its health check.
        let first = try BackgroundRotor(["rotate", "k1"], in: fleet.scratch.url, environment: Fleet.at(day: 2))
        let canaryChecked = fleet.scratch.url.appendingPathComponent("started/k1")
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: canaryChecked.path), Date() < deadline { usleep(20_000) }
        // The second starts while the first is alive (its recovery leaves that run alone) and waits for the lock.
        let second = try BackgroundRotor(["rotate", "k1"], in: fleet.scratch.url, environment: Fleet.at(day: 2))
        usleep(1_500_000)
        kill(first.pid, SIGKILL)
        _ = first.finish()
        // End the orphaned health check's wait (four started, no hold).
        try FileManager.default.removeItem(at: fleet.scratch.url.appendingPathComponent("hold"))
        for name in ["k2", "k3", "k4"] { try fleet.scratch.write("started/\(name)", "") }
        let (status, output) = second.finish()
        #expect(status == 0, "\(output)")
        #expect(output.contains("was interrupted (its runner is gone); recovering it before going on"), "\(output)")
        #expect(try fleet.rotor(["recover"], day: 2).stdout == "nothing to recover\n")
        try fleet.expectEveryKeyInSync("after a run took a dead runner's lease over")
    }

    /// A signal while the first key is in flight (`--parallel-keys 1`): the keys not started
    /// are due and not rotated — failed, not "not due", and the exit says so (found by an
    /// attacker: exit 0 when no key had started).
    @Test func keysASignalKeptFromStartingAreFailedNotSkipped() throws {
        let fleet = try Fleet(barrierPolls: 400)
        #expect(try fleet.rotor(["rotate"] + Fleet.keys).status == 0)
        try fleet.scratch.write("barrier", "")
        try fleet.scratch.write("hold", "")
        let run = try BackgroundRotor(["run", "--parallel-keys", "1", "--json", "--quiet"], in: fleet.scratch.url, environment: Fleet.at(day: 2))
        let started = fleet.scratch.url.appendingPathComponent("started")
        let deadline = Date().addingTimeInterval(30)
        while (try FileManager.default.contentsOfDirectory(atPath: started.path)).count < 2, Date() < deadline { usleep(20_000) }
        kill(run.pid, SIGTERM)
        let (status, output) = run.finish()
        #expect(status == 1, "\(output)")
        let json = output.firstIndex(of: "{").map { String(output[$0...]) } ?? ""
        let reports = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["keys"] as? [[String: Any]] ?? []
        #expect(reports.map { $0["outcome"] as? String } == ["rolled-back", "failed", "failed", "failed"], "\(output)")
        #expect(reports.dropFirst().allSatisfy { ($0["message"] as? String)?.hasPrefix("not started: rotor was stopped by a signal") == true }, "\(output)")
        try fleet.expectEveryKeyInSync("after a signal")
    }

    /// A key named twice is rotated once (found by an attacker: the second rotation deleted
    /// the first one's old generation within its grace period).
    @Test func aKeyNamedTwiceIsRotatedOnce() throws {
        let fleet = try Fleet()
        let result = try fleet.rotor(["rotate", "k1", "k1", "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let reports = (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["keys"] as? [[String: Any]] ?? []
        #expect(reports.count == 1, "\(result.stdout)")
    }

    /// kill -9 at a journal point of the first key to reach it, the others in flight
    /// wherever they are; `recover` finishes or undoes every run, and a run after it works.
    @Test(arguments: ["update.intent#1", "update.done#1", "health.done#1", "verify.done", "commit.done"])
    func aKillWithSeveralKeysInFlightIsRecovered(_ point: String) throws {
        let fleet = try Fleet()
        #expect(try fleet.rotor(["rotate"] + Fleet.keys).status == 0)
        let crashed = try fleet.rotor(["run", "--quiet"], day: 2, environment: ["ROTOR_TEST_CRASH_AT": point])
        #expect(crashed.status == 9, "rotor should have been killed at \(point): \(crashed.stdout)\(crashed.stderr)")
        let recovered = try fleet.rotor(["recover"], day: 2)
        #expect(recovered.status == 0, "\(recovered.stdout)\(recovered.stderr)")
        try fleet.expectEveryKeyInSync("recovered from a kill at \(point)")
        let again = try fleet.rotor(["run"], day: 2)
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        try fleet.expectEveryKeyInSync("the run after recovery (\(point))")
    }

    /// kill -9 of `run` at random instants while four keys rotate at once, then `recover`:
    /// every key's targets agree with its state, no file is half-written, nothing is left.
    /// `ROTOR_SOAK_SEED` repeats the instants, `ROTOR_SOAK_ROUNDS` sets their count (CI: 8).
    @Test func randomKillsWithSeveralKeysKeepEveryInvariant() throws {
        let environment = ProcessInfo.processInfo.environment
        let rounds = Int(environment["ROTOR_SOAK_ROUNDS"] ?? "") ?? 8
        let seed = UInt64(environment["ROTOR_SOAK_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("soak (several keys): seed \(seed) (ROTOR_SOAK_SEED=\(seed) repeats these kill instants)")
        var generator = SplitMix64(seed: seed)
        let fleet = try Fleet()
        #expect(try fleet.rotor(["rotate"] + Fleet.keys).status == 0)
        let started = Date()
        #expect(try fleet.rotor(["run"], day: 2).status == 0)
        let span = Date().timeIntervalSince(started)
        var outcomes: [String: Int] = [:]
        for round in 1...rounds {
            let day = 2 * (round + 1)
            let before = try fleet.currentFingerprints()
            let run = try BackgroundRotor(["run", "--quiet"], in: fleet.scratch.url, environment: Fleet.at(day: day))
            usleep(UInt32(Double.random(in: 0...(span * 1.2), using: &generator) * 1_000_000))
            kill(run.pid, SIGKILL)
            _ = run.finish()
            let recovered = try fleet.rotor(["recover"], day: day)
            #expect(recovered.status == 0, "round \(round) (seed \(seed)): \(recovered.stdout)\(recovered.stderr)")
            try fleet.expectEveryKeyInSync("round \(round) (seed \(seed))")
            let now = try fleet.currentFingerprints()
            outcomes["\(Fleet.keys.filter { now[$0] != before[$0] }.count) of 4 rotated", default: 0] += 1
        }
        print("soak (several keys): \(rounds) kills (seed \(seed)): \(outcomes.sorted { $0.key < $1.key })")
    }
}
