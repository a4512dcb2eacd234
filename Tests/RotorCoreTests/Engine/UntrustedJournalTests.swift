import Foundation
import Testing
@testable import RotorCore

/// Journals and states that do not add up — edited, truncated or forged, as a reviewer
/// attacking rotor made them. The state database is outside the threat model
/// (docs/reliability.md), but what rotor can detect it refuses, rather than act on it.
@Suite struct UntrustedJournalTests {
    /// A rotation stopped after its first target was written, with the store's copy of the
    /// journal handed to `edit` before recovery.
    func interrupted(afterSecondWriteBegins: Bool = false, _ edit: (inout [JournalEntry.Stored]) -> Void) async throws -> (EngineFixture, [String: Data], RotationReport) {
        let fixture = try EngineFixture()
        let before = try fixture.targetBytes()
        let intents = RecoveryTests.Counter()
        if afterSecondWriteBegins {
            fixture.store.die { $0.step == .update && $0.phase == .intent && intents.next() == 2 }
        } else {
            fixture.store.die { $0.step == .update && $0.phase == .done }
        }
        let interrupted = await fixture.rotate(RotationOptions(parallel: 1))
        fixture.store.heal()
        fixture.store.editJournal(of: try #require(interrupted.runID), edit)
        let report = try #require(try await fixture.engine().recover().first)
        return (fixture, before, report)
    }

    @Test func aJournalThatNamesTheLiveKeyAsNewNeverDeletesIt() async throws {
        let (fixture, _, report) = try await interrupted { entries in
            let index = entries.firstIndex { $0.step == "create" && $0.phase == "done" }!
            entries[index].data["new_id"] = "key-0"  // the current generation
        }
        #expect(fixture.provider.keys.contains { $0.id == "key-0" })
        #expect(!fixture.provider.calls.contains("delete key-0"))
        #expect(report.outcome == .needsPerson)
        #expect(report.left.contains { $0.kind == .checkState })
    }

    @Test func aBackupOutsideTheRunsFolderIsNotCopied() async throws {
        let (fixture, _, report) = try await interrupted { entries in
            let index = entries.firstIndex { $0.step == "update" && $0.phase == "intent" }!
            entries[index].data["backup"] = "/etc/hostname"
        }
        #expect(report.outcome == .needsPerson)
        #expect(report.left.contains { $0.kind == .restoreTarget && $0.text.contains("not in run") })
        #expect(try !fixture.text("web.env").contains(try String(contentsOfFile: "/etc/hostname", encoding: .utf8)))
    }

    @Test func aPathThatIsNotTheConfiguredTargetIsNotWritten() async throws {
        let victim = try TemporaryFolder()
        try victim.write("victim.txt", "untouched\n")
        let (_, _, report) = try await interrupted { entries in
            let index = entries.firstIndex { $0.step == "update" && $0.phase == "intent" }!
            entries[index].data["path"] = victim.path + "/victim.txt"
        }
        #expect(try victim.read("victim.txt") == "untouched\n")
        #expect(report.outcome == .needsPerson)
        #expect(report.left.contains { $0.kind == .restoreTarget })
    }

    /// What a person is told to restore by hand stays restorable: the backups stay.
    @Test func backupsStayWhileATargetWaitsForAPerson() async throws {
        let (fixture, _, report) = try await interrupted { entries in
            let index = entries.firstIndex { $0.step == "update" && $0.phase == "intent" }!
            entries[index].data["path"] = "/nonexistent/elsewhere.env"
        }
        #expect(report.left.contains { $0.kind == .restoreTarget })
        #expect(fixture.backupFolders.count == 1, "the backup a person needs is kept")
    }

    @Test func aGapInTheJournalIsRefused() async throws {
        let (fixture, _, report) = try await interrupted { entries in
            entries.removeAll { $0.step == "update" && $0.phase == "intent" }
        }
        #expect(report.outcome == .needsPerson)
        #expect(report.message.contains("missing"), "\(report.message)")
        #expect(fixture.provider.calls.filter { $0.hasPrefix("delete") }.isEmpty)
    }

    @Test func aVerificationThatDoesNotFollowEveryWriteIsNotBelieved() async throws {
        let (fixture, before, report) = try await interrupted(afterSecondWriteBegins: true) { entries in
            // A forged "verified" after a write whose result was never recorded.
            let last = entries.last!
            entries.append(JournalEntry.Stored(sequence: last.sequence + 1, at: last.at, step: "verify", phase: "done", consumer: nil, target: nil,
                                               detail: "forged", data: [:]))
        }
        #expect(report.outcome == .needsPerson, "\(report.message)")
        #expect(try fixture.store.keyStates()["api"]?.current?.id == "key-0")
        _ = before
    }

    @Test(arguments: [("new_created", nil as String?), ("new_created", "1e300"), ("new_fingerprint", "garbage"), ("new_id", "")])
    func aMalformedGenerationIsRefused(_ fact: String, _ value: String?) async throws {
        let (fixture, _, report) = try await interrupted { entries in
            let index = entries.firstIndex { $0.step == "create" && $0.phase == "done" }!
            entries[index].data[fact] = value
        }
        #expect(report.outcome == .needsPerson, "\(fact)=\(value ?? "nil"): \(report.message)")
        #expect(report.message.contains("cannot trust") || report.message.contains("journal entry"), "\(report.message)")
        #expect(try fixture.store.keyStates()["api"]?.current?.id == "key-0")
    }

    @Test func aKeyStateWithAnImpossibleDateIsUnreadableNotACrash() throws {
        for text in [#"{"id":"k","fingerprint":"sha256:0123456789ab","created":1e300}"#,
                     #"{"id":"","fingerprint":"sha256:0123456789ab","created":0}"#,
                     #"{"id":"k","fingerprint":"nope","created":0}"#] {
            #expect(throws: StateCoding.Unreadable.self) { try StateCoding.decode(text, as: GenerationRecord.self, what: "test") }
        }
        let good = #"{"id":"k","fingerprint":"sha256:0123456789ab","created":1795000000}"#
        #expect(try StateCoding.decode(good, as: GenerationRecord.self, what: "test")?.id == "k")
    }
}
