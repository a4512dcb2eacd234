import Foundation
import Testing
@testable import RotorCore

/// A recognisable canary secret driven through every command and failure path; then
/// stdout, stderr, the state database (with its WAL), the journal and every file left in
/// the state folder are searched for it. Only the targets may hold it.
@Suite(.serialized) struct SecretExposureTests {
    static let canary = "CANARY7f3a9e1bZQ"

    @Test func theCanaryNeverLeaks() throws {
        let fixture = try RotationFixture()
        fixture.environment["VENDOR_SECRET_PREFIX"] = Self.canary
        var outputs: [String] = []
        @discardableResult
        func run(_ arguments: [String], _ environment: [String: String] = [:]) throws -> Int32 {
            let result = try fixture.rotor(arguments, environment: environment)
            outputs += [result.stdout, result.stderr]
            return result.status
        }
        try run(["rotate", "api-key"])                                              // success
        try run(["rotate", "api-key", "--json"])                                    // success, old deleted
        try run(["rotate", "api-key"], ["VENDOR_FAIL": "check", "VENDOR_ECHO_SECRET": "1"])   // verify-key fails
        try run(["rotate", "api-key"], ["VENDOR_FAIL": "create", "VENDOR_ECHO_SECRET": "1"])  // create fails, echoing a secret
        try run(["rotate", "api-key"], ["ROTOR_TEST_FAIL_WRITE": "c3/values.yaml"])  // write fails: rollback
        try run(["rotate", "api-key", "--json"], ["VENDOR_FAIL": "delete", "VENDOR_ECHO_SECRET": "1"])  // old deletion fails, vendor echoes a secret
        try run(["rotate", "api-key"], ["ROTOR_TEST_CRASH_AT": "update.done#3"])     // crash with backups on disk
        try run(["recover", "--json"])
        try run(["plan"])
        try run(["plan", "--json"])
        try run(["rotate", "api-key", "--dry-run", "--json"])
        try run(["validate", "--verbose"])
        // Operations: reports, audit, metrics, saved plans, emergencies, healing drift.
        let later = ["ROTOR_NOW": "2031-01-01T00:00:00Z"]
        try run(["status"])
        try run(["status", "--json"])
        try run(["history", "--verify"])
        try run(["history", "--json"])
        #expect(try run(["run", "--json", "--metrics-file", "metrics.prom"], later) == 0)
        try run(["plan", "--out", "rotation.plan"], ["ROTOR_NOW": "2032-01-01T00:00:00Z"])
        #expect(try run(["apply", "rotation.plan"], ["ROTOR_NOW": "2032-01-01T00:00:00Z"]) == 0)
        #expect(try run(["rotate", "api-key", "--emergency", "--json"], ["ROTOR_NOW": "2032-01-02T00:00:00Z"]) == 0)
        try fixture.scratch.write("deploy/c4/credentials", "[svc]\napi_key = drifted\n")
        #expect(try run(["sync"]) == 0)
        try run(["status", "--json"])

        // The vendor's echoed secret reached rotor and was masked, not dropped silently.
        #expect(outputs.contains { $0.contains("vendor: delete refused for key CAN…") && $0.contains("(redacted)") })
        #expect(outputs.contains { $0.contains("vendor: create refused for key CAN…") && $0.contains("(redacted)") })
        // The canary really was used: the targets hold it.
        #expect(try fixture.values().allSatisfy { $0.hasPrefix(Self.canary) })
        for (index, output) in outputs.enumerated() {
            #expect(!output.contains(Self.canary), "output \(index) leaks the secret: \(output)")
        }
        let stateFolder = fixture.scratch.url.appendingPathComponent(".rotor")
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: stateFolder.path)
        for file in leftovers {
            let data = (try? Data(contentsOf: stateFolder.appendingPathComponent(file))) ?? Data()
            #expect(data.range(of: Data(Self.canary.utf8)) == nil, ".rotor/\(file) holds the secret")
        }
        #expect(leftovers.contains("state.db"))
        #expect(!leftovers.contains { $0.hasPrefix("backups/") && $0.split(separator: "/").count > 2 }, "backups are removed: \(leftovers)")
        // Every other file rotor wrote (metrics, the saved plan, anything stray): only the
        // targets and the vendor's own database may hold a secret.
        let allowed = Set(RotationFixture.targetFiles + ["vendor-db.json"])
        for file in try FileManager.default.subpathsOfDirectory(atPath: fixture.scratch.url.path) where !allowed.contains(file) {
            let data = (try? Data(contentsOf: fixture.scratch.url.appendingPathComponent(file))) ?? Data()
            #expect(data.range(of: Data(Self.canary.utf8)) == nil, "\(file) holds the secret")
        }
        #expect(FileManager.default.fileExists(atPath: fixture.scratch.url.appendingPathComponent("metrics.prom").path))
        #expect(FileManager.default.fileExists(atPath: fixture.scratch.url.appendingPathComponent("rotation.plan").path))
        // The journal names fingerprints, never values.
        let opened = try #require(try StateStoreURL.open(nil, workingDirectory: fixture.scratch.url.path))
        for run in try opened.store.runs() {
            for entry in try opened.store.journal(of: run.id) {
                #expect(!"\(entry)".contains(Self.canary))
            }
        }
    }
}
