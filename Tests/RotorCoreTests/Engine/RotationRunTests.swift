import Foundation
import Testing
@testable import RotorCore

/// Every step of a rotation and each way it can end, in process: a scripted provider,
/// an in-memory store, real target files.
@Suite struct RotationRunTests {
    // MARK: The whole way

    @Test func aRotationWithoutGraceSwitchesEveryTargetAndDeletesTheOldKey() async throws {
        let fixture = try EngineFixture()
        let report = await fixture.rotate(RotationOptions(parallel: 1))  // one consumer at a time: a fixed journal order
        #expect(report.outcome == .completed, "\(report.message)")
        let new = try #require(report.newGeneration)
        let secret = try #require(fixture.provider.keys.first { $0.id == new.id }?.secret)
        #expect(try fixture.holders(new: secret) == ["new", "new"])
        #expect(try fixture.text("web.env").contains("API_KEY_ID=\(new.id)\n"))
        #expect(fixture.provider.keys.map(\.id) == [new.id])
        #expect(try fixture.store.keyStates()["api"] == KeyState(current: new, previous: nil))
        #expect(try fixture.journal(report) == [
            "start.info", "preflight.done", "create.intent", "create.done",
            // web.env's two targets are one edit: both intents, one write, both results.
            "update.intent", "update.intent", "update.done", "update.done", "update.intent", "update.done",
            "verify.done", "commit.done", "delete.intent", "delete.done",
            "confirm-revoked.info",  // the key has no verify checks: not checked
        ])
        #expect(report.revocations.map(\.status) == [.notChecked])
        #expect(try fixture.store.run(#require(report.runID))?.outcome == .completed)
        #expect(fixture.backupFolders.isEmpty)
        #expect(try fixture.store.auditLog().map(\.action) == ["rotate"])
    }

    /// Found by a reviewer: a run that needed a person kept its backups (old secrets) for good.
    @Test func backupsOfEarlierRunsGoOnceTheirGenerationIsDeleted() async throws {
        let fixture = try EngineFixture()
        try fixture.store.createRun(RunRecord(id: "earlier", key: "api", started: fixture.now, finished: fixture.now, outcome: .needsPerson,
                                              emergency: false, user: "ops", host: "h"))
        try fixture.folder.write(".rotor/backups/earlier/0-0", "API_KEY=an-older-secret\n")
        let report = await fixture.rotate()
        #expect(report.outcome == .completed)
        #expect(fixture.backupFolders.isEmpty)
    }

    @Test func withAGracePeriodTheOldKeyWaitsAndItsBackupsStay() async throws {
        let fixture = try EngineFixture(.init(grace: "1h"))
        let report = await fixture.rotate()
        #expect(report.outcome == .completed)
        let state = try #require(try fixture.store.keyStates()["api"])
        #expect(state.current == report.newGeneration)
        #expect(state.previous?.id == "key-0")
        #expect(state.previous?.pendingDeletionAt == fixture.now.addingTimeInterval(3600))
        #expect(fixture.provider.keys.count == 2)
        #expect(fixture.backupFolders == [report.runID])
        #expect(try !fixture.journal(report).contains("delete.intent"))
    }

    // MARK: Preflight

    @Test func aProviderThatIsNotReadyStopsEverythingBeforeACreate() async throws {
        let fixture = try EngineFixture()
        fixture.provider.preflightProblems = ["token variable VENDOR_TOKEN is not set"]
        let before = try fixture.targetBytes()
        let report = await fixture.rotate()
        #expect(report.outcome == .failed)
        #expect(report.message.contains("VENDOR_TOKEN") && report.message.contains("nothing was created or changed"))
        #expect(fixture.provider.calls.isEmpty)
        #expect(try fixture.targetBytes() == before)
        #expect(try fixture.journal(report) == ["start.info", "preflight.failed"])
    }

    @Test func aMissingTargetFileStopsEverythingBeforeACreate() async throws {
        let fixture = try EngineFixture()
        try FileManager.default.removeItem(atPath: fixture.folder.path + "/worker.json")
        let report = await fixture.rotate()
        #expect(report.outcome == .failed && report.message.contains("worker.json"))
        #expect(!fixture.provider.calls.contains { $0.hasPrefix("create") })
    }

    // MARK: Making room

    @Test func atTheLimitAnInactiveSpareIsDeletedFirst() async throws {
        let fixture = try EngineFixture(.init(maxGenerations: 2))
        fixture.provider.seed(id: "spare", name: "api-spare", secret: "spare-secret", active: false)
        let report = await fixture.rotate()
        #expect(report.outcome == .completed, "\(report.message)")
        #expect(fixture.provider.calls.prefix(2) == ["list", "delete spare"])
        #expect(fixture.provider.calls.dropFirst(2).first?.hasPrefix("create api-2026-11-30-") == true, "a name unique to the run: \(fixture.provider.calls)")
        #expect(try fixture.journal(report).contains("make-room.done"))
    }

    @Test func atTheLimitWithoutPermissionNothingIsCreated() async throws {
        let fixture = try EngineFixture(.init(maxGenerations: 2, deleteInactiveWhenFull: false))
        fixture.provider.seed(id: "spare", name: "api-spare", secret: "spare-secret", active: false)
        let report = await fixture.rotate()
        #expect(report.outcome == .failed)
        #expect(report.message.contains("its limit of 2") && report.message.contains("delete_inactive_when_full"))
        #expect(fixture.provider.calls == ["list"])
    }

    @Test func aProviderThatCannotCountRefusesBeforeACreate() async throws {
        let fixture = try EngineFixture()
        fixture.provider.listFails = true
        let report = await fixture.rotate()
        #expect(report.outcome == .failed && report.message.contains("cannot count the generations"))
        #expect(fixture.provider.calls == ["list"])
    }

    @Test func aSpareWhoseDeletionFailsRefusesBeforeACreate() async throws {
        let fixture = try EngineFixture(.init(maxGenerations: 2))
        fixture.provider.seed(id: "spare", name: "api-spare", secret: "spare-secret", active: false)
        fixture.provider.failingDeletes = ["spare"]
        let report = await fixture.rotate()
        #expect(report.outcome == .failed && report.message.contains("deleting inactive spare failed"))
        #expect(try fixture.journal(report).suffix(2) == ["make-room.failed", "preflight.failed"])
    }

    // MARK: Retiring and revoking

    @Test func aGenerationStillPendingFromAnEarlierRunIsRetiredFirst() async throws {
        let fixture = try EngineFixture()
        fixture.provider.seed(id: "older", name: "api-older", secret: "older-secret")
        try fixture.store.saveKeyState(KeyState(current: fixture.old, previous: GenerationRecord(id: "older", fingerprint: "sha256:000000000000", created: fixture.now)), for: "api")
        let report = await fixture.rotate()
        #expect(report.outcome == .completed)
        #expect(!fixture.provider.keys.contains { $0.id == "older" })
        #expect(try fixture.journal(report).contains("retire.done"))
    }

    @Test func aRetirementThatFailsStopsAnOrdinaryRotationButNotAnEmergency() async throws {
        for emergency in [false, true] {
            let fixture = try EngineFixture()
            fixture.provider.seed(id: "older", name: "api-older", secret: "older-secret")
            fixture.provider.failingDeletes = ["older"]
            try fixture.store.saveKeyState(KeyState(current: fixture.old, previous: GenerationRecord(id: "older", fingerprint: "sha256:000000000000", created: fixture.now)), for: "api")
            let report = await fixture.rotate(RotationOptions(emergency: emergency))
            if emergency {
                #expect(report.outcome == .completed)
                #expect(report.left.map(\.kind) == [.deleteGeneration])
                #expect(try fixture.store.auditLog().map(\.action) == ["break-glass", "rotate"])
            } else {
                #expect(report.outcome == .failed && report.message.contains("delete it first"))
                #expect(!fixture.provider.calls.contains { $0.hasPrefix("create") })
            }
        }
    }

    @Test func revokeFirstDeletesTheOldKeyBeforeAnyConsumerChanges() async throws {
        let fixture = try EngineFixture(.init(grace: "7d"))
        let report = await fixture.rotate(RotationOptions(emergency: true, revokeFirst: true))
        #expect(report.outcome == .completed)
        #expect(fixture.provider.calls.firstIndex(of: "delete key-0")! < fixture.provider.calls.firstIndex { $0.hasPrefix("create") }!)
        #expect(try fixture.store.keyStates()["api"]?.previous == nil)
    }

    @Test func aRevocationThatFailsChangesNothingElse() async throws {
        let fixture = try EngineFixture()
        fixture.provider.failingDeletes = ["key-0"]
        let before = try fixture.targetBytes()
        let report = await fixture.rotate(RotationOptions(emergency: true, revokeFirst: true))
        #expect(report.outcome == .failed && report.message.contains("revoking the old generation failed"))
        #expect(try fixture.targetBytes() == before)
        #expect(!fixture.provider.calls.contains { $0.hasPrefix("create") })
    }

    // MARK: Create

    @Test func aRefusedCreateChangesNothing() async throws {
        let fixture = try EngineFixture()
        fixture.provider.createBehaviour = .refuse
        let before = try fixture.targetBytes()
        let report = await fixture.rotate()
        #expect(report.outcome == .failed && report.message.contains("nothing was created or changed"))
        #expect(try fixture.targetBytes() == before)
        #expect(try fixture.journal(report).suffix(2) == ["create.intent", "create.failed"])
    }

    @Test func aKeyCreatedBehindALostAnswerIsFoundByNameAndDeleted() async throws {
        let fixture = try EngineFixture()
        fixture.provider.createBehaviour = .loseAnswerAfterCreating
        let report = await fixture.rotate()
        #expect(report.outcome == .failed, "\(report.message)")
        #expect(report.message.contains("found by name and deleted"))
        #expect(fixture.provider.keys.map(\.id) == ["key-0"])
        #expect(try fixture.journal(report).suffix(5) == ["create.intent", "create.failed", "create.info", "delete-new.intent", "delete-new.done"])
    }

    /// A vendor that answered (503) has finished: one look, nothing there, nothing changed.
    @Test func anAnsweredFailureWithNothingCreatedIsSaidSo() async throws {
        let fixture = try EngineFixture()
        fixture.provider.createBehaviour = .failWithoutCreating
        let report = await fixture.rotate()
        #expect(report.outcome == .failed && report.message.contains("no generation named"), "\(report.message)")
        #expect(fixture.provider.calls.filter { $0 == "list" }.count == 2)  // the make-room count, then one look
    }

    /// Found by a reviewer (#18): a vendor that gave no answer made the key 14 s later,
    /// after rotor had looked and gone on. Nothing found yet is not "none": a person checks.
    @Test func aLostAnswerWithNothingFoundYetNeedsAPerson() async throws {
        let fixture = try EngineFixture()
        fixture.provider.createBehaviour = .loseAnswerWithoutCreating
        let report = await fixture.rotate()
        #expect(report.outcome == .needsPerson, "\(report.message)")
        #expect(report.message.contains("may still make it"), "\(report.message)")
        #expect(report.left.contains { $0.kind == .checkProvider })
        #expect(fixture.provider.calls.filter { $0 == "list" }.count == 3)  // the make-room count, then a look and one more after the pause
    }

    @Test func aLostAnswerAtAProviderThatCannotListNeedsAPerson() async throws {
        let fixture = try EngineFixture()
        fixture.provider.createBehaviour = .loseAnswerAfterCreating
        fixture.provider.canList = false
        let report = await fixture.rotate()
        #expect(report.outcome == .needsPerson)
        #expect(report.left.map(\.kind) == [.checkProvider])
    }

    // MARK: verify-key and values

    @Test func aNewKeyThatFailsVerificationIsDeletedAndNoConsumerChanges() async throws {
        let fixture = try EngineFixture(.init(verifyPasses: false))
        let before = try fixture.targetBytes()
        let report = await fixture.rotate()
        #expect(report.outcome == .failed && report.message.hasPrefix("verify-key failed"))
        #expect(try fixture.targetBytes() == before)
        #expect(fixture.provider.keys.map(\.id) == ["key-0"])
        #expect(try fixture.journal(report).suffix(3) == ["verify-key.failed", "delete-new.intent", "delete-new.done"])
    }

    @Test func aValueATargetCannotHoldIsRefusedBeforeAnyWrite() async throws {
        let fixture = try EngineFixture()
        fixture.provider.nextSecret = "canary-it's-\"quoted\"-$HOME"
        let before = try fixture.targetBytes()
        let report = await fixture.rotate()
        #expect(report.outcome == .failed && report.message.hasPrefix("preflight refused the new value"))
        #expect(!report.message.contains("canary-it"))
        #expect(try fixture.targetBytes() == before)
        #expect(fixture.provider.keys.map(\.id) == ["key-0"])
    }

    // MARK: Update and rollback

    @Test func aFailedHealthCheckRollsEveryTargetBackByteForByte() async throws {
        let fixture = try EngineFixture(.init(healthRejectsNewKey: true))
        let before = try fixture.targetBytes()
        let report = await fixture.rotate(RotationOptions(parallel: 1))
        #expect(report.outcome == .rolledBack, "\(report.message)")
        #expect(try fixture.targetBytes() == before)
        #expect(fixture.provider.keys.map(\.id) == ["key-0"])
        #expect(try fixture.store.keyStates()["api"]?.current == fixture.old)
        let journal = try fixture.journal(report)
        #expect(journal.contains("health.failed") && journal.contains("rollback.done") && journal.last == "delete-new.done")
        #expect(fixture.backupFolders.isEmpty)
        #expect(!report.message.contains("canary-"), "no new secret (canary-…) in the message")
    }

    @Test func aRollbackWhoseNewKeyCannotBeDeletedNeedsAPerson() async throws {
        let fixture = try EngineFixture(.init(healthRejectsNewKey: true))
        fixture.provider.failingDeletes = ["key-1"]
        let report = await fixture.rotate()
        #expect(report.outcome == .needsPerson)
        #expect(report.left.map(\.kind) == [.deleteGeneration])
        #expect(try fixture.holders(new: nil) == ["old", "old"])
    }

    @Test func anOldKeyThatCannotBeDeletedLeavesTheRotationDoneAndSaysWhatIsLeft() async throws {
        let fixture = try EngineFixture()
        fixture.provider.failingDeletes = ["key-0"]
        let report = await fixture.rotate()
        #expect(report.outcome == .needsPerson)
        #expect(report.left.map(\.kind) == [.deleteGeneration])
        #expect(try fixture.store.keyStates()["api"]?.current == report.newGeneration)
        #expect(try fixture.journal(report).suffix(2) == ["delete.intent", "delete.failed"])
    }

    // MARK: Locks and the state store

    @Test func aKeyLockedByALiveRunIsRefusedWithItsHolder() async throws {
        let fixture = try EngineFixture()
        let holder = LockOwner(host: ProcessInfo.processInfo.hostName, pid: getpid(), runID: "other-run")
        #expect(try fixture.store.acquireLock(key: "api", owner: holder, lease: 600, now: fixture.now, canTakeOver: { _ in false }) == .acquired)
        var options = RotationOptions()
        options.lockWait = 0
        let report = await fixture.rotate(options)
        #expect(report.outcome == .failed && report.message.contains("other-run"))
        #expect(fixture.provider.calls.isEmpty)
    }

    /// A pid that does not exist here says nothing about a process on another host: its
    /// live lock is not taken over.
    @Test func aLockHeldOnAnotherHostIsNotTakenOver() async throws {
        let fixture = try EngineFixture()
        let remote = LockOwner(host: "another-host", pid: 2_000_000_000, runID: "remote-run")
        #expect(try fixture.store.acquireLock(key: "api", owner: remote, lease: 600, now: fixture.now, canTakeOver: { _ in false }) == .acquired)
        var options = RotationOptions()
        options.lockWait = 0
        let report = await fixture.rotate(options)
        #expect(report.outcome == .failed && report.message.contains("remote-run"), "\(report.message)")
        #expect(fixture.provider.calls.isEmpty)
    }

    /// A restore that fails leaves the target to a person, who needs its backup.
    @Test func aRestoreThatFailsKeepsTheBackupsForAPerson() async throws {
        // The health check also puts a folder where web.env was: the rollback cannot restore it.
        let fixture = try EngineFixture(.init(healthRejectsNewKey: true, healthAlso: "rm -f web.env; mkdir web.env; exit 1; "))
        let report = await fixture.rotate(RotationOptions(parallel: 1))
        #expect(report.outcome == .needsPerson, "\(report.message)")
        #expect(report.left.contains { $0.kind == .restoreTarget })
        let run = try #require(report.runID)
        let kept = (try? FileManager.default.contentsOfDirectory(atPath: fixture.folder.path + "/.rotor/backups/\(run)")) ?? []
        #expect(kept == ["0-0"], "the backup of web.env is kept for the person: \(kept)")
    }

    /// A failed deletion whose vendor message quotes the new secret — a passphrase, nothing
    /// a token scrubber would recognise: the run's own redactor masks it.
    @Test func theNewSecretIsMaskedInAProvidersMessageWhateverItsShape() async throws {
        let fixture = try EngineFixture()
        let secret = "canary correct horse battery staple"
        fixture.provider.nextSecret = secret
        fixture.provider.failingDeletes = ["key-0"]
        fixture.provider.deleteFailureQuotesNewestSecret = true
        let report = await fixture.rotate()
        #expect(report.outcome == .needsPerson)
        #expect(report.message.contains("[REDACTED]"), "\(report.message)")
        #expect(!report.message.contains("horse battery"), "\(report.message)")
        #expect(!report.steps.contains { $0.detail.contains("horse battery") })
    }

    @Test func aStoreThatFailsMidRunStopsItAndSaysHowToGoOn() async throws {
        let fixture = try EngineFixture()
        fixture.store.die { $0.step == .update && $0.phase == .done }
        let report = await fixture.rotate()
        #expect(report.outcome == .needsPerson)
        #expect(report.message.contains("state store failed"))
        #expect(report.left.contains { $0.kind == .recoverRun })
        #expect(report.left.contains { $0.kind == .checkState })  // the audit entry could not be written either
    }

    @Test func aScheduledRotationThatAnotherRunDidMeanwhileIsSkippedUnrecorded() async throws {
        let fixture = try EngineFixture()
        try fixture.store.saveKeyState(KeyState(current: GenerationRecord(id: "key-0", fingerprint: fixture.old.fingerprint, created: fixture.now)), for: "api")
        var options = RotationOptions()
        options.onlyIfDueAt = fixture.now
        let report = await fixture.rotate(options)
        #expect(report.notDue != nil && report.runID == nil)
        #expect(try fixture.store.runs().isEmpty && fixture.provider.calls.isEmpty)
    }
}
