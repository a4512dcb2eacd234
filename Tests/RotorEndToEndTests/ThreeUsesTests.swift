import Foundation
import Testing
@testable import RotorCore

/// The README's three uses, run as written (issue 19): the example crontab's jobs through a
/// shell as cron runs them (a mail is whatever a job prints), the GitHub Actions workflow's
/// steps through bash as a runner runs them, and the systemd unit's command. rotor is on
/// PATH as `rotor`; the examples' fixed paths are moved into a scratch folder.
@Suite(.serialized) struct ThreeUsesTests {
    static let root = RotorProcess.packageRoot

    /// A folder holding `rotor`, for PATH.
    static func binFolder(_ scratch: Scratch) throws -> String {
        let bin = scratch.url.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: bin.appendingPathComponent("rotor").path) {
            try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("rotor").path, withDestinationPath: RotorProcess.binary.path)
        }
        return bin.path
    }

    /// `script` through `bash -eo pipefail`, stdout and stderr together (what cron mails, what a
    /// CI log shows), in `scratch` with rotor on PATH.
    static func shell(_ script: String, in scratch: Scratch, _ environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let bin = try binFolder(scratch)
        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let result = try RotorProcess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", "exec 2>&1\n" + script], in: scratch.url,
                                          environment: environment.merging(["PATH": path]) { $1 }, executable: URL(fileURLWithPath: "/usr/bin/env"))
        return (result.status, result.stdout + result.stderr)
    }

    /// The crontab's variables and jobs, with /etc/rotor, /var/lib/… and the binary's path moved into `scratch`.
    static func crontab(for scratch: Scratch) throws -> (environment: [String: String], jobs: [String], onboarding: String) {
        let text = try String(contentsOf: root.appendingPathComponent("examples/cron/crontab"), encoding: .utf8)
        let moved = { (line: Substring) in
            String(line).replacingOccurrences(of: "/usr/local/bin/rotor", with: "rotor")
                .replacingOccurrences(of: "/etc/rotor", with: scratch.url.path)
                .replacingOccurrences(of: "/var/lib/", with: scratch.url.path + "/var/lib/")
        }
        var environment: [String: String] = [:]
        var jobs: [String] = []
        // The header's once-before-the-first-run command, as a person copies it.
        let onboarding = moved(text.split(separator: "\n").first { $0.hasPrefix("#") && $0.contains("rotor adopt") }?.drop { $0 == "#" || $0 == " " } ?? "")
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if let equals = line.firstIndex(of: "="), !line.contains(" ") {
                environment[String(line[..<equals])] = moved(line[line.index(after: equals)...])
            } else {
                // Five time fields, then the command.
                let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
                #expect(fields.count == 6, "five time fields, then the command: \(line)")
                jobs.append(moved(fields[5]))
            }
        }
        try FileManager.default.createDirectory(at: scratch.url.appendingPathComponent("var/lib/rotor"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: scratch.url.appendingPathComponent("var/lib/prometheus/node-exporter"), withIntermediateDirectories: true)
        return (environment, jobs, onboarding)
    }

    /// Cron mails what a job prints: nothing while all is well — after onboarding, on a
    /// run with nothing due and on one that rotates — and one mail from the run job when a
    /// rotation fails.
    @Test func theCrontabIsSilentWhileAllIsWellAndMailsWhenSomethingFails() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        let (environment, jobs, onboarding) = try Self.crontab(for: scratch)
        #expect(jobs.count == 2 && environment["MAILTO"] != nil && environment["ROTOR_STATE"] != nil)
        let now = Date()
        let at = { (days: Double) in environment.merging(["ROTOR_NOW": DateFormatting.iso8601(now.addingTimeInterval(days * 86_400))]) { $1 } }
        // Before onboarding the run job refuses to start a store (a mistyped state must not rotate everything).
        let refused = try Self.shell(jobs[0], in: scratch, at(0))
        #expect(refused.status == 1 && refused.output.contains("rotor adopt --all"), "\(refused.output)")
        // Onboarding, as the crontab's header says, copied into a shell (not cron: without its variables).
        #expect(onboarding.contains("ROTOR_STATE=") && onboarding.contains("rotor adopt --all"), "\(onboarding)")
        let adopted = try Self.shell(onboarding, in: scratch, ["ROTOR_NOW": at(0)["ROTOR_NOW"]!])
        #expect(adopted.status == 0 && adopted.output.contains("webhook-signing: completed — adopted"), "\(adopted.output)")
        for days in [0.0, 40] {  // nothing due; then a rotation
            for job in jobs {
                let mail = try Self.shell(job, in: scratch, at(days))
                #expect(mail.output.isEmpty && mail.status == 0, "day \(days): \(job) would mail: \(mail.output)")
            }
        }
        #expect(try RotorProcess.run(["history", "webhook-signing"], in: scratch.url, environment: environment).stdout.contains("rotate  completed"))
        let metrics = scratch.url.appendingPathComponent("var/lib/prometheus/node-exporter/rotor.prom").path
        #expect(FileManager.default.fileExists(atPath: metrics))
        // A month later a target is gone: the rotation fails at preflight, and the run job mails it.
        try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("deploy/api/.env"))
        let mail = try Self.shell(jobs[0], in: scratch, at(80))
        #expect(mail.status == 1 && mail.output.contains("webhook-signing: failed — preflight failed"), "\(mail.output)")
    }

    /// The systemd unit's command, after the onboarding its header names.
    @Test func theSystemdUnitRunsAsWritten() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        let service = try String(contentsOf: Self.root.appendingPathComponent("examples/systemd/rotor.service"), encoding: .utf8)
        let timer = try String(contentsOf: Self.root.appendingPathComponent("examples/systemd/rotor.timer"), encoding: .utf8)
        #expect(timer.contains("OnCalendar=*:0/15") && timer.contains("WantedBy=timers.target"))
        let execStart = try #require(service.split(separator: "\n").first { $0.hasPrefix("ExecStart=") }).dropFirst("ExecStart=".count)
        let command = String(execStart).replacingOccurrences(of: "/usr/local/bin/rotor", with: "rotor")
            .replacingOccurrences(of: "/var/lib/", with: scratch.url.path + "/var/lib/")
        try FileManager.default.createDirectory(at: scratch.url.appendingPathComponent("var/lib/prometheus/node-exporter"), withIntermediateDirectories: true)
        #expect(service.contains("rotor adopt --all"))
        #expect(try Self.shell("rotor adopt --all", in: scratch).status == 0)
        let later = ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(40 * 86_400))]
        let run = try Self.shell(command, in: scratch, later)
        #expect(run.status == 0 && run.output.contains("webhook-signing: completed — rotated to"), "\(run.output)")
    }

    /// The workflow's steps as a runner runs them (bash -eo pipefail), with a manual key due
    /// beside the quickstart's: the plan step passes and marks it `needs_person`, apply
    /// rotates the rest and does not fail on it, the emergency job rotates with revoke-first.
    @Test func theWorkflowGatesOnThePlanAndLeavesAManualKeyToItsPerson() throws {
        let parsed = try ExamplesTests.python(["python3", "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
                                              Self.root.appendingPathComponent("examples/github-actions/rotor.yml").path])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: Any])
        let jobs = try #require(document["jobs"] as? [String: [String: Any]])
        #expect(Set(jobs.keys) == ["plan", "apply", "emergency"])
        func step(_ job: String, _ name: String) throws -> String {
            let steps = try #require(jobs[job]?["steps"] as? [[String: Any]])
            return try #require(steps.first { ($0["name"] as? String)?.hasPrefix(name) == true }?["run"] as? String, "\(job): \(name)")
        }
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        try scratch.write("policies/console.yaml", """
            kind: RotationPolicy
            providers:
              console: { type: manual, instructions: "Vendor Console > API Keys > New" }
            keys:
              console-key: { provider: console, every: 30d, grace: 0s }
            """)
        try scratch.write("consumers/console.yaml", """
            kind: ConsumerManifest
            consumers:
              reporting: { uses: console-key, targets: [{ env_file: ../deploy/reporting.env, var: VENDOR_KEY }] }
            """)
        try scratch.write("deploy/reporting.env", "VENDOR_KEY=console-key-as-deployed\n")
        #expect(try Self.shell("rotor adopt --all", in: scratch, ["ROTOR_NOW": "2027-01-01"]).status == 0)
        let due = ["ROTOR_NOW": "2027-03-01"]  // both keys due
        #expect(try Self.shell(try step("plan", "Validate"), in: scratch, due).status == 0)
        let plan = try Self.shell(try step("plan", "Plan"), in: scratch, due)
        #expect(plan.status == 0, "the plan step passes: \(plan.output)")
        #expect(plan.output.contains("console-key  NEEDS A PERSON"), "\(plan.output)")
        let saved = try #require(try JSONSerialization.jsonObject(with: try scratch.bytes("rotation.plan")) as? [String: Any])
        let consoleKey = (saved["keys"] as? [[String: Any]])?.first { $0["key"] as? String == "console-key" }
        #expect(consoleKey?["needs_person"] as? Bool == true, "\(String(describing: consoleKey))")
        let apply = try Self.shell(try step("apply", "Apply"), in: scratch, due)
        #expect(apply.status == 0, "apply does not fail on the manual key: \(apply.output)")
        #expect(apply.output.contains("console-key: left for a person (a manual key) — rotor rotate console-key"), "\(apply.output)")
        #expect(String(decoding: try scratch.bytes("deploy/reporting.env"), as: UTF8.self) == "VENDOR_KEY=console-key-as-deployed\n")
        #expect(try RotorProcess.run(["history", "webhook-signing"], in: scratch.url).stdout.contains("rotate  completed"))
        let emergency = try Self.shell(try step("emergency", "Emergency"), in: scratch, ["KEY": "webhook-signing", "REVOKE_FIRST": "true"])
        #expect(emergency.status == 0 && emergency.output.contains("\"emergency\" : true"), "\(emergency.output)")
    }
}
