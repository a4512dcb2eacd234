import Foundation
import Testing
@testable import RotorCore

/// The first consumer (the canary) is updated alone; the others are touched only once it is
/// healthy on the new generation, then up to `--parallel` at once, 16 by default (SPEC,
/// workflow step 3; issue 20).
@Suite(.serialized) struct CanaryRolloutTests {
    /// `canary` and `others` more consumers (`c01`…), each with its own env file holding
    /// `HOOK_SECRET=whsec_initial`. `canaryHealth` and `otherHealth` are shell scripts run
    /// as health checks in `consumers/` (`$D` is the scratch folder, `$N` the consumer's
    /// name); each consumer's reload leaves `reloaded/NAME`.
    static func fleet(others: Int, canaryHealth: String, otherHealth: String) throws -> Scratch {
        let scratch = try Scratch()
        try scratch.writeGeneratedKey()
        var manifest = "kind: ConsumerManifest\nconsumers:\n"
        let names = ["canary"] + (1...others).map { String(format: "c%02d", $0) }
        for name in names {
            let health = name == "canary" ? canaryHealth : otherHealth
            manifest += """
                  \(name):
                    uses: hook
                    targets:
                      - env_file: ../deploy/\(name)/.env
                        var: HOOK_SECRET
                    reload: [sh, -c, 'mkdir -p ../reloaded && touch "../reloaded/$0"', \(name)]
                    health: { exec: [sh, -c, 'D=..; N="$0"; \(health)', \(name)] }

                """
            try scratch.write("deploy/\(name)/.env", "HOOK_SECRET=whsec_initial\n")
        }
        try scratch.write("consumers/app.yaml", manifest)
        try scratch.write("started/.keep", "")
        return scratch
    }

    /// Every other consumer's file still holds the initial value: what the canary's health
    /// check asserts while it runs (exit 1 if another consumer was already written).
    static let othersUntouched = #"sleep 0.5; for f in "$D"/deploy/c[0-9]*/.env; do grep -qx HOOK_SECRET=whsec_initial "$f" || exit 1; done"#

    /// Healthy on the old value (the rollback's check passes); on the new one, runs `script`.
    static func onTheNewValue(_ script: String) -> String {
        #"grep -qx HOOK_SECRET=whsec_initial "$D/deploy/$N/.env" && exit 0; "# + script
    }

    /// Each other consumer's health check marks itself started, then waits (≤ 8 s) until
    /// 16 have started: it passes only if 16 consumers are updated at once. (16 commands
    /// once took 13 s to be running together: they were supervised on Dispatch's global
    /// pool, which grows by about a thread a second when its threads block.)
    static let sixteenAtOnce = #"touch "$D/started/$N"; i=0; while [ "$(ls "$D/started" | wc -l)" -lt 16 ]; do i=$((i+1)); [ $i -gt 160 ] && exit 1; sleep 0.05; done"#

    @Test func theCanaryGoesAloneThenSixteenAtOnceByDefault() throws {
        let scratch = try Self.fleet(others: 17, canaryHealth: Self.othersUntouched, otherHealth: Self.onTheNewValue(Self.sixteenAtOnce))
        let plan = try RotorProcess.run(["plan"], in: scratch.url)
        #expect(plan.stdout.contains("canary: canary is updated first, alone; the other 17 consumers follow once it is healthy (up to --parallel at once, default 16)"),
                "\(plan.stdout)\(plan.stderr)")
        let json = try RotorProcess.run(["plan", "--json"], in: scratch.url)
        let planned = (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["keys"] as? [[String: Any]]
        #expect(planned?.first?["canary"] as? String == "canary")

        let result = try RotorProcess.run(["rotate", "hook", "--json"], in: scratch.url)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let report = (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["keys"] as? [[String: Any]]
        #expect(report?.first?["canary"] as? String == "canary")
        #expect(report?.first?["outcome"] as? String == "completed")
        #expect(result.stderr.contains("hook: canary canary is healthy on the new generation; updating the other 17 consumers, 16 at once"), "\(result.stderr)")
        let started = try FileManager.default.contentsOfDirectory(atPath: scratch.url.appendingPathComponent("started").path)
        #expect(started.count == 18, "every other consumer was health-checked: \(started.count - 1)")
    }

    /// `--parallel 4`: the others cannot all be waiting at once, so their checks (which wait
    /// for 16) fail — the limit holds — and every consumer goes back to the old value.
    @Test func parallelLimitsHowManyFollowAtOnce() throws {
        let scratch = try Self.fleet(others: 17, canaryHealth: "true",
                                     otherHealth: Self.onTheNewValue(Self.sixteenAtOnce.replacingOccurrences(of: "-gt 160", with: "-gt 40")))
        let result = try RotorProcess.run(["rotate", "hook", "--parallel", "4"], in: scratch.url)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("health check failed") && result.stdout.contains("every consumer was rolled back"), "\(result.stdout)")
        let started = try FileManager.default.contentsOfDirectory(atPath: scratch.url.appendingPathComponent("started").path)
        #expect(started.count - 1 >= 1 && started.count - 1 <= 4, "at most 4 consumers after the canary were updated at once: \(started.count - 1)")
        for index in 1...17 {
            #expect(try String(decoding: scratch.bytes(String(format: "deploy/c%02d/.env", index)), as: UTF8.self) == "HOOK_SECRET=whsec_initial\n")
        }
    }

    /// The plan says how many follow: `--parallel` as given to `rotate --dry-run`, and one
    /// other consumer in the singular (found by an operator).
    @Test func thePlanSaysHowManyFollowTheCanary() throws {
        let many = try Self.fleet(others: 17, canaryHealth: "true", otherHealth: "true")
        let dry = try RotorProcess.run(["rotate", "hook", "--dry-run", "--parallel", "2"], in: many.url)
        #expect(dry.stdout.contains("canary: canary is updated first, alone; the other 17 consumers follow once it is healthy (up to 2 at once)"), "\(dry.stdout)")
        let two = try Self.fleet(others: 1, canaryHealth: "true", otherHealth: "true")
        let plan = try RotorProcess.run(["plan"], in: two.url)
        #expect(plan.stdout.contains("canary: canary is updated first, alone; the other consumer follows once it is healthy (up to --parallel at once, default 16)"), "\(plan.stdout)")
    }

    /// A canary that fails its health check: no other consumer is written or reloaded, and
    /// the report says so.
    @Test func aFailingCanaryLeavesTheOthersUntouched() throws {
        let scratch = try Self.fleet(others: 5, canaryHealth: Self.onTheNewValue("sleep 0.5; exit 1"), otherHealth: "true")
        let result = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("(the canary: the other 5 consumers were not touched)"), "\(result.stdout)")
        let reloaded = (try? FileManager.default.contentsOfDirectory(atPath: scratch.url.appendingPathComponent("reloaded").path)) ?? []
        #expect(reloaded.filter { $0 != "canary" }.isEmpty, "no other consumer was reloaded: \(reloaded)")
        for name in ["canary", "c01", "c02", "c03", "c04", "c05"] {
            #expect(try String(decoding: scratch.bytes("deploy/\(name)/.env"), as: UTF8.self) == "HOOK_SECRET=whsec_initial\n")
        }
    }
}
