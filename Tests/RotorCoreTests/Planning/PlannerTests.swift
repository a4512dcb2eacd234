import Foundation
import Testing
@testable import RotorCore

@Suite struct PlannerTests {
    let now = ISO8601DateFormatter().date(from: "2026-11-26T12:00:00Z")!  // a Thursday

    func configuration(_ keyExtra: String = "") throws -> Configuration {
        let folder = try TemporaryFolder()
        try folder.write("p.yaml", """
            kind: RotationPolicy
            providers:
              local: { type: generate, format: { prefix: "whsec_", bytes: 32 } }
            keys:
              hook:
                provider: local
                every: 30d
                grace: 7d
            \(keyExtra)
            ---
            kind: ConsumerManifest
            consumers:
              api:
                uses: hook
                targets:
                  - env_file: api.env
                    var: HOOK
                  - json_file: api.json
                    pointer: /hook
                reload: [systemctl, restart, api]
                health: { http: { url: "http://127.0.0.1:8080/health" } }
            """)
        let result = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["p.yaml"])
        #expect(!result.diagnostics.hasErrors, "\(result.diagnostics.all)")
        return result.configuration
    }

    func generation(ageDays: Double) -> GenerationRecord {
        GenerationRecord(id: "gen-1", fingerprint: "sha256:aaaaaaaaaaaa", created: now.addingTimeInterval(-ageDays * 86_400))
    }

    @Test func aKeyWithoutStateIsDueWithEveryStepInOrder() throws {
        let plan = Planner.plan(PlanningInput(configuration: try configuration(), now: now))
        let key = try #require(plan.keys.first)
        #expect(key.due && key.reason == "never rotated by rotor")
        #expect(key.steps.map(\.step) == [.preflight, .create, .verifyKey, .update, .update, .reload, .health, .verify, .delete])
        #expect(key.steps.filter { $0.step == .update }.map(\.consumer) == ["api", "api"])
        #expect(key.steps.last?.detail.contains("after the grace period of 7d") == true)
    }

    /// The retry backoff (issue 19): failures in a row — needs-a-person included (found by an
    /// attacker: a lost create retried every 15 minutes left an orphan key each time) —
    /// hold `run` back 1 h, 2 h, 4 h…; a failure stamped in the future holds nothing back
    /// (it held a key overdue for years); plan is told, not held.
    @Test func failedRotationsBackOffAndAFutureFailureHoldsNothing() throws {
        let configuration = try configuration()
        func run(_ minutesAgo: Double, _ outcome: RunOutcome) -> RunRecord {
            RunRecord(id: UUID().uuidString, key: "hook", started: now.addingTimeInterval(-minutesAgo * 60 - 1),
                      finished: now.addingTimeInterval(-minutesAgo * 60), outcome: outcome, emergency: false, user: "u", host: "h")
        }
        let streaks = FailureStreak.streaks(in: [run(300, .completed), run(100, .failed), run(30, .needsPerson)])
        #expect(streaks["hook"]?.count == 2 && streaks["hook"]?.retryAt == now.addingTimeInterval(-30 * 60 + 2 * 3600))
        var input = PlanningInput(configuration: configuration, states: ["hook": KeyState(current: generation(ageDays: 31))], now: now)
        input.failureStreaks = streaks
        input.backoffHolds = true
        #expect(!Planner.plan(input).keys[0].due, "run waits")
        input.backoffHolds = false
        #expect(Planner.plan(input).keys[0].due && Planner.plan(input).keys[0].reason.contains("its last rotation failed (2 in a row"), "plan is told")
        input.backoffHolds = true
        input.failureStreaks = FailureStreak.streaks(in: [run(-1_000_000, .failed)])  // stamped two years ahead
        #expect(Planner.plan(input).keys[0].due, "a future failure holds nothing back")
        #expect(FailureStreak(count: 12, last: now).retryAt == now.addingTimeInterval(86_400), "at most 24 h")
    }

    @Test func dueWhenOlderThanEvery() throws {
        let configuration = try configuration()
        let old = Planner.plan(PlanningInput(configuration: configuration, states: ["hook": KeyState(current: generation(ageDays: 31))], now: now))
        #expect(old.keys[0].due && old.keys[0].reason == "current generation is 31d old (every 30d)")
        let fresh = Planner.plan(PlanningInput(configuration: configuration, states: ["hook": KeyState(current: generation(ageDays: 10))], now: now))
        #expect(!fresh.keys[0].due && fresh.keys[0].steps.isEmpty)
        #expect(fresh.keys[0].reason == "current generation is 10d old; due in 20d (2026-12-16)")
        let forced = Planner.plan(PlanningInput(configuration: configuration, states: ["hook": KeyState(current: generation(ageDays: 10))], now: now, force: true))
        #expect(forced.keys[0].due)
    }

    @Test func aDueKeyOutsideItsWindowWaits() throws {
        let configuration = try configuration("    window: \"Sat-Sun 00:00-06:00 UTC\"")
        let plan = Planner.plan(PlanningInput(configuration: configuration, states: ["hook": KeyState(current: generation(ageDays: 40))], now: now))
        #expect(!plan.keys[0].due)
        #expect(plan.keys[0].reason == "current generation is 40d old (every 30d), but outside its window 'Sat-Sun 00:00-06:00 UTC'; waits until 2026-11-28T00:00:00Z")
        let emergency = Planner.plan(PlanningInput(configuration: configuration, states: ["hook": KeyState(current: generation(ageDays: 40))], now: now, emergency: true))
        #expect(emergency.keys[0].due && emergency.keys[0].steps.last?.detail.contains("emergency: grace 7d ignored") == true)
    }

    @Test func revokeFirstSaysRollbackCannotRestore() throws {
        let plan = Planner.plan(PlanningInput(configuration: try configuration(), states: ["hook": KeyState(current: generation(ageDays: 1))],
                                              now: now, force: true, emergency: true, revokeFirst: true))
        #expect(plan.keys[0].steps.map(\.step).prefix(3) == [.preflight, .delete, .create])
        #expect(plan.keys[0].steps[1].detail.contains("rollback cannot restore it"))
    }

    @Test func observationsBecomeCurrentFingerprintsAndBlockers() throws {
        let observations: [TargetID: TargetObservation] = [
            TargetID(consumer: "api", index: 0): .present(fingerprint: "sha256:0123456789ab"),
            TargetID(consumer: "api", index: 1): .fileMissing,
        ]
        let plan = Planner.plan(PlanningInput(configuration: try configuration(), observations: observations, now: now, displayPath: { URL(fileURLWithPath: $0).lastPathComponent }))
        let updates = plan.keys[0].steps.filter { $0.step == .update }
        #expect(updates.map(\.current) == ["sha256:0123456789ab", "missing"])
        #expect(updates.map(\.target) == ["api.env:HOOK", "api.json:/hook"])
        #expect(plan.keys[0].blockers.count == 1)
        #expect(plan.keys[0].blockers.first?.hasPrefix("api: api.json:/hook: the file does not exist — rotor edits files, it does not create them: create it first, mode 0600 and owned by the account that reads it, holding {}") == true, "\(plan.keys[0].blockers)")
        #expect(PlanSummary(plan) == PlanSummary(keysForTest: 1, due: 1, targets: 2, files: ["api.env", "api.json"], consumers: 1, blockers: 1))
    }

    /// The menu path of manual instructions, as Foundation's components would cut it.
    @Test func menuPathDropsTheLastStepAsComponentsWould() {
        for text in ["Console > Settings > API Keys > Generate", "no separator", " > start", "end > ", "a >> b", "a > > b",
                     "a >  > b", "é > ✓ > 😀", "", " > ", " >  > "] {
            #expect(StepDescriptions.menuPath(text) == text.components(separatedBy: " > ").dropLast().joined(separator: " > "), "\(text)")
        }
    }

    /// Enough keys to be tallied on every core: files shared by keys are listed once, in
    /// order of first appearance; keys not due, and exec targets, add no file.
    @Test func theSummaryOfManyKeysListsEachFileOnce() {
        func step(_ consumer: String, _ target: String, type: String = "env_file") -> PlanStep {
            PlanStep(step: .update, consumer: consumer, target: target, targetType: type, detail: "write")
        }
        let keys = (0..<300).map { index in
            KeyPlan(key: "k\(index)", provider: "p", providerType: "generate", due: index % 3 != 2, reason: "r", emergency: false,
                    current: nil, nextDue: nil, blockers: index == 4 ? ["b1", "b2"] : [],
                    steps: [PlanStep(step: .preflight, detail: "check"),
                            step("c\(index)", "shared.env:K\(index)"), step("c\(index)", "own-\(index).env:K"),
                            step("d\(index)", "own-\(index).env:OTHER"), step("d\(index)", "[tool, write]", type: "exec"),
                            PlanStep(step: .reload, consumer: "d\(index)", detail: "run")])
        }
        let due = (0..<300).filter { $0 % 3 != 2 }
        let expected = PlanSummary(keysForTest: 300, due: due.count, targets: 4 * due.count,
                                   files: ["shared.env"] + due.map { "own-\($0).env" }, consumers: 2 * due.count, blockers: 2)
        #expect(PlanSummary(Plan(generatedAt: now, keys: keys)) == expected)
        // Told which files several targets write, it checks only those for repeats.
        let shared = Set(["shared.env"] + due.map { "own-\($0).env" })
        #expect(PlanSummary(Plan(generatedAt: now, keys: keys), sharedFiles: shared) == expected)
        #expect(PlanSummary(Plan(generatedAt: now, keys: keys), sharedFiles: ["shared.env"]).files.count == expected.files.count + due.count)
    }
}

extension PlanSummary {
    init(keysForTest keys: Int, due: Int, targets: Int, files: [String], consumers: Int, blockers: Int) {
        self.init(Plan(generatedAt: Date(), keys: []))
        self.keys = keys
        self.due = due
        self.targets = targets
        self.files = files
        self.consumers = consumers
        self.blockers = blockers
    }
}
