import Foundation
import Testing
@testable import RotorCore

/// Inputs far past what a team writes: each must complete or end in a clear error, within
/// a bounded amount of memory (peak RSS of the rotor process, from getrusage). Times are
/// reported, not asserted (docs/reliability.md has the figures).
@Suite(.serialized) struct ResourceBoundsTests {
    /// Runs rotor and returns its result with the peak RSS in MiB of that rotor process
    /// alone (`Peers/peak_rss.py`, from wait4), not of everything the test runner started.
    static func measured(_ arguments: [String], in directory: URL) throws -> (RotorProcess.Result, peakMiB: Int) {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-rss-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: report) }
        let result = try RotorProcess.run(["python3", RotationFixture.peers.appendingPathComponent("peak_rss.py").path, report.path,
                                           RotorProcess.binary.path] + arguments,
                                          in: directory, executable: URL(fileURLWithPath: "/usr/bin/env"))
        let kib = try #require(Int(try String(contentsOf: report, encoding: .utf8)))
        return (result, kib / 1024)
    }

    @Test func a100000TargetConfigurationValidatesAndPlans() throws {
        let scratch = try Scratch()
        let generator = RotorProcess.packageRoot.appendingPathComponent("bench/generate_inventory.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", generator, scratch.url.path, "--keys", "100", "--consumers", "100000", "--env-only", "--no-reload", "--no-targets"]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        let started = Date()
        let (validate, validatePeak) = try Self.measured(["validate"], in: scratch.url)
        #expect(validate.status == 0, "\(validate.stderr)")
        #expect(validate.stdout == "valid: 2 files, 2 providers, 100 keys, 100000 consumers, 100000 targets\n")
        // The target files were not written: plan names every one as a blocker and exits 1.
        let (plan, planPeak) = try Self.measured(["plan"], in: scratch.url)
        #expect(plan.status == 1)
        #expect(plan.stdout.contains("100000 problems would stop preflight"))
        print("100,000 targets: validate + plan \(Int(Date().timeIntervalSince(started) * 1000)) ms (debug build), peak \(validatePeak) / \(planPeak) MiB")
        #expect(validatePeak > 0 && validatePeak < 1024 && planPeak < 1024)
    }

    @Test func veryLongLinesCompleteOrSayWhy() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        // A 4 MiB description on one line, and a 1 MiB line in an env file beside the secret.
        let policy = try String(decoding: scratch.bytes("policies/webhook-signing.yaml"), as: UTF8.self)
        let long = String(repeating: "x", count: 4 << 20)
        try scratch.write("policies/webhook-signing.yaml", policy.replacingOccurrences(of: "    every: ", with: "    description: \(long)\n    every: "))
        let env = try String(decoding: scratch.bytes("deploy/api/.env"), as: UTF8.self)
        try scratch.write("deploy/api/.env", "NOTES=\(String(repeating: "y", count: 1 << 20))\n" + env)
        let validate = try RotorProcess.run(["validate"], in: scratch.url)
        #expect(validate.status == 0, "\(validate.stderr.prefix(500))")
        let rotate = try RotorProcess.run(["rotate", "webhook-signing"], in: scratch.url)
        #expect(rotate.status == 0, "\(rotate.stdout.prefix(500))")
        let after = try String(decoding: scratch.bytes("deploy/api/.env"), as: UTF8.self)
        #expect(after.hasPrefix("NOTES=\(String(repeating: "y", count: 1 << 20))\n"), "the long line is kept byte for byte")
        #expect(!validate.stdout.contains(long.prefix(100)) && !validate.stderr.contains(long.prefix(100)))

        // A long line that is also wrong: the error quotes a bounded excerpt, not 4 MiB.
        try scratch.write("policies/webhook-signing.yaml", policy.replacingOccurrences(of: "    every: ", with: "    descripton: \(long)\n    every: "))
        let (broken, peak) = try Self.measured(["validate"], in: scratch.url)
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("unknown field 'descripton'"), "\(broken.stderr.prefix(300))")
        #expect(broken.stderr.utf8.count < 4_096, "the error is \(broken.stderr.utf8.count) bytes")
        #expect(peak > 0 && peak < 1024, "validate of a 4 MiB line peaked at \(peak) MiB")
    }

    /// libpq and libcurl, with the ~20 libraries each pulls in, cost milliseconds of every
    /// start: a rotation on SQLite state that sends no HTTP request loads neither (the
    /// dynamic loader's own log says which libraries it found).
    @Test func aRotationThatNeedsNoNetworkLoadsNeitherLibpqNorLibcurl() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        let rotate = try RotorProcess.run(["rotate", "webhook-signing"], in: scratch.url, environment: ["LD_DEBUG": "libs"])
        #expect(rotate.status == 0, "\(rotate.stdout)")
        #expect(rotate.stderr.contains("find library=libyaml"), "the loader's log is there: \(rotate.stderr.prefix(300))")
        #expect(!rotate.stderr.contains("libpq"))
        #expect(!rotate.stderr.contains("libcurl"))
    }
}
