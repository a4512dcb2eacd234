import Foundation
import Testing
@testable import RotorCore

/// Recovery's decision for every journal state a rotation can stop in, and for journals
/// that cannot be trusted.
@Suite struct RecoveryTests {
    /// Counts journal entries across the store's `die(after:)` calls.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func next() -> Int { lock.withLock { count += 1; return count } }
    }

    /// The journal of an uninterrupted rotation without grace has 14 entries; the run is
    /// stopped (the store goes away) right after each one, then recovered.
    @Test(arguments: 1...14)
    func aRunStoppedAfterAnyJournalEntryEndsOnOneGeneration(_ stopAfter: Int) async throws {
        let fixture = try EngineFixture()
        let before = try fixture.targetBytes()
        let counter = Counter()
        fixture.store.die { _ in counter.next() == stopAfter }
        let interrupted = await fixture.rotate(RotationOptions(parallel: 1))
        #expect(interrupted.outcome == .needsPerson, "entry \(stopAfter): \(interrupted.message)")
        fixture.store.heal()

        let reports = try await fixture.engine().recover()
        let report = try #require(reports.first)
        #expect(reports.count == 1)
        #expect(try fixture.store.runs().allSatisfy { $0.finished != nil })
        let state = try #require(try fixture.store.keyStates()["api"])
        let verifiedAt = 11  // verify.done
        if stopAfter >= verifiedAt {
            #expect(report.outcome == .completed, "entry \(stopAfter): \(report.message)")
            let new = try #require(state.current)
            #expect(new.id == "key-1")
            let secret = try #require(fixture.provider.keys.first { $0.id == "key-1" }?.secret)
            #expect(try fixture.holders(new: secret) == ["new", "new"])
            #expect(fixture.provider.keys.map(\.id) == ["key-1"])
            #expect(state.previous == nil)
        } else {
            #expect(report.outcome == .rolledBack, "entry \(stopAfter): \(report.message)")
            #expect(try fixture.targetBytes() == before)
            #expect(fixture.provider.keys.map(\.id) == ["key-0"])
            #expect(state.current == fixture.old)
        }
        #expect(fixture.backupFolders.isEmpty)
        // A second recovery finds nothing left to do.
        #expect(try await fixture.engine().recover().isEmpty)
    }

    @Test func aRecoveryStoppedInTheMiddleIsFinishedByTheNextOne() async throws {
        let fixture = try EngineFixture()
        let before = try fixture.targetBytes()
        fixture.store.die { $0.step == .update && $0.phase == .done && $0.consumer == "worker" }
        _ = await fixture.rotate(RotationOptions(parallel: 1))
        fixture.store.heal()
        fixture.store.die { $0.step == .restore && $0.phase == .done }
        let first = try await fixture.engine().recover()
        #expect(first.first?.outcome == .needsPerson)
        fixture.store.heal()
        let second = try await fixture.engine().recover()
        #expect(second.first?.outcome == .rolledBack, "\(second.first?.message ?? "")")
        #expect(try fixture.targetBytes() == before)
        #expect(fixture.provider.keys.map(\.id) == ["key-0"])
    }

    @Test func aJournalWithAnUnknownStepIsNotGuessedAt() async throws {
        let fixture = try EngineFixture()
        try fixture.store.createRun(RunRecord(id: "r1", key: "api", started: fixture.now, emergency: false, user: "ops", host: "h"))
        fixture.store.appendStored(JournalEntry.Stored(sequence: 1, at: fixture.now, step: "start", phase: "info", consumer: nil, target: nil,
                                                       detail: "", data: ["emergency": "false"]), to: "r1")
        fixture.store.appendStored(JournalEntry.Stored(sequence: 2, at: fixture.now, step: "udpate", phase: "intent", consumer: "web", target: "t",
                                                       detail: "", data: ["index": "0"]), to: "r1")
        let before = try fixture.targetBytes()
        let report = try #require(try await fixture.engine().recover().first)
        #expect(report.outcome == .needsPerson)
        #expect(report.message.contains("unknown step 'udpate'"))
        #expect(try fixture.targetBytes() == before)
        #expect(fixture.provider.calls.isEmpty)
        #expect(try fixture.store.run("r1")?.finished == nil)
    }

    @Test func aJournalWrittenByAnEarlierRotorStillRollsBack() async throws {
        // The stored shape of every rotor before the journal was typed: flat string facts.
        let fixture = try EngineFixture()
        let before = try fixture.targetBytes()
        let backups = fixture.folder.path + "/.rotor/backups/r1"
        try FileManager.default.createDirectory(atPath: backups, withIntermediateDirectories: true)
        try before["worker.json"]!.write(to: URL(fileURLWithPath: backups + "/1-0"))
        let written = String(decoding: before["worker.json"]!, as: UTF8.self).replacingOccurrences(of: EngineFixture.oldSecret, with: "canary-new")
        try Data(written.utf8).write(to: fixture.folder.url.appendingPathComponent("worker.json"))
        fixture.provider.seed(id: "key-9", name: "api-2026-11-30", secret: "canary-new")
        // On this host: a run of another host that wrote targets is left to it.
        try fixture.store.createRun(RunRecord(id: "r1", key: "api", started: fixture.now, emergency: false, user: "ops", host: ProcessInfo.processInfo.hostName))
        let worker = fixture.folder.path + "/worker.json"
        let legacy: [(String, String, String?, [String: String])] = [
            ("start", "info", nil, ["emergency": "false", "old_id": "key-0", "old_fingerprint": fixture.old.fingerprint, "old_created": "0"]),
            ("preflight", "done", nil, [:]),
            ("create", "intent", nil, ["name": "api-2026-11-30"]),
            ("create", "done", nil, ["name": "api-2026-11-30", "new_id": "key-9", "new_fingerprint": Fingerprint.of("canary-new"), "new_created": "1"]),
            ("update", "intent", "worker", ["index": "0", "backup": backups + "/1-0", "path": worker]),
        ]
        for (index, (step, phase, consumer, data)) in legacy.enumerated() {
            fixture.store.appendStored(JournalEntry.Stored(sequence: index + 1, at: fixture.now, step: step, phase: phase, consumer: consumer,
                                                           target: consumer == nil ? nil : "worker.json:/api/key", detail: "", data: data), to: "r1")
        }
        let report = try #require(try await fixture.engine().recover().first)
        #expect(report.outcome == .rolledBack, "\(report.message)")
        #expect(try fixture.targetBytes() == before)
        #expect(fixture.provider.keys.map(\.id) == ["key-0"])
    }

    @Test func aStoreWhoseRunsCannotBeReadBlocksRecoveryLoudly() async throws {
        let fixture = try EngineFixture()
        fixture.store.runsUnreadable = true
        await #expect(throws: RotationEngine.RecoveryBlocked.self) { try await fixture.engine().recover() }
    }

    @Test func aLiveRunIsLeftAlone() async throws {
        let fixture = try EngineFixture()
        try fixture.store.createRun(RunRecord(id: "r1", key: "api", started: fixture.now, emergency: false, user: "ops", host: "h"))
        let holder = LockOwner(host: ProcessInfo.processInfo.hostName, pid: getpid(), runID: "r1-live")
        _ = try fixture.store.acquireLock(key: "api", owner: holder, lease: 600, now: fixture.now, canTakeOver: { _ in false })
        let report = try #require(try await fixture.engine().recover().first)
        #expect(report.outcome == .inProgress)
        #expect(try fixture.store.run("r1")?.finished == nil)
    }

    @Test func aStoreThatCannotLockIsNotMistakenForALiveRun() async throws {
        let fixture = try EngineFixture()
        fixture.store.die { $0.step == .update && $0.phase == .done }
        _ = await fixture.rotate()
        fixture.store.heal()
        fixture.store.locksUnavailable = true
        let report = try #require(try await fixture.engine().recover().first)
        #expect(report.outcome == .needsPerson, "\(report.message)")
        #expect(report.message.contains("state store") && report.left.map(\.kind) == [.recoverRun])
        fixture.store.locksUnavailable = false
        #expect(try await fixture.engine().recover().first?.outcome == .rolledBack)
    }

    @Test func aRunRolledForwardInsideItsGraceKeepsItsBackupsForRollback() async throws {
        let fixture = try EngineFixture(.init(grace: "1h"))
        let before = try fixture.targetBytes()
        fixture.store.die { $0.step == .verify && $0.phase == .done }
        let interrupted = await fixture.rotate()
        fixture.store.heal()
        #expect(try await fixture.engine().recover().first?.outcome == .completed)
        #expect(fixture.backupFolders == [interrupted.runID])
        let undone = await fixture.engine().rollback(runID: try #require(interrupted.runID))
        #expect(undone.outcome == .completed, "\(undone.message)")
        #expect(try fixture.targetBytes() == before)
    }

    // MARK: The other paths

    @Test func aRunStoppedAfterRevokingFirstSaysTheOldKeyIsGone() async throws {
        let fixture = try EngineFixture()
        fixture.store.die { $0.step == .revoke && $0.phase == .done }
        _ = await fixture.rotate(RotationOptions(emergency: true, revokeFirst: true))
        fixture.store.heal()
        let report = try #require(try await fixture.engine().recover().first)
        #expect(report.outcome == .needsPerson, "\(report.message)")
        #expect(report.left.contains { $0.text.contains("revoked") && $0.text.contains("rotor rotate api --emergency") })
        #expect(!report.message.contains("every consumer is on the old generation"))
    }

    @Test func aRunStoppedAfterMakingRoomRollsBackAndKeepsTheKeysInUse() async throws {
        let fixture = try EngineFixture(.init(maxGenerations: 2))
        fixture.provider.seed(id: "spare", name: "api-spare", secret: "spare-secret", active: false)
        let before = try fixture.targetBytes()
        fixture.store.die { $0.step == .makeRoom && $0.phase == .done }
        _ = await fixture.rotate()
        fixture.store.heal()
        let report = try #require(try await fixture.engine().recover().first)
        #expect(report.outcome == .rolledBack, "\(report.message)")
        #expect(try fixture.targetBytes() == before)
        #expect(fixture.provider.keys.map(\.id) == ["key-0"], "the inactive spare went, the key in use stayed")
        #expect(try fixture.store.keyStates()["api"]?.current == fixture.old)
    }

    @Test(arguments: ["retire.intent", "retire.done"])
    func aRetirementStoppedHalfWayLeavesNoDeletedKeyPending(_ stopAfter: String) async throws {
        let fixture = try EngineFixture()
        fixture.provider.seed(id: "older", name: "api-older", secret: "older-secret")
        try fixture.store.saveKeyState(KeyState(current: fixture.old, previous: GenerationRecord(id: "older", fingerprint: "sha256:000000000000", created: fixture.now)), for: "api")
        fixture.store.die { "\($0.step.rawValue).\($0.phase.rawValue)" == stopAfter }
        _ = await fixture.rotate()
        fixture.store.heal()
        let report = try #require(try await fixture.engine().recover().first)
        #expect(report.outcome == .rolledBack, "\(report.message)")
        let state = try #require(try fixture.store.keyStates()["api"])
        #expect(state.current == fixture.old)
        // Deleted at the provider (the intent was followed by the call): no longer pending.
        #expect(state.previous == nil)
        #expect(!fixture.provider.keys.contains { $0.id == "older" })
    }

    /// A rotation that retired an older generation, then verified every consumer, rolls
    /// forward: the generation it replaced waits out its grace in the state (it is not the
    /// one that was retired).
    @Test func aRetiringRotationRolledForwardKeepsTheGenerationItReplacedPending() async throws {
        let fixture = try EngineFixture(.init(grace: "1h"))
        fixture.provider.seed(id: "older", name: "api-older", secret: "older-secret")
        try fixture.store.saveKeyState(KeyState(current: fixture.old, previous: GenerationRecord(id: "older", fingerprint: "sha256:000000000000", created: fixture.now)), for: "api")
        fixture.store.die { $0.step == .verify && $0.phase == .done }
        _ = await fixture.rotate()
        fixture.store.heal()
        let report = try #require(try await fixture.engine().recover().first)
        #expect(report.outcome == .completed, "\(report.message)")
        let state = try #require(try fixture.store.keyStates()["api"])
        #expect(state.current?.id == "key-1")
        #expect(state.previous?.id == "key-0", "the replaced generation is still tracked until its grace ends")
        #expect(fixture.provider.keys.map(\.id).sorted() == ["key-0", "key-1"])
    }

    /// A crash inside an atomic write can leave the temporary file, holding the new secret,
    /// beside the target: recovery removes it.
    @Test func strayTemporaryFilesOfAnInterruptedWriteAreRemoved() async throws {
        let fixture = try EngineFixture()
        fixture.store.die { $0.step == .update && $0.phase == .intent }
        _ = await fixture.rotate(RotationOptions(parallel: 1))
        fixture.store.heal()
        try fixture.folder.write(".web.env.rotor-tmp-ab12cd", "API_KEY=canary-half-written\n")
        #expect(try await fixture.engine().recover().first?.outcome == .rolledBack)
        let left = try FileManager.default.contentsOfDirectory(atPath: fixture.folder.path).filter { $0.contains("rotor-tmp") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test(arguments: ["delete.intent", "delete.done"])
    func aGraceDeletionStoppedHalfWayIsFinished(_ stopAfter: String) async throws {
        let fixture = try EngineFixture(.init(grace: "1h"))
        let rotation = await fixture.rotate()
        fixture.store.die { "\($0.step.rawValue).\($0.phase.rawValue)" == stopAfter }
        let later = fixture.now.addingTimeInterval(7200)
        let stopped = try await fixture.engine().deletePending("api", now: later)
        #expect(stopped?.outcome == .needsPerson)
        fixture.store.heal()
        let report = try #require(try await fixture.engine().recover().first)
        #expect(report.outcome == .completed, "\(report.message)")
        #expect(report.message.contains("key-0") && !report.message.contains("rolled back"))
        #expect(try fixture.store.keyStates()["api"] == KeyState(current: rotation.newGeneration, previous: nil))
        #expect(fixture.provider.keys.map(\.id) == [rotation.newGeneration?.id])
    }

    // MARK: The decision, from journals alone

    func entry(_ step: JournalStep, _ phase: JournalEntry.Phase, _ facts: JournalFacts = JournalFacts(), consumer: String? = nil, target: String? = nil) -> JournalEntry {
        JournalEntry(at: Date(timeIntervalSince1970: 0), step: step, phase: phase, consumer: consumer, target: target, detail: "", facts: facts)
    }

    @Test func theDecisionFollowsTheJournal() {
        let new = GenerationRecord(id: "n", fingerprint: "sha256:111111111111", created: Date(timeIntervalSince1970: 1))
        let start = entry(.start, .info, JournalFacts(emergency: false))
        #expect(RunHistory([start]).decision == .rollBack)
        #expect(RunHistory([start, entry(.create, .intent, JournalFacts(name: "k"))]).creation == .unknown(name: "k", answerBy: nil))
        #expect(RunHistory([start, entry(.create, .intent, JournalFacts(name: "k")), entry(.create, .failed, JournalFacts(name: "k", mayHaveCreated: false))]).creation == .refused)
        // A create that may have happened anyway is looked for by name: never "refused".
        #expect(RunHistory([start, entry(.create, .intent, JournalFacts(name: "k")), entry(.create, .failed, JournalFacts(name: "k", mayHaveCreated: true))]).creation == .unknown(name: "k", answerBy: nil))
        #expect(RunHistory([start, entry(.verify, .done)]).decision == .inconsistent)
        let created = [start, entry(.create, .done, JournalFacts(new: new, name: "k"))]
        #expect(RunHistory(created + [entry(.verify, .done)]).decision == .rollForward(new: new))
        let write = entry(.update, .intent, JournalFacts(targetIndex: 0, backup: "/b"), consumer: "c", target: "t")
        let restored = entry(.restore, .done, consumer: "c", target: "t")
        #expect(RunHistory(created + [write]).writesToUndo.map(\.target) == ["t"])
        #expect(RunHistory(created + [write, restored]).writesToUndo.isEmpty)
        let deleted = RunHistory(created + [entry(.deleteNew, .intent, JournalFacts(generationID: "n")), entry(.deleteNew, .done)])
        #expect(deleted.deletedNew == ["n"])
    }

    @Test func everyStepReadsBackAsWrittenAndAnIncompleteEntryIsRefused() throws {
        let record = GenerationRecord(id: "g", fingerprint: "sha256:222222222222", created: Date(timeIntervalSince1970: 5))
        let complete: [JournalEntry] = [
            entry(.start, .info, JournalFacts(emergency: true, old: record)),
            entry(.create, .done, JournalFacts(new: record, name: "k")),
            entry(.create, .failed, JournalFacts(name: "k", mayHaveCreated: true)),
            entry(.update, .intent, JournalFacts(targetIndex: 2, path: "/srv/.env"), consumer: "c", target: "t"),
            entry(.restore, .intent, JournalFacts(backup: "/b"), target: "t"),
            entry(.retire, .intent, JournalFacts(retiring: record)),
            entry(.makeRoom, .intent, JournalFacts(generationID: "spare")),
            entry(.deleteNew, .intent, JournalFacts(generationID: "n")),
            entry(.sync, .intent, JournalFacts(new: record)),
        ]
        for original in complete {
            #expect(original.missingFacts.isEmpty, "\(original.step)")
            let read = try JournalEntry(stored: original.stored, runID: "r")
            #expect(read == original, "\(original.step).\(original.phase)")
        }
        #expect(throws: JournalCorruption.self) { try JournalEntry(stored: self.entry(.create, .done).stored, runID: "r") }
        var unknownFact = complete[0].stored
        unknownFact.data["old_fingerprnt"] = "x"
        #expect(throws: JournalCorruption.self) { try JournalEntry(stored: unknownFact, runID: "r") }
        for (fact, value) in [("index", "x"), ("emergency", "maybe"), ("may_have_created", "yes")] {
            var malformed = complete[fact == "index" ? 3 : fact == "emergency" ? 0 : 2].stored
            malformed.data[fact] = value
            #expect(throws: JournalCorruption.self, "\(fact)=\(value)") { try JournalEntry(stored: malformed, runID: "r") }
        }
        var badPhase = complete[0].stored
        badPhase.phase = "maybe"
        #expect(throws: JournalCorruption.self) { try JournalEntry(stored: badPhase, runID: "r") }
    }
}
