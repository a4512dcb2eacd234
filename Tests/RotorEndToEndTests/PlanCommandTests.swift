import Foundation
import Testing
@testable import RotorCore

@Suite struct PlanCommandTests {
    struct PlanJSON: Decodable {
        struct Key: Decodable {
            var key: String
            var provider: String
            var provider_type: String
            var due: Bool
            var reason: String
            var emergency: Bool
            var blockers: [String]
            var steps: [Step]
        }

        struct Step: Decodable {
            var step: String
            var consumer: String?
            var target: String?
            var target_type: String?
            var current: String?
            var detail: String
        }

        struct Summary: Decodable {
            var keys: Int
            var due: Int
            var targets: Int
            var files: [String]
            var consumers: Int
            var blockers: Int
        }

        var version: Int
        var generated_at: String
        var keys: [Key]
        var summary: Summary
    }

    let initial = "whsec_quickstart-initial-secret-api"

    @Test func worldReadableTargetsAreWarnedAboutInPlanAndStatus() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        for file in ["deploy/api/.env", "deploy/worker/.env"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: scratch.url.appendingPathComponent(file).path)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: scratch.url.appendingPathComponent("deploy/dashboard/config.json").path)
        let expected = "warning: deploy/dashboard/config.json holds key 'webhook-signing' and every user on this machine can read it (mode 644); run: chmod o-rwx deploy/dashboard/config.json\n"

        let text = try RotorProcess.run(["plan"], in: scratch.url)
        #expect(text.status == 0)
        #expect(text.stderr == expected)
        struct Warnings: Decodable { var warnings: [String] }
        let json = try RotorProcess.run(["plan", "--json"], in: scratch.url)
        #expect(json.stderr == "")
        #expect(try JSONDecoder().decode(Warnings.self, from: Data(json.stdout.utf8)).warnings == [String(expected.dropFirst("warning: ".count).dropLast())])
        let status = try RotorProcess.run(["status"], in: scratch.url)
        #expect(status.stderr.hasSuffix(expected))
        let statusJSON = try RotorProcess.run(["status", "--json"], in: scratch.url)
        #expect(try JSONDecoder().decode(Warnings.self, from: Data(statusJSON.stdout.utf8)).warnings.count == 1)

        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: scratch.url.appendingPathComponent("deploy/dashboard/config.json").path)
        #expect(try RotorProcess.run(["plan"], in: scratch.url).stderr == "")
    }

    /// `plan` looks at each key's targets on the core that plans the key; its warnings
    /// still come out in configuration order, each file once (two.env has two variables,
    /// one.env two consumers of one key), and each key's blockers and fingerprints are its own.
    @Test func warningsAcrossKeysComeOutInConfigurationOrder() throws {
        let scratch = try Scratch()
        try scratch.write("policies/keys.yaml", """
            kind: RotationPolicy
            providers: { local: { type: generate } }
            keys: { alpha: { provider: local }, beta: { provider: local } }
            """)
        try scratch.write("consumers/services.yaml", """
            kind: ConsumerManifest
            consumers:
              one:   { uses: beta,  targets: [ { env_file: ../one.env, var: K } ] }
              two:   { uses: alpha, targets: [ { env_file: ../two.env, var: K }, { env_file: ../gone.env, var: K } ] }
              three: { uses: beta,  targets: [ { env_file: ../three.env, var: K } ] }
              four:  { uses: alpha, targets: [ { env_file: ../two.env, var: OTHER } ] }
              five:  { uses: beta,  targets: [ { env_file: ../one.env, var: K } ] }
            """)
        for name in ["one", "two", "three"] {
            let file = try scratch.write("\(name).env", "K=value-of-\(name)\nOTHER=x\n")
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        }
        struct Output: Decodable {
            struct Key: Decodable { var key: String; var blockers: [String]; var steps: [PlanJSON.Step] }
            var keys: [Key]
            var warnings: [String]
        }
        let result = try RotorProcess.run(["plan", "--json"], in: scratch.url)
        #expect(result.status == 1)  // gone.env blocks alpha
        let plan = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
        #expect(plan.warnings.map { $0.components(separatedBy: " holds key ").first! } == ["one.env", "two.env", "three.env"])
        #expect(plan.warnings[1].contains("holds key 'alpha'") && plan.warnings[2].contains("holds key 'beta'"))
        #expect(plan.keys.map(\.key) == ["alpha", "beta"])
        #expect(plan.keys[0].blockers.count == 1 && plan.keys[0].blockers[0].hasPrefix("two: gone.env:K: the file does not exist — rotor edits files, it does not create them: create it first, mode 0600 and owned by the account that reads it, (empty is fine"), "\(plan.keys[0].blockers)")
        #expect(plan.keys[1].blockers.isEmpty)
        let updates = plan.keys.map { $0.steps.filter { $0.step == "update" }.map { "\($0.consumer!) \($0.target!) \($0.current!)" } }
        let fingerprint = { (value: String) in Fingerprint.of(value) }
        #expect(updates[0] == ["two two.env:K \(fingerprint("value-of-two"))", "two gone.env:K missing", "four two.env:OTHER \(fingerprint("x"))"])
        #expect(updates[1] == ["one one.env:K \(fingerprint("value-of-one"))", "three three.env:K \(fingerprint("value-of-three"))",
                               "five one.env:K \(fingerprint("value-of-one"))"])
    }

    @Test func jsonPlanOfTheQuickstartFieldByField() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        let result = try RotorProcess.run(["plan", "--json"], in: scratch.url)
        #expect(result.status == 0)
        #expect(result.stderr == "")
        let plan = try JSONDecoder().decode(PlanJSON.self, from: Data(result.stdout.utf8))
        #expect(plan.version == 1)
        #expect(ISO8601DateFormatter().date(from: plan.generated_at) != nil)
        let key = try #require(plan.keys.first)
        #expect(plan.keys.count == 1)
        #expect(key.key == "webhook-signing" && key.provider == "local" && key.provider_type == "generate")
        #expect(key.due && key.reason == "never rotated by rotor" && !key.emergency && key.blockers.isEmpty)
        #expect(key.steps.map(\.step) == ["preflight", "create", "verify-key", "update", "update", "update", "verify", "delete"])
        let updates = key.steps.filter { $0.step == "update" }
        #expect(updates.map(\.consumer) == ["api", "worker", "dashboard"])
        #expect(updates.map(\.target) == ["deploy/api/.env:WEBHOOK_SECRET", "deploy/worker/.env:WEBHOOK_SECRET", "deploy/dashboard/config.json:/webhooks/signingSecret"])
        #expect(updates.map(\.target_type) == ["env_file", "env_file", "json_file"])
        #expect(updates.map(\.current) == Array(repeating: Fingerprint.of(initial), count: 3))
        #expect(plan.summary.due == 1 && plan.summary.targets == 3 && plan.summary.consumers == 3 && plan.summary.blockers == 0)
        #expect(plan.summary.files == ["deploy/api/.env", "deploy/worker/.env", "deploy/dashboard/config.json"])
    }

    @Test func humanPlanNamesTheFilesThatChangeAndNeverTheSecret() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        let result = try RotorProcess.run(["plan"], in: scratch.url)
        #expect(result.status == 0)
        #expect(result.stdout.contains("webhook-signing  rotate: never rotated by rotor"))
        #expect(result.stdout.hasSuffix("""
            Plan: 1 of 1 key to rotate; 3 targets of 3 consumers will change, in 3 files:
              deploy/api/.env
              deploy/worker/.env
              deploy/dashboard/config.json

            """))
        #expect(!result.stdout.contains(initial) && !result.stderr.contains(initial))
        #expect(!result.stdout.contains("quickstart-initial"))
    }

    @Test func planChangesNothing() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        let files = ["deploy/api/.env", "deploy/worker/.env", "deploy/dashboard/config.json"]
        let before = try files.map { try scratch.bytes($0) }
        let listing = try FileManager.default.subpathsOfDirectory(atPath: scratch.url.path).sorted()
        let plan = try RotorProcess.run(["plan", "--json"], in: scratch.url)
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("\"due\" : true"), "the quickstart's key was never rotated, so it is due: the plan really planned")
        #expect(try files.map { try scratch.bytes($0) } == before)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: scratch.url.path).sorted() == listing)
    }

    @Test func detailedExitCodeSaysRotationsArePending() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        #expect(try RotorProcess.run(["plan", "--detailed-exitcode"], in: scratch.url).status == 2)
        #expect(try RotorProcess.run(["plan"], in: scratch.url).status == 0)
    }

    @Test func aTargetPreflightWouldRefuseFailsThePlan() throws {
        let scratch = try Scratch()
        try scratch.copy("examples/quickstart")
        try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("deploy/worker/.env"))
        try scratch.write("deploy/api/.env", "OTHER=1\n")
        let result = try RotorProcess.run(["plan", "--no-color"], in: scratch.url)
        #expect(result.status == 1)
        #expect(result.stdout.contains("! preflight will refuse: api: deploy/api/.env:WEBHOOK_SECRET: WEBHOOK_SECRET is not set in the file (set create: true on the target to add it)"))
        #expect(result.stdout.contains("! preflight will refuse: worker: deploy/worker/.env:WEBHOOK_SECRET: the file does not exist"))
        #expect(result.stdout.contains("2 problems would stop preflight; fix them before rotating."))
    }

    @Test func unknownKeyIsAUsageError() throws {
        let result = try RotorProcess.run(["plan", "skytells-prd"])
        #expect(result.status == 64)
        #expect(result.stderr == "error: unknown key 'skytells-prd' (did you mean 'skytells-prod'?); keys are: aws-deploy-bot, mailer-prod, skytells-prod\n")
    }

    @Test func selectedKeysOnly() throws {
        let result = try RotorProcess.run(["plan", "skytells-prod", "--json"])
        let plan = try JSONDecoder().decode(PlanJSON.self, from: Data(result.stdout.utf8))
        #expect(plan.keys.map(\.key) == ["skytells-prod"])
        #expect(plan.keys[0].steps.first { $0.step == "create" }?.detail.contains("Generate New API Key — name it 'data-pipeline-prod-") == true)
    }

    @Test func invalidConfigurationExits1WithNoPlan() throws {
        let scratch = try Scratch()
        try scratch.write("policies/p.yaml", "kind: RotationPolicy\nkeys:\n  k: { provider: nope }\n")
        let result = try RotorProcess.run(["plan", "--json"], in: scratch.url)
        #expect(result.status == 1 && result.stdout == "")
        #expect(result.stderr.contains("policies/p.yaml:3:18: error: key 'k' uses unknown provider 'nope'\n"))
        #expect(result.stderr.hasSuffix("1 error in 1 file; nothing was changed\n"))
    }
}
