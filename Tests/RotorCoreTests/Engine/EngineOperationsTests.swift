import Foundation
import Testing
@testable import RotorCore

/// The operations beside a rotation, in process: `rollback RUN`, grace-period deletion,
/// `sync`, and `run`'s walk over due keys.
@Suite struct EngineOperationsTests {
    @Test func rollingBackARunPutsEveryTargetBackAndDeletesItsKey() async throws {
        let fixture = try EngineFixture(.init(grace: "1h"))
        let before = try fixture.targetBytes()
        let rotation = await fixture.rotate()
        #expect(rotation.outcome == .completed)
        let runID = try #require(rotation.runID)
        let report = await fixture.engine().rollback(runID: runID)
        #expect(report.outcome == .completed, "\(report.message)")
        #expect(try fixture.targetBytes() == before)
        #expect(fixture.provider.keys.map(\.id) == ["key-0"])
        #expect(try fixture.store.keyStates()["api"]?.current?.id == "key-0")
        #expect(try fixture.store.run(runID)?.outcome == .rolledBack)
        #expect(fixture.backupFolders.isEmpty)
        // Undone once: a second rollback of the same run is refused and changes nothing.
        let again = await fixture.engine().rollback(runID: runID)
        #expect(again.outcome == .failed && again.message.contains("not completed"))
    }

    /// Found by a reviewer: the undo wrote into a finished run, so `recover` never saw it.
    @Test(arguments: ["rollback.intent", "restore.intent", "restore.done", "restore.done#2", "delete-new.intent", "delete-new.done"])
    func aRollbackStoppedHalfWayIsFinishedByRecovery(_ stopAfter: String) async throws {
        let fixture = try EngineFixture(.init(grace: "1h"))
        let before = try fixture.targetBytes()
        let rotation = await fixture.rotate()
        let runID = try #require(rotation.runID)
        let counter = RecoveryTests.Counter()
        let (label, occurrence) = stopAfter.contains("#") ? (String(stopAfter.split(separator: "#")[0]), Int(stopAfter.split(separator: "#")[1])!) : (stopAfter, 1)
        fixture.store.die { "\($0.step.rawValue).\($0.phase.rawValue)" == label && counter.next() == occurrence }
        let stopped = await fixture.engine().rollback(runID: runID)
        #expect(stopped.outcome == .needsPerson)
        fixture.store.heal()
        let recovered = try await fixture.engine().recover()
        #expect(recovered.map(\.outcome) == [.rolledBack], "\(recovered.map(\.message))")
        #expect(try fixture.targetBytes() == before)
        #expect(fixture.provider.keys.map(\.id) == ["key-0"])
        #expect(try fixture.store.keyStates()["api"]?.current?.id == "key-0")
        #expect(try fixture.store.keyStates()["api"]?.previous == nil)
        #expect(fixture.backupFolders.isEmpty)
    }

    @Test func aRunWhoseOldKeyIsGoneCannotBeRolledBack() async throws {
        let fixture = try EngineFixture()
        let rotation = await fixture.rotate()
        let report = await fixture.engine().rollback(runID: try #require(rotation.runID))
        #expect(report.outcome == .failed && report.message.contains("no longer exists"))
        let unknown = await fixture.engine().rollback(runID: "no-such-run")
        #expect(unknown.outcome == .failed && unknown.message.contains("no run 'no-such-run'"))
    }

    @Test func anOldKeyIsDeletedOnceItsGracePeriodEnds() async throws {
        let fixture = try EngineFixture(.init(grace: "1h"))
        let rotation = await fixture.rotate()
        let engine = fixture.engine()
        #expect(try await engine.deletePending("api", now: fixture.now.addingTimeInterval(1800)) == nil)
        let report = try #require(try await engine.deletePending("api", now: fixture.now.addingTimeInterval(3601)))
        #expect(report.outcome == .completed, "\(report.message)")
        #expect(fixture.provider.keys.map(\.id) == [rotation.newGeneration?.id])
        #expect(try fixture.store.keyStates()["api"]?.previous == nil)
        #expect(fixture.backupFolders.isEmpty)
    }

    @Test func aGraceDeletionThatFailsNeedsAPersonAndKeepsThePendingKey() async throws {
        let fixture = try EngineFixture(.init(grace: "1h"))
        _ = await fixture.rotate()
        fixture.provider.failingDeletes = ["key-0"]
        let report = try #require(try await fixture.engine().deletePending("api", now: fixture.now.addingTimeInterval(7200)))
        #expect(report.outcome == .needsPerson && report.left.map(\.kind) == [.deleteGeneration])
        #expect(try fixture.store.keyStates()["api"]?.previous?.id == "key-0")
    }

    @Test func syncWritesTheCurrentKeyIntoADriftedTarget() async throws {
        let fixture = try EngineFixture(.init(grace: "1h"))
        _ = await fixture.rotate()
        let current = try fixture.text("worker.json")
        try fixture.folder.write("worker.json", "{\n  \"api\": { \"key\": \"\(EngineFixture.oldSecret)\" }\n}\n")
        let dry = await fixture.engine().sync("api", dryRun: true, now: fixture.now)
        #expect(dry.message.contains("would write") && dry.message.contains("worker.json"))
        #expect(try fixture.text("worker.json").contains(EngineFixture.oldSecret))
        let report = await fixture.engine().sync("api", dryRun: false, now: fixture.now)
        #expect(report.outcome == .completed, "\(report.message)")
        #expect(try fixture.text("worker.json") == current)
        #expect(try fixture.store.labels(of: try #require(report.runID)).first == "sync.intent")
    }

    /// Issue 20: `run` over 1,000 keys decoded every key's state once per key and step
    /// (O(keys²)). A rotation's steps read their own key's state; every key's is read once
    /// for the run's schedule and once for the check that a new id is no other key's.
    @Test func aRotationReadsItsOwnKeysStateOnly() async throws {
        let fixture = try EngineFixture()
        let engine = fixture.engine()
        let reports = try await engine.runScheduled(now: fixture.now)
        #expect(reports.first?.outcome == .completed)
        #expect(fixture.store.wholeReads <= 3 && fixture.store.singleReads >= 2, "whole \(fixture.store.wholeReads), single \(fixture.store.singleReads)")
    }

    @Test func runRotatesWhatIsDueAndSkipsTheRest() async throws {
        let fixture = try EngineFixture()
        let engine = fixture.engine()
        let first = try await engine.runScheduled(now: fixture.now)
        #expect(first.map(\.due) == [true] && first.first?.outcome == .completed)
        let second = try await engine.runScheduled(now: fixture.now)
        #expect(second.map(\.due) == [false] && second.first?.outcome == nil)
        #expect(second.first?.message.hasPrefix("not due") == true)
    }
}
