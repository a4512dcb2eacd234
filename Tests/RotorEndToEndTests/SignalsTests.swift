import Foundation
import Testing
@testable import RotorCore

/// SIGINT and SIGTERM mid-run (issue 17, item 7): a cancelled CI job, `systemctl stop`,
/// Ctrl-C. No new step starts, running commands stop, touched targets go back, the lock
/// is released, and rotor exits 1 (rolled back) or 3; a second signal leaves the rest to
/// `rotor recover` (exit 3). They acted like kill -9.
@Suite(.serialized) struct SignalsTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalDuringTheSwitchRollsBackAndReleasesTheLock(_ signal: Int32) throws {
        let fixture = try RotationFixture()
        try Self.makeC1Slow(fixture)
        try fixture.scratch.write("deploy/fast", "")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        try FileManager.default.removeItem(at: fixture.scratch.url.appendingPathComponent("deploy/fast"))
        let before = try fixture.snapshot()
        let keysBefore = try fixture.vendorKeys()
        let started = Date()
        let rotor = try BackgroundRotor(["rotate", "api-key"], in: fixture.scratch.url, environment: fixture.environment)
        Self.waitUntilExists(fixture.scratch.url.appendingPathComponent("deploy/health-started"), while: rotor)
        kill(rotor.pid, signal)
        let (status, output) = rotor.finish()
        #expect(status == 1, "rolled back: \(output)")
        #expect(Date().timeIntervalSince(started) < 45, "the running health check was stopped, not waited for (60 s)")
        #expect(output.contains("signal"), "it says why it stopped: \(output)")
        try fixture.scratch.write("deploy/fast", "")
        #expect(try fixture.snapshot() == before, "every target back as it was")
        #expect(try fixture.vendorKeys() == keysBefore, "the new generation was deleted")
        #expect(try fixture.rotor(["recover"]).stdout == "nothing to recover\n", "the run finished: nothing left to recover")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0, "the lock was released")
    }

    /// The same at another point: while a consumer's reload runs (c2's, slow the first time).
    @Test func aSignalDuringAReloadRollsBack() throws {
        let fixture = try RotationFixture(c2Reload: "[sh, ../deploy/slow-reload.sh]")
        try fixture.scratch.write("deploy/slow-reload.sh", "touch ../deploy/c2/reloaded\ntest -e ../deploy/fast && exit 0\ntest -e ../deploy/reload-started && exit 0\ntouch ../deploy/reload-started\nsleep 60\n")
        try fixture.scratch.write("deploy/fast", "")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        try FileManager.default.removeItem(at: fixture.scratch.url.appendingPathComponent("deploy/fast"))
        let before = try fixture.snapshot()
        let keysBefore = try fixture.vendorKeys()
        let rotor = try BackgroundRotor(["rotate", "api-key", "--json"], in: fixture.scratch.url, environment: fixture.environment)
        Self.waitUntilExists(fixture.scratch.url.appendingPathComponent("deploy/reload-started"), while: rotor)
        kill(rotor.pid, SIGINT)
        let (status, output) = rotor.finish()
        #expect(status == 1, "\(output)")
        #expect(try fixture.snapshot() == before, "every target back byte for byte")
        #expect(try fixture.vendorKeys() == keysBefore)
        #expect(try fixture.rotor(["recover"]).stdout == "nothing to recover\n")
    }

    /// Found by an attacker: a reload that ignores TERM finished, then the health check ran
    /// and the run committed after the signal. The run stops after the update whatever the
    /// commands did (and a command ignoring TERM gets KILL 2 s later).
    @Test func aSignalStopsTheRunEvenWhenACommandIgnoresTERM() throws {
        let fixture = try RotationFixture(c2Reload: "[sh, ../deploy/stubborn-reload.sh]")
        try fixture.scratch.write("deploy/stubborn-reload.sh", "touch ../deploy/c2/reloaded\ntest -e ../deploy/fast && exit 0\ntest -e ../deploy/reload-started && exit 0\ntouch ../deploy/reload-started\ntrap '' TERM INT\nsleep 6\n")
        try fixture.scratch.write("deploy/fast", "")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        try FileManager.default.removeItem(at: fixture.scratch.url.appendingPathComponent("deploy/fast"))
        let before = try fixture.snapshot()
        let rotor = try BackgroundRotor(["rotate", "api-key", "--parallel", "1"], in: fixture.scratch.url, environment: fixture.environment)
        Self.waitUntilExists(fixture.scratch.url.appendingPathComponent("deploy/reload-started"), while: rotor)
        kill(rotor.pid, SIGTERM)
        let (status, output) = rotor.finish()
        #expect(status == 1, "rolled back, not committed: \(output)")
        #expect(try fixture.snapshot() == before)
    }

    @Test func aSecondSignalLeavesTheRestToRecover() throws {
        let fixture = try RotationFixture()
        try Self.makeC1Slow(fixture, always: true)
        try fixture.scratch.write("deploy/fast", "")
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        try FileManager.default.removeItem(at: fixture.scratch.url.appendingPathComponent("deploy/fast"))
        let before = try fixture.snapshot()
        let rotor = try BackgroundRotor(["rotate", "api-key"], in: fixture.scratch.url, environment: fixture.environment)
        Self.waitUntilExists(fixture.scratch.url.appendingPathComponent("deploy/health-started"), while: rotor)
        kill(rotor.pid, SIGTERM)
        rotor.waitUntilSaid("rolling back")
        usleep(1_000_000)  // the targets are restored; the rollback's own (slow) health check runs
        kill(rotor.pid, SIGTERM)
        let (status, output) = rotor.finish()
        #expect(status == 3, "\(output)")
        #expect(output.contains("rotor recover"), "\(output)")
        try fixture.scratch.write("deploy/fast", "")
        let recovered = try fixture.rotor(["recover"])
        #expect(recovered.status == 0 && recovered.stdout.contains("rolled back"), "\(recovered.stdout)")
        #expect(try fixture.snapshot() == before)
    }

    /// Found by an attacker: a signal during a create that had already acted at the vendor
    /// (its command was stopped mid-way) was reported "nothing was created", and the key
    /// stayed live. A create cut short is looked up by name and deleted like a lost one.
    @Test func aSignalDuringCreateLeavesNoKeyAtTheVendor() throws {
        let fixture = try RotationFixture()
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        let vendor = RotationFixture.peers.appendingPathComponent("vendor.py").path
        let policy = String(decoding: try fixture.scratch.bytes("policies/vendor.yaml"), as: UTF8.self)
        try fixture.scratch.write("policies/vendor.yaml", policy.replacingOccurrences(
            of: "create: [python3, \(vendor), create, \"{name}\"]",
            with: "create: [sh, -c, 'python3 \(vendor) create \"$1\" && touch ../created && sleep 30', sh, \"{name}\"]"))
        let keysBefore = try fixture.vendorKeys()
        let rotor = try BackgroundRotor(["rotate", "api-key"], in: fixture.scratch.url, environment: fixture.environment)
        Self.waitUntilExists(fixture.scratch.url.appendingPathComponent("created"), while: rotor)
        kill(rotor.pid, SIGTERM)
        let (status, output) = rotor.finish()
        #expect(status == 1, "\(output)")
        #expect(output.contains("found by name and deleted"), "\(output)")
        #expect(try fixture.vendorKeys() == keysBefore, "no key the rotation made is left at the vendor")
    }

    static func waitUntilExists(_ file: URL, while rotor: BackgroundRotor, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: file.path) {
            guard rotor.process.isRunning, Date() < deadline else {
                Issue.record("\(file.lastPathComponent) never appeared", sourceLocation: sourceLocation)
                return
            }
            usleep(20_000)
        }
    }

    /// c1's health check sleeps 60 s unless `deploy/fast` exists, touching
    /// `deploy/health-started` first; only the first time, unless `always` (then the
    /// rollback's health check is slow too).
    static func makeC1Slow(_ fixture: RotationFixture, always: Bool = false) throws {
        let manifest = String(decoding: try fixture.scratch.bytes("consumers/services.yaml"), as: UTF8.self)
        let original = #"health: { http: { url: "http://127.0.0.1:\#(fixture.health.port)/status/200", expect: 200, timeout: 5s, retries: 1 } }"#
        #expect(manifest.contains(original))
        try fixture.scratch.write("consumers/services.yaml", manifest.replacingOccurrences(of: original, with: "health: { exec: [sh, ../deploy/slow-health.sh], timeout: 120s }"))
        let once = always ? "" : "test -e ../deploy/health-started && exit 0\n"
        try fixture.scratch.write("deploy/slow-health.sh", "test -e ../deploy/fast && exit 0\n" + once + "touch ../deploy/health-started\nsleep 60\n")
    }
}
