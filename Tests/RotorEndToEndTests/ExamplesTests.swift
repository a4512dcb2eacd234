import Foundation
import Testing

/// The shipped examples are checked, not just shipped: the JSON Schema accepts every
/// example document and rejects a typo, and the rotor command lines of the crontab, the
/// systemd unit and the GitHub Actions workflow run as written against the quickstart.
@Suite(.serialized) struct ExamplesTests {
    static let root = RotorProcess.packageRoot

    static func python(_ arguments: [String]) throws -> RotorProcess.Result {
        try RotorProcess.run(arguments, executable: URL(fileURLWithPath: "/usr/bin/env"))
    }

    @Test func theSchemaAcceptsEveryShippedDocumentAndRejectsATypo() throws {
        let script = Self.root.appendingPathComponent("schema/check_examples.py").path
        let shipped = try Self.python(["python3", script, "examples/quickstart", "examples/providers", "policies", "consumers"])
        #expect(shipped.status == 0 && shipped.stdout == "14 documents checked, 0 problems\n", "\(shipped.stdout)\(shipped.stderr)")
        let scratch = try Scratch()
        let bad = try scratch.write("bad.yaml", "kind: RotationPolicy\nkeys:\n  k: { provider: p, evrey: 30d }\n")
        let rejected = try Self.python(["python3", script, bad.path])
        #expect(rejected.status == 1)
        #expect(rejected.stdout.contains("keys/k: Additional properties are not allowed ('evrey' was unexpected)"))
    }

    @Test(arguments: ["http-api", "aws-iam", "skytells-console"])
    func eachProviderExampleIsValidAndPlans(_ name: String) throws {
        let folder = "examples/providers/\(name)/rotor.yaml"  // deploy/ beside it holds target files, not configuration
        let validate = try RotorProcess.run(["validate", "--config", folder])
        #expect(validate.status == 0 && validate.stdout.hasPrefix("valid: 1 file, 1 provider, 1 key, 1 consumer"), "\(validate.stdout)\(validate.stderr)")
        // Inside the http-api example's window (Mon-Fri 09:00-17:00 UTC), which holds for a
        // key's first rotation too: a Wednesday at noon.
        let plan = try RotorProcess.run(["plan", "--config", folder, "--detailed-exitcode"], environment: ["ROTOR_NOW": "2026-12-02T12:00:00Z"])
        #expect(plan.status == 2, "\(plan.stdout)\(plan.stderr)")
    }

    /// `rotor ARGS…` taken from a line of an example file, with its paths moved into `scratch`.
    static func rotorArguments(in line: String, scratch: Scratch) -> [String] {
        let afterBinary = line.components(separatedBy: "/usr/local/bin/rotor ").last ?? ""
        let command = afterBinary.components(separatedBy: " > ").first!.components(separatedBy: " || ").first!
        return command.split(separator: " ").map { word in
            word.hasPrefix("/var/lib/") ? scratch.url.appendingPathComponent("rotor.prom").path : String(word)
        }
    }

    @Test func theCrontabAndSystemdCommandsRunAsWritten() throws {
        let crontab = try String(contentsOf: Self.root.appendingPathComponent("examples/cron/crontab"), encoding: .utf8)
        let service = try String(contentsOf: Self.root.appendingPathComponent("examples/systemd/rotor.service"), encoding: .utf8)
        let timer = try String(contentsOf: Self.root.appendingPathComponent("examples/systemd/rotor.timer"), encoding: .utf8)
        let jobs = crontab.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("rotor ") }
        #expect(jobs.count == 2)
        for job in jobs {
            #expect(job.split(separator: " ", omittingEmptySubsequences: true).count > 5, "five time fields, then the command")
        }
        let execStart = try #require(service.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        #expect(timer.contains("OnCalendar=*:0/15") && timer.contains("WantedBy=timers.target"))
        for line in jobs.map(String.init) + [String(execStart)] {
            let scratch = try Scratch()
            try scratch.copy("examples/quickstart")
            let arguments = Self.rotorArguments(in: line, scratch: scratch)
            let result = try RotorProcess.run(arguments, in: scratch.url)
            if arguments.first == "run" {
                #expect(result.status == 0, "\(line): \(result.stdout)\(result.stderr)")
                #expect(FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("rotor.prom").path))
            } else {
                #expect(result.status == 2, "status on a never-rotated key reports it as overdue: \(line)")
            }
        }
    }

    @Test func theWorkflowPlansAppliesAndRotatesInEmergencies() throws {
        let workflow = try String(contentsOf: Self.root.appendingPathComponent("examples/github-actions/rotor.yml"), encoding: .utf8)
        let parsed = try Self.python(["python3", "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
                                      Self.root.appendingPathComponent("examples/github-actions/rotor.yml").path])
        let document = try JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: Any]
        let jobs = try #require(document?["jobs"] as? [String: Any])
        #expect(Set(jobs.keys) == ["plan", "apply", "emergency"])
        #expect(workflow.contains("rotor plan --detailed-exitcode --out rotation.plan"))
        // The workflow's plan and apply steps, as written, against the quickstart.
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        let plan = try RotorProcess.run(["plan", "--detailed-exitcode", "--out", "rotation.plan"], in: scratch.url)
        #expect(plan.status == 2)
        #expect(workflow.contains("rotor apply rotation.plan --json"))
        let apply = try RotorProcess.run(["apply", "rotation.plan", "--json"], in: scratch.url)
        #expect(apply.status == 0, "\(apply.stdout)\(apply.stderr)")
        #expect(workflow.contains(#"rotor rotate "$KEY" --emergency --revoke-first --json"#))
        #expect(try RotorProcess.run(["rotate", "webhook-signing", "--emergency", "--revoke-first", "--json"], in: scratch.url).status == 0)
    }
}
