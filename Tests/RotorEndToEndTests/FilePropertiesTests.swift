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

    /// One `generate` key, one consumer whose target is `target` (YAML lines).
    static func setup(_ target: String) throws -> Scratch {
        let scratch = try Scratch()
        try scratch.writeGeneratedKey()
        try scratch.write("consumers/app.yaml", """
            kind: ConsumerManifest
            consumers:
              app:
                uses: hook
                targets:
            \(target)
            """)
        return scratch
    }

    @Test func aDeeplyNestedJSONTargetIsRefusedNotACrash() throws {
        let scratch = try Self.setup("      - { json_file: ../deploy/deep.json, pointer: /a }")
        try scratch.write("deploy/deep.json", "{\"a\": \"x\", \"b\": " + String(repeating: "[", count: 150_000) + String(repeating: "]", count: 150_000) + "}\n")
        for command in [["plan"], ["rotate", "hook"]] {
            let result = try RotorProcess.run(command, in: scratch.url)
            #expect(result.status == 1, "\(command): \(result.status) \(result.stdout.prefix(300))")
            #expect(result.stdout.contains("nested deeper than"), "\(command): \(result.stdout.prefix(500))")
        }
    }

    @Test(arguments: ["/dev/zero", "fifo"])
    func aTargetThatIsNotARegularFileIsRefused(_ kind: String) throws {
        let scratch = try Self.setup("      - { env_file: \(kind == "fifo" ? "../deploy/pipe.env" : kind), var: HOOK, create: true }")
        let fifo = scratch.url.appendingPathComponent("deploy/pipe.env").path
        if kind == "fifo" {
            try FileManager.default.createDirectory(at: scratch.url.appendingPathComponent("deploy"), withIntermediateDirectories: true)
            #expect(mkfifo(fifo, 0o600) == 0)
        }
        for command in [["plan"], ["rotate", "hook"]] {
            let result = try RotorProcess.run(command, in: scratch.url)
            #expect(result.status == 1, "\(command): \(result.status) \(result.stdout.prefix(300))")
            #expect(result.stdout.contains("not a regular file"), "\(command): \(result.stdout.prefix(500))")
        }
        if kind == "fifo" {
            var info = stat()
            #expect(lstat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO, "the FIFO is still a FIFO")
        }
    }

    @Test func aTargetLargerThanAConfigurationFileIsRefused() throws {
        let scratch = try Self.setup("      - { env_file: ../deploy/huge.env, var: HOOK }")
        try scratch.write("deploy/huge.env", "HOOK=x\n# " + String(repeating: "n", count: 40 << 20) + "\n")
        let result = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(result.status == 1)
        #expect(result.stdout.contains("larger than 32 MiB"), "\(result.stdout.prefix(500))")
    }
}
