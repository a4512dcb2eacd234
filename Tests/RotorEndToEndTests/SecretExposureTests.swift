import Foundation
import Testing
@testable import RotorCore

/// A recognisable canary secret driven through every command and failure path of each
/// provider type; then stdout, stderr (with `--verbose`), the state database (with its
/// WAL), the journal, every file left in the state folder and TMPDIR are searched for it,
/// raw, JSON-escaped, base64 and hex (`LeakScan`). Only the targets may hold it.
@Suite(.serialized) struct SecretExposureTests {
    static let canary = "CANARY7f3a9e1bZQ"

    @Test func theCanaryNeverLeaks() throws {
        let fixture = try RotationFixture()
        fixture.environment["VENDOR_SECRET_PREFIX"] = Self.canary
        // Temporary files rotor or its commands make go here, and are scanned too.
        let temporary = fixture.scratch.url.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        fixture.environment["TMPDIR"] = temporary.path
        var outputs: [String] = []
        @discardableResult
        func run(_ arguments: [String], _ environment: [String: String] = [:]) throws -> Int32 {
            let result = try fixture.rotor(arguments, environment: environment)
            outputs += [result.stdout, result.stderr]
            return result.status
        }
        #expect(try run(["rotate", "api-key"]) == 0)                                  // success
        #expect(try run(["rotate", "api-key", "--json", "--verbose"]) == 0)           // success, old deleted, every command shown
        #expect(try run(["rotate", "api-key", "--verbose"], ["VENDOR_FAIL": "check", "VENDOR_ECHO_SECRET": "1"]) == 1)   // verify-key fails
        #expect(try run(["rotate", "api-key"], ["VENDOR_FAIL": "create", "VENDOR_ECHO_SECRET": "1"]) == 1)  // create fails, echoing a secret
        #expect(try run(["rotate", "api-key"], ["ROTOR_TEST_FAIL_WRITE": "c3/values.yaml"]) == 1)  // write fails: rollback
        #expect(try run(["rotate", "api-key", "--json"], ["VENDOR_FAIL": "delete", "VENDOR_ECHO_SECRET": "1"]) == 3)  // old deletion fails, vendor echoes a secret
        #expect(try run(["rotate", "api-key"], ["ROTOR_TEST_CRASH_AT": "update.done#3"]) == 9)     // crash with backups on disk
        #expect(try run(["recover", "--json", "--verbose"]) == 0)
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
        #expect(outputs.contains { $0.contains("(secret [REDACTED])") })
        #expect(outputs.contains { $0.contains("vendor: create refused for key [REDACTED]") })
        // The canary really was used: the targets hold it.
        #expect(try fixture.values().allSatisfy { $0.hasPrefix(Self.canary) })
        let scan = LeakScan(secrets: [Self.canary])
        scan.check(outputs)
        try scan.check(folder: temporary)
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
        try scan.check(folder: fixture.scratch.url, allowed: allowed)
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

    /// The http provider: every value it issued, through success, a create answered with a
    /// body that echoes a secret, a failed deletion that echoes one, `--verbose` and the
    /// reports. Only the targets may hold a value.
    @Test func noValueOfTheHTTPProviderLeaks() throws {
        let setup = try HTTPProviderTests.Setup(retries: 0)
        var outputs: [String] = [], values = ["old-mail-key"]
        func run(_ arguments: [String], _ environment: [String: String] = [:]) throws -> Int32 {
            let result = try setup.rotor(arguments, environment: environment)
            outputs += [result.stdout, result.stderr]
            return result.status
        }
        #expect(try run(["rotate", "mailer", "--verbose"]) == 0)
        values.append(try setup.value())
        try setup.control(#"{"faults": [{"echo": true}]}"#)                      // create answers 500, echoing the newest secret
        #expect(try run(["rotate", "mailer", "--json"]) != 0)
        #expect(try run(["rotate", "mailer"]) == 0)
        values.append(try setup.value())
        try setup.control(#"{"faults": [{"delay": 0}, {"echo": true}]}"#)       // the old key's deletion answers 500, echoing a secret
        #expect(try run(["rotate", "mailer", "--verbose"]) == 3)
        values.append(try setup.value())
        for arguments in [["status", "--json"], ["history", "--json"], ["plan", "--json"], ["recover"]] { _ = try run(arguments) }
        // The old key stays at the provider, and its value in the run's backups, until a
        // run deletes it.
        #expect(try run(["run"]) == 0)
        #expect(outputs.contains { $0.contains("[REDACTED]") }, "the echoed secrets reached rotor and were masked")
        let scan = LeakScan(secrets: values + [HTTPProviderTests.admin])
        scan.check(outputs)
        try scan.check(folder: setup.scratch.url, allowed: ["deploy/.env", "deploy/config.json"])
    }

    /// The manual provider: secrets a person hands over by `--secret-env` and on stdin,
    /// one that fails verification, `--verbose`. Only the targets may hold a value.
    @Test func noValueAPersonHandsOverLeaks() throws {
        let health = try HealthServer()
        let scratch = try ManualProviderTests().scratch(health: health)
        let failing = try ManualProviderTests().scratch(verifyStatus: 401, health: health)
        let values = ["sk-\(Self.canary)-stdin", "sk-\(Self.canary)-env", "sk-\(Self.canary)-rejected"]
        var outputs: [String] = []
        func record(_ result: RotorProcess.Result) -> Int32 { outputs += [result.stdout, result.stderr]; return result.status }
        #expect(record(try RotorProcess.run(["rotate", "skytells-prod", "--verbose"], in: scratch.url, stdin: values[0] + "\n")) == 0)
        try ManualProviderTests().refuse(values[0], in: scratch)  // the person deletes it in the console
        #expect(record(try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "NEW_KEY", "--yes", "--json"], in: scratch.url,
                                            environment: ["NEW_KEY": values[1]])) == 0)
        #expect(record(try RotorProcess.run(["rotate", "skytells-prod", "--secret-env", "NEW_KEY", "--verbose"], in: failing.url,
                                            environment: ["NEW_KEY": values[2]])) == 3,
                "rejected by verify-key: the key the person made must be deleted in the console by a person")
        for arguments in [["status", "--json"], ["history", "--json"]] { _ = record(try RotorProcess.run(arguments, in: scratch.url)) }
        let scan = LeakScan(secrets: values)
        scan.check(outputs)
        for folder in [scratch.url, failing.url] { try scan.check(folder: folder, allowed: ["deploy/.env", "deploy/config.json"]) }
        #expect(try ManualProviderTests().value(scratch) == values[1], "the secrets really were used")
    }
}
