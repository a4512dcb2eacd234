import Foundation
import Testing
@testable import RotorCore

@Suite(.serialized) struct RotateCommandTests {
    @Test func rotatesEveryTargetAndChangesNothingElse() throws {
        let fixture = try RotationFixture()
        let before = try fixture.snapshot()
        let result = try fixture.rotor(["rotate", "api-key"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("api-key: completed — rotated to AK"))
        let values = try fixture.values()
        let new = try #require(values.first)
        #expect(new != RotationFixture.initial && Set(values).count == 1, "every target holds the same new value")
        let current = try #require(try fixture.currentGeneration())
        #expect(current.fingerprint == Fingerprint.of(new))
        // Every other byte of every file is unchanged.
        for (path, old) in before {
            let expected = String(decoding: old, as: UTF8.self).replacingOccurrences(of: RotationFixture.initial, with: new)
            #expect(String(decoding: try fixture.scratch.bytes(path), as: UTF8.self) == expected, "\(path)")
        }
        for marker in ["deploy/c1/reloaded", "deploy/c2/reloaded", "deploy/c5/reloaded"] {
            #expect(FileManager.default.fileExists(atPath: fixture.scratch.url.appendingPathComponent(marker).path))
        }
        #expect(fixture.health.requests.contains { $0.hasPrefix("GET /status/200") })
        #expect(try fixture.vendorKeys() == [current.id])
        #expect(try fixture.leftovers().isEmpty)

        // A second rotation deletes the first generation at once (grace 0s).
        let second = try fixture.rotor(["rotate", "api-key", "--json"])
        #expect(second.status == 0)
        let latest = try #require(try fixture.currentGeneration())
        #expect(latest.id != current.id)
        #expect(try fixture.vendorKeys() == [latest.id])
        let report = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any]
        let key = (report?["keys"] as? [[String: Any]])?.first
        #expect(report?["version"] as? Int == 1 && key?["outcome"] as? String == "completed")
        #expect((key?["old_generation"] as? [String: Any])?["id"] as? String == current.id)
    }

    @Test func graceKeepsTheOldGenerationAndPlanSaysWhenItIsDue() throws {
        let fixture = try RotationFixture(grace: "1h")
        try fixture.rotor(["rotate", "api-key"])
        let first = try #require(try fixture.currentGeneration())
        let second = try fixture.rotor(["rotate", "api-key"])
        #expect(second.status == 0 && second.stdout.contains("old generation \(first.id) kept until"))
        let latest = try #require(try fixture.currentGeneration())
        #expect(try Set(fixture.vendorKeys()) == [first.id, latest.id])
        let plan = try fixture.rotor(["plan"])
        #expect(plan.stdout.contains("api-key  not due: current generation is "))
        #expect(plan.stdout.contains(" old; due in 29d"))
    }

    enum Failure: String, CaseIterable, CustomTestStringConvertible {
        case preflight, create, verifyKey, targetWrite, reload, health
        var testDescription: String { rawValue }
    }

    /// A failure at each step: nothing created or everything rolled back, targets
    /// byte-identical, the new generation deleted, the old one untouched, exit 1.
    @Test(arguments: Failure.allCases)
    func failureLeavesEveryConsumerWorking(_ failure: Failure) throws {
        // Reload and health fail during the update and work again for the rollback.
        let vendor = RotationFixture.peers.appendingPathComponent("vendor.py").path
        let fixture = try RotationFixture(healthPath: failure == .health ? "/fail-first/2" : "/status/200",
                                          c2Reload: failure == .reload ? "[python3, \(vendor), flaky, ../deploy/c2/reloaded]" : "[touch, ../deploy/c2/reloaded]")
        let initial = try fixture.snapshot()
        let first = try fixture.rotor(["rotate", "api-key"], environment: failure == .health || failure == .reload ? ["ROTOR_TEST_FAIL_WRITE": "nothing"] : [:])
        // The health and reload cases fail already on the first rotation: that is the test.
        if failure == .health || failure == .reload {
            #expect(first.status == 1, "\(first.stdout)")
            #expect(first.stdout.contains("every consumer was rolled back to the old generation"))
            #expect(Set(try fixture.values()) == [RotationFixture.initial])
            #expect(try fixture.snapshot() == initial, "rolled back byte for byte")
            #expect(try fixture.vendorKeys().isEmpty, "the new generation is deleted")
            #expect(try fixture.currentGeneration() == nil)
            #expect(try fixture.leftovers().isEmpty)
            return
        }
        #expect(first.status == 0)
        let old = try #require(try fixture.currentGeneration())
        let before = try fixture.snapshot()
        var environment: [String: String] = [:]
        switch failure {
        case .preflight: try fixture.scratch.write("deploy/c4/credentials", "[svc]\nother = 1\n")
        case .create: environment["VENDOR_FAIL"] = "create"
        case .verifyKey: environment["VENDOR_FAIL"] = "check"
        case .targetWrite: environment["ROTOR_TEST_FAIL_WRITE"] = "c3/values.yaml"
        case .reload, .health: break
        }
        let expectedFiles = try fixture.snapshot()
        let result = try fixture.rotor(["rotate", "api-key"], environment: environment)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        let expectedMessage: String = switch failure {
        case .preflight: "preflight failed: deploy/c4/credentials:[svc] api_key: no 'api_key' in [svc]"
        // A CLI that failed may have acted first: rotor looked, found nothing, changed nothing.
        case .create: "create failed: create failed (python3 exited 1): vendor: create refused; no generation named 'api-key-"
        case .verifyKey: "verify-key failed: python3 exited 1"
        case .targetWrite: "every consumer was rolled back to the old generation"
        case .reload, .health: ""
        }
        #expect(result.stdout.contains(expectedMessage), "\(result.stdout)")
        #expect(try fixture.snapshot() == expectedFiles, "targets byte-identical to before")
        if failure != .preflight { #expect(try fixture.snapshot() == before) }
        #expect(try fixture.vendorKeys() == [old.id], "the new generation is deleted; the old one stays")
        #expect(try fixture.currentGeneration() == old)
        #expect(try fixture.leftovers().isEmpty)
    }

    /// A consumer that stays unhealthy after its targets are restored needs a person: exit 3.
    @Test func aConsumerStillBrokenAfterRollbackNeedsAPerson() throws {
        let fixture = try RotationFixture(healthPath: "/status/500")
        let result = try fixture.rotor(["rotate", "api-key"])
        #expect(result.status == 3)
        #expect(result.stdout.contains("left to do: after rollback, c1: health check failed: GET http://127.0.0.1:\(fixture.health.port)/status/500: answered 500, expected 200"))
        #expect(Set(try fixture.values()) == [RotationFixture.initial])
        #expect(try fixture.vendorKeys().isEmpty)
    }

    func runID(_ result: RotorProcess.Result) throws -> String {
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try #require((report?["keys"] as? [[String: Any]])?.first?["run"] as? String)
    }

    @Test func rollbackUndoesTheLatestRunWithinItsGracePeriod() throws {
        let fixture = try RotationFixture(grace: "1h")
        let first = try fixture.rotor(["rotate", "api-key", "--json"])
        let gen1 = try #require(try fixture.currentGeneration())
        let value1 = try fixture.values()[0]
        // The first run replaced a value rotor never knew: there is nothing to go back to.
        let refused = try fixture.rotor(["rollback", try runID(first)])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("the old generation of run \(try runID(first)) no longer exists"))

        let beforeSecond = try fixture.snapshot()
        let second = try fixture.rotor(["rotate", "api-key", "--json"])
        #expect(try fixture.values()[0] != value1)
        let undone = try fixture.rotor(["rollback", try runID(second)])
        #expect(undone.status == 0, "\(undone.stdout)\(undone.stderr)")
        #expect(undone.stdout.contains("every consumer is back on \(gen1.id)"))
        #expect(Set(try fixture.values()) == [value1])
        #expect(try fixture.snapshot() == beforeSecond, "undone byte for byte")
        #expect(try fixture.currentGeneration()?.id == gen1.id)
        #expect(try fixture.vendorKeys() == [gen1.id])
        #expect(try fixture.leftovers().isEmpty)
        let unknown = try fixture.rotor(["rollback", "no-such-run"])
        #expect(unknown.status == 64 && unknown.stderr.contains("no run 'no-such-run' in the state store"), "an unknown run is a usage error: \(unknown.stdout)\(unknown.stderr)")
    }

    @Test func aGenerationStillInItsGracePeriodIsRetiredByTheNextRotation() throws {
        let fixture = try RotationFixture(grace: "1h")
        for _ in 0..<3 { #expect(try fixture.rotor(["rotate", "api-key"]).status == 0) }
        let state = try #require(try StateStoreURL.open(nil, workingDirectory: fixture.scratch.url.path)?.store.keyStates()["api-key"])
        let current = try #require(state.current), previous = try #require(state.previous)
        #expect(try Set(fixture.vendorKeys()) == [current.id, previous.id], "the first generation was deleted, not orphaned")
        #expect(previous.pendingDeletionAt != nil)
    }

    /// A provider that issues a secret no dotenv quoting keeps intact: refused before any
    /// target is touched, the new generation deleted, the reason and the way out named.
    @Test func aValueTheEnvRuleRefusesStopsBeforeAnyTargetIsTouched() throws {
        let fixture = try RotationFixture()
        let before = try fixture.snapshot()
        let result = try fixture.rotor(["rotate", "api-key"], environment: ["VENDOR_SECRET_PREFIX": "it's \"quoted\"-"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("preflight refused the new value: deploy/c1/.env:API_KEY: the value contains a single quote and a double quote; dotenv readers disagree on such values, so rotor will not write it into an env file — use a json_file, yaml_file or exec target for this key"))
        #expect(try fixture.snapshot() == before)
        #expect(try fixture.vendorKeys().isEmpty)
    }

    @Test func manyTargetsShowOneRedrawnProgressLineOnATerminal() throws {
        let scratch = try Scratch()
        try scratch.write("policies/p.yaml", "kind: RotationPolicy\nproviders: {g: {type: generate}}\nkeys: {k: {provider: g}}\n")
        var manifest = "kind: ConsumerManifest\nconsumers:\n"
        for index in 0..<12 {
            manifest += "  c\(index): {uses: k, targets: [{env_file: ../deploy/\(index).env, var: K}]}\n"
            try scratch.write("deploy/\(index).env", "K=old\n")
        }
        try scratch.write("consumers/c.yaml", manifest)
        let command = "cd \(scratch.url.path) && \(RotorProcess.binary.path) rotate k"
        let terminal = try RotorProcess.run(["-qec", command, "/dev/null"], environment: ["TERM": "xterm"], executable: URL(fileURLWithPath: "/usr/bin/script"))
        #expect(terminal.stdout.contains("\r\u{1B}[K  updated 12/12 targets"))
        #expect(!terminal.stdout.contains("wrote"))
        let piped = try RotorProcess.run(["rotate", "k"], in: scratch.url)
        #expect(piped.stderr.components(separatedBy: ": wrote ").count == 13, "a line per target without a terminal")
    }

    @Test func dryRunChangesNothing() throws {
        let fixture = try RotationFixture()
        let before = try fixture.snapshot()
        let result = try fixture.rotor(["rotate", "api-key", "--dry-run", "--emergency"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("api-key  EMERGENCY rotation: emergency rotation requested"))
        #expect(try fixture.snapshot() == before)
        #expect(try fixture.vendorKeys().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.scratch.url.appendingPathComponent(".rotor").path))
    }

    @Test func usageErrors() throws {
        let fixture = try RotationFixture()
        #expect(try fixture.rotor(["rotate"]).status == 64)
        #expect(try fixture.rotor(["rotate", "api-key", "--revoke-first"]).stderr.contains("--revoke-first is for emergencies: add --emergency"))
        #expect(try fixture.rotor(["rotate", "nope"]).status == 64)
    }

    @Test func stateFolderAndBackupsArePrivate() throws {
        // With a grace period the backups (old secrets) of a run that replaced a generation
        // stay, for `rotor rollback`: the second rotation's.
        let fixture = try RotationFixture(grace: "1h")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        func mode(_ relative: String) -> mode_t {
            var info = stat()
            #expect(stat(fixture.scratch.url.appendingPathComponent(relative).path, &info) == 0, "\(relative) exists")
            return info.st_mode & 0o777
        }
        #expect(mode(".rotor") == 0o700)
        #expect(mode(".rotor/state.db") == 0o600)
        #expect(mode(".rotor/backups") == 0o700)
        let runs = try FileManager.default.contentsOfDirectory(atPath: fixture.scratch.url.appendingPathComponent(".rotor/backups").path)
        #expect(runs.count == 1)
        for run in runs {
            #expect(mode(".rotor/backups/\(run)") == 0o700)
            let files = try FileManager.default.contentsOfDirectory(atPath: fixture.scratch.url.appendingPathComponent(".rotor/backups/\(run)").path)
            #expect(files.count == 6, "one backup per target: \(files)")
            for file in files { #expect(mode(".rotor/backups/\(run)/\(file)") == 0o600, "\(file)") }
        }
    }
}
