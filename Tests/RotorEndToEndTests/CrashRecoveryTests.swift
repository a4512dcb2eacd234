import Foundation
import Testing
@testable import RotorCore

/// kill -9 at every journal step of a rotation with five consumers of mixed target types,
/// then `rotor recover`. Afterwards every target holds the same generation, the one the
/// state calls current; it exists at the provider and nothing else does (no orphan); no
/// file is half-written; the old generation is gone only if every consumer had verified.
@Suite(.serialized) struct CrashRecoveryTests {
    struct CrashPoint: CustomTestStringConvertible, Sendable {
        var label: String
        /// Whether the journal already said every consumer verified: recovery rolls forward.
        var rollsForward: Bool
        var environment: [String: String]
        var testDescription: String { label }
    }

    static let points: [CrashPoint] = [
        "start.info", "preflight.done", "create.intent", "create.done", "verify-key.done",
        "update.intent#1", "update.done#1", "update.intent#3", "update.done#4", "update.intent#6", "update.done#6",
        "reload.intent#1", "reload.done#2", "health.done#1", "health.done#2",
    ].map { CrashPoint(label: $0, rollsForward: false, environment: ["ROTOR_TEST_CRASH_AT": $0]) }
        + ["verify.done", "commit.done", "delete.intent", "delete.done"].map {
            CrashPoint(label: $0, rollsForward: true, environment: ["ROTOR_TEST_CRASH_AT": $0])
        }
        + [CrashPoint(label: "provider created, answer lost", rollsForward: false, environment: ["VENDOR_KILL_PARENT_AFTER_CREATE": "1"])]

    @Test(arguments: points)
    func recoveryKeepsEveryInvariant(_ point: CrashPoint) throws {
        let fixture = try RotationFixture()
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let old = try #require(try fixture.currentGeneration())
        let oldValue = try fixture.values()[0]
        let before = try fixture.snapshot()

        let crashed = try fixture.rotor(["rotate", "api-key"], environment: point.environment)
        #expect(crashed.status == 9, "rotor should have been killed at \(point.label): \(crashed.stdout)\(crashed.stderr)")

        let recovered = try fixture.rotor(["recover"])
        #expect(recovered.status == 0, "\(recovered.stdout)\(recovered.stderr)")
        let expectedWord = point.rollsForward ? "rolled forward" : "rolled back"
        #expect(recovered.stdout.contains(expectedWord) || (point.label == "delete.done" && recovered.stdout.contains("rolled forward")),
                "\(recovered.stdout)")

        let values = try fixture.independentValues()  // every file still parses: nothing half-written
        #expect(Set(values).count == 1, "targets disagree after recovery: \(values.map(Fingerprint.of))")
        #expect(try fixture.rotorValues() == values, "rotor's readers agree with independent ones")
        let current = try #require(try fixture.currentGeneration())
        #expect(Fingerprint.of(values[0]) == current.fingerprint)
        #expect(try fixture.vendorKeys() == [current.id], "exactly the current generation exists at the provider")
        if point.rollsForward {
            #expect(current.id != old.id && values[0] != oldValue)
        } else {
            #expect(current == old && values[0] == oldValue, "the old generation stays until every consumer verified")
            #expect(try fixture.snapshot() == before, "a rollback puts every target back byte for byte")
        }
        #expect(try fixture.leftovers().isEmpty, "no temporary files or backups left")
        #expect(try fixture.rotor(["recover"]).stdout == "nothing to recover\n")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0, "a rotation after recovery works")
    }

    /// kill -9 on the paths beside a plain rotation: `rollback RUN`, a recovery itself, a
    /// sync, a grace-period deletion, a retirement, and `--revoke-first`. Each scenario
    /// prepares, crashes one command at a journal point, recovers, and checks what that
    /// path promises; every file must parse with readers independent of rotor's.
    struct OtherPath: CustomTestStringConvertible, Sendable {
        var label: String
        var testDescription: String { label }
    }

    static let otherPaths = ["rollback RUN at restore.done#2", "recover at restore.done#1", "sync at update.done#1",
                             "grace deletion at delete.intent", "retire at retire.done", "revoke-first at revoke.done"].map(OtherPath.init)

    @Test(arguments: otherPaths)
    func otherPathsSurviveACrash(_ path: OtherPath) throws {
        let fixture = try RotationFixture(grace: path.label.hasPrefix("revoke") ? "0s" : "1h")
        func crash(_ arguments: [String], at point: String, environment: [String: String] = [:]) throws {
            let result = try fixture.rotor(arguments, environment: environment.merging(["ROTOR_TEST_CRASH_AT": point]) { $1 })
            #expect(result.status == 9, "\(arguments) should have been killed at \(point): \(result.stdout)\(result.stderr)")
        }
        func rotated() throws -> String? {
            let result = try fixture.rotor(["rotate", "api-key", "--json"])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            return ((document?["keys"] as? [[String: Any]])?.first?["run"]) as? String
        }
        #expect(try rotated() != nil)
        let first = try #require(try fixture.currentGeneration())
        let firstBytes = try fixture.snapshot()
        var expectedRecovery = 0
        var expectedCurrent: GenerationRecord? = nil
        var expectedBytes: [String: Data]? = nil

        switch path.label {
        case "rollback RUN at restore.done#2":
            let run = try #require(try rotated())
            try crash(["rollback", run], at: "restore.done#2")
            expectedCurrent = first
            expectedBytes = firstBytes
        case "recover at restore.done#1":
            try crash(["rotate", "api-key"], at: "update.done#4")
            try crash(["recover"], at: "restore.done#1")
            expectedCurrent = first
            expectedBytes = firstBytes
        case "sync at update.done#1":
            try fixture.scratch.write("deploy/c1/.env", "API_KEY=\(RotationFixture.initial)\n")  // drifted
            let drifted = try fixture.snapshot()
            try crash(["sync", "api-key"], at: "update.done#1")
            expectedCurrent = first
            expectedBytes = drifted
        case "grace deletion at delete.intent":
            #expect(try rotated() != nil)
            try crash(["run"], at: "delete.intent", environment: ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(7200))])
        case "retire at retire.done":
            #expect(try rotated() != nil)
            try crash(["rotate", "api-key"], at: "retire.done")
        case "revoke-first at revoke.done":
            try crash(["rotate", "api-key", "--emergency", "--revoke-first"], at: "revoke.done")
            expectedRecovery = 3
            expectedCurrent = first
            expectedBytes = firstBytes
        default:
            Issue.record("no scenario \(path.label)")
        }

        let recovered = try fixture.rotor(["recover"])
        #expect(recovered.status == Int32(expectedRecovery), "\(recovered.stdout)\(recovered.stderr)")
        let values = try fixture.independentValues()
        let current = try #require(try fixture.currentGeneration())
        if let expectedBytes {
            #expect(try fixture.snapshot() == expectedBytes, "put back byte for byte")
        } else {
            #expect(Set(values).count == 1 && Fingerprint.of(values[0]) == current.fingerprint, "\(values.map(Fingerprint.of))")
        }
        if let expectedCurrent { #expect(current == expectedCurrent) }
        let state = try #require(try StateStoreURL.open(nil, workingDirectory: fixture.scratch.url.path, createIfMissing: false)?.store.keyStates()["api-key"])
        let known = Set([state.current?.id, state.previous?.id].compactMap { $0 })
        if path.label.hasPrefix("revoke") {
            #expect(recovered.stdout.contains("revoked"), "\(recovered.stdout)")
            #expect(try fixture.vendorKeys().isEmpty, "the old key was revoked, the new one never made")
        } else {
            #expect(Set(try fixture.vendorKeys()) == known, "the provider holds exactly what the state knows (no orphan, nothing pending that is gone)")
        }
        #expect(try fixture.leftovers().allSatisfy { !$0.contains(".rotor-tmp-") })
        #expect(try fixture.rotor(["recover"]).stdout == "nothing to recover\n")
        #expect(try fixture.rotor(["rotate", "api-key", "--emergency"]).status == 0, "a rotation after recovery works")
        let healed = try fixture.independentValues()
        #expect(Set(healed).count == 1)
    }

    @Test func aLiveRunIsNotRecoveredUnderIt() throws {
        // A run whose lock is held by a live process is left alone by `recover`.
        let fixture = try RotationFixture()
        let opened = try #require(try StateStoreURL.open(nil, workingDirectory: fixture.scratch.url.path))
        try opened.store.createRun(RunRecord(id: "live-run", key: "api-key", started: Date(), emergency: false, user: "test", host: ProcessInfo.processInfo.hostName))
        let owner = LockOwner(host: ProcessInfo.processInfo.hostName, pid: getpid(), runID: "live-run")
        #expect(try opened.store.acquireLock(key: "api-key", owner: owner, lease: 600, now: Date(), canTakeOver: { _ in false }) == .acquired)
        let result = try fixture.rotor(["recover"])
        #expect(result.stdout.contains("run live-run of 'api-key' is still in progress (its process holds the lock); left alone"))
        let rotate = try fixture.rotor(["rotate", "api-key"])
        #expect(rotate.status == 1)
        #expect(rotate.stdout.contains("key 'api-key' is being rotated by run live-run (pid \(getpid())"))
    }

    @Test func aStaleLockOfADeadProcessIsTakenOver() throws {
        let fixture = try RotationFixture()
        let opened = try #require(try StateStoreURL.open(nil, workingDirectory: fixture.scratch.url.path))
        // A pid that cannot be alive: beyond the kernel's pid_max.
        let dead = LockOwner(host: ProcessInfo.processInfo.hostName, pid: 2_000_000_000, runID: "dead-run")
        #expect(try opened.store.acquireLock(key: "api-key", owner: dead, lease: 600, now: Date(), canTakeOver: { _ in false }) == .acquired)
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
    }

    /// kill -9 at random instants of many rotations, `recover` after each, and the
    /// invariants checked every time: every target parses and holds the generation the
    /// state calls current, that generation exists at the provider and nothing else does
    /// (no orphan, no old generation deleted before all verified), no temporary file or
    /// backup left, and what `recover` says agrees with what happened. The kill instants
    /// come from a seeded generator (the seed is printed: `ROTOR_SOAK_SEED` repeats them)
    /// spread over one rotation's measured length, so they land inside rotations on a
    /// fast machine and a slow one alike. `ROTOR_SOAK_ROUNDS` sets the count (CI: 12).
    @Test func randomKillsAtAnyInstantKeepEveryInvariant() throws {
        let environment = ProcessInfo.processInfo.environment
        let rounds = Int(environment["ROTOR_SOAK_ROUNDS"] ?? "") ?? 12
        let seed = UInt64(environment["ROTOR_SOAK_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("soak: seed \(seed) (ROTOR_SOAK_SEED=\(seed) repeats these kill instants)")
        var generator = SplitMix64(seed: seed)
        let fixture = try RotationFixture()
        let started = Date()
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let span = Date().timeIntervalSince(started)
        var outcomes: [String: Int] = [:]
        for round in 1...rounds {
            let before = try #require(try fixture.currentGeneration())
            let bytesBefore = try fixture.snapshot()
            let rotation = try BackgroundRotor(["rotate", "api-key", "--quiet"], in: fixture.scratch.url, environment: fixture.environment)
            usleep(UInt32(Double.random(in: 0...(span * 1.2), using: &generator) * 1_000_000))
            kill(rotation.pid, SIGKILL)
            _ = rotation.finish()

            let recovered = try fixture.rotor(["recover"])
            #expect(recovered.status == 0, "round \(round) (seed \(seed)): \(recovered.stdout)\(recovered.stderr)")
            let current = try #require(try fixture.currentGeneration())
            let said = ["rolled forward", "rolled back", "nothing to recover"].filter { recovered.stdout.contains($0) }
            #expect(said.count == 1, "round \(round) (seed \(seed)): recover said \(recovered.stdout)")
            switch said.first {
            case "rolled forward": #expect(current.id != before.id, "round \(round) (seed \(seed)): rolled forward, but the old generation is current")
            case "rolled back":
                #expect(current == before, "round \(round) (seed \(seed)): rolled back, but the state moved")
                #expect(try fixture.snapshot() == bytesBefore, "round \(round) (seed \(seed)): rolled back, but not byte for byte")
            default: break  // killed before its run began, or after it finished: either generation
            }
            outcomes["\(said.first ?? "other"), \(current.id == before.id ? "old" : "new") generation current", default: 0] += 1

            let values = try fixture.independentValues()
            #expect(Set(values).count == 1, "round \(round) (seed \(seed)): targets disagree: \(values.map(Fingerprint.of))")
            #expect(Fingerprint.of(values[0]) == current.fingerprint, "round \(round) (seed \(seed))")
            #expect(try fixture.vendorKeys() == [current.id], "round \(round) (seed \(seed)): only the current generation exists at the provider")
            #expect(try fixture.leftovers().isEmpty, "round \(round) (seed \(seed))")
        }
        // For docs/reliability.md: how the kills landed.
        print("soak: \(rounds) kills (seed \(seed)): \(outcomes.sorted { $0.key < $1.key })")
    }
}

/// A small seeded generator (SplitMix64), so that a soak's kill instants can be repeated.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
