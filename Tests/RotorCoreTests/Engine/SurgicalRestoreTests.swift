import Foundation
import Testing
@testable import RotorCore

/// A restore is an edit like any other: the old value goes back into its variable and
/// whatever else changed in the file meanwhile stays (issue 17, item 3).
struct SurgicalRestoreTests {
    let fixture: EngineFixture
    let web: [TargetOperation]
    let backup: String
    var file: String { fixture.folder.path + "/web.env" }

    init() throws {
        let fixture = try EngineFixture()
        let engine = fixture.engine()
        let consumer = try #require(fixture.configuration.consumers.first { $0.name.value == "web" })
        self.fixture = fixture
        web = consumer.targets.indices.map { engine.targetOperation(consumer, index: $0) }
        backup = fixture.folder.path + "/web.backup"
        try FileManager.default.copyItem(atPath: fixture.folder.path + "/web.env", toPath: backup)
    }

    func text() throws -> String { try String(contentsOfFile: file, encoding: .utf8) }

    @Test func onlyTheRestoredValuesChange() async throws {
        // The run wrote both values; then someone added a line and edited another.
        try "# web (edited)\nAPI_KEY=new-secret-0002\nAPI_KEY_ID=key-1\nADDED=by-a-person\n".write(toFile: file, atomically: true, encoding: .utf8)
        try await TargetOperation.restore(web, from: backup)
        #expect(try text() == "# web (edited)\nAPI_KEY=\(EngineFixture.oldSecret)\nAPI_KEY_ID=key-0\nADDED=by-a-person\n")
    }

    @Test func aValueTheRunAddedGoesOnlyWhenNothingElseChanged() async throws {
        try "# web\nAPI_KEY_ID=key-0\n".write(toFile: backup, atomically: true, encoding: .utf8)  // no API_KEY before
        try "# web\nAPI_KEY_ID=key-0\nAPI_KEY=new-secret-0002\n".write(toFile: file, atomically: true, encoding: .utf8)
        try await TargetOperation.restore([web[0]], from: backup)
        #expect(try text() == "# web\nAPI_KEY_ID=key-0\n", "the file was the backup plus the run's value: the backup goes back")

        try "# web\nAPI_KEY_ID=key-0\nAPI_KEY=new-secret-0002\nADDED=1\n".write(toFile: file, atomically: true, encoding: .utf8)
        await #expect(throws: TargetEditError.self) { try await TargetOperation.restore([web[0]], from: backup) }
        #expect(try text() == "# web\nAPI_KEY_ID=key-0\nAPI_KEY=new-secret-0002\nADDED=1\n", "someone else's line is never written over")
    }

    @Test func aFileThatNoLongerHoldsTheValueIsLeftToAPerson() async throws {
        try "# the variable is gone\nOTHER=1\n".write(toFile: file, atomically: true, encoding: .utf8)
        do {
            try await TargetOperation.restore(web, from: backup)
            Issue.record("restored over a file that changed shape")
        } catch let error as TargetEditError {
            #expect(error.message.contains(backup), "the message names the backup: \(error.message)")
        }
        #expect(try text() == "# the variable is gone\nOTHER=1\n")
    }
}
