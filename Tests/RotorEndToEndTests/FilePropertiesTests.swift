import Foundation
import Testing
@testable import RotorCore

/// What a target file is, beyond its bytes, survives every write and restore: its ACL and
/// extended attributes (issue 17, item 4: a service reading its env file through an ACL
/// was locked out), and only regular files of bounded size and nesting are targets
/// (item 8: a 150,000-deep JSON crashed `plan`, `/dev/zero` grew to 6 GB).
@Suite(.serialized) struct FilePropertiesTests {
    static func run(_ argv: [String]) throws -> (status: Int32, stdout: String) {
        try RotorProcess.spawn(argv)
    }

    @Test func aclAndExtendedAttributesAreKeptOnWriteAndRestore() throws {
        let fixture = try RotationFixture(healthPath: "/status/200")
        let env = fixture.scratch.url.appendingPathComponent("deploy/c1/.env").path
        #expect(try Self.run(["/usr/bin/setfacl", "-m", "u:nobody:r", env]).status == 0, "setfacl (Debian: acl) is needed")
        #expect(try Self.run(["/usr/bin/setfattr", "-n", "user.rotor-test", "-v", "kept", env]).status == 0, "setfattr (Debian: attr) is needed")
        func properties() throws -> String {
            try Self.run(["/usr/bin/getfacl", "-cp", env]).stdout + (try Self.run(["/usr/bin/getfattr", "-n", "user.rotor-test", "--only-values", env]).stdout)
        }
        let before = try properties()
        #expect(before.contains("user:nobody:r--") && before.hasSuffix("kept"))
        #expect(try fixture.rotor(["rotate", "api-key"]).status == 0)
        #expect(try properties() == before, "after a write")
        // A rollback restores too: c2's health check fails.
        let failing = try fixture.rotor(["rotate", "api-key"], environment: ["ROTOR_TEST_FAIL_WRITE": "c5/.env"])
        #expect(failing.status == 1, "\(failing.stdout)")
        #expect(try properties() == before, "after a restore")
    }
}
