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
        try scratch.writeHookConsumer("    targets:\n" + target)
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

    /// A chain of symlinks is followed to its end once: the file at the end is replaced and
    /// every link stays a link (the middle link became a regular file; issue 17, item 2).
    @Test func aSymlinkChainIsFollowedToItsEndAndEveryLinkStays() throws {
        let scratch = try Self.setup("      - { env_file: ../deploy/a.env, var: HOOK }")
        try scratch.write("deploy/real/.env", "HOOK=whsec_initial\n")
        let deploy = scratch.url.appendingPathComponent("deploy").path
        #expect(symlink("real/.env", deploy + "/b.env") == 0 && symlink("b.env", deploy + "/a.env") == 0)
        let result = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: deploy + "/a.env")) == "b.env")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: deploy + "/b.env")) == "real/.env", "the middle link is still a link")
        #expect(try String(contentsOfFile: deploy + "/real/.env", encoding: .utf8) != "HOOK=whsec_initial\n", "the file at the end was written")
    }

    /// A link re-pointed between preflight and the write is refused, not followed: the
    /// file it leads to now is never written (item 2: root wrote into any file a link named).
    @Test func aLinkRepointedAfterPreflightIsRefused() throws {
        let scratch = try Self.setup("""
                  - { env_file: ../deploy/first.env, var: HOOK }
            """)
        try scratch.write("consumers/app.yaml", """
            kind: ConsumerManifest
            consumers:
              first:
                uses: hook
                targets: [{ env_file: ../deploy/first.env, var: HOOK }]
                reload: [ln, -sfn, other.env, ../deploy/link.env]
              second:
                uses: hook
                targets: [{ env_file: ../deploy/link.env, var: HOOK }]
            """)
        try scratch.write("deploy/first.env", "HOOK=whsec_initial\n")
        try scratch.write("deploy/one.env", "HOOK=whsec_initial\n")
        try scratch.write("deploy/other.env", "HOOK=not-a-target\n")
        #expect(symlink("one.env", scratch.url.appendingPathComponent("deploy/link.env").path) == 0)
        let result = try RotorProcess.run(["rotate", "hook", "--parallel", "1"], in: scratch.url)
        #expect(result.status != 0, "\(result.stdout)")
        #expect(result.stdout.contains("changed since preflight"), "\(result.stdout)")
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("deploy/other.env"), encoding: .utf8) == "HOOK=not-a-target\n")
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("deploy/one.env"), encoding: .utf8) == "HOOK=whsec_initial\n")
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("deploy/first.env"), encoding: .utf8) == "HOOK=whsec_initial\n", "rolled back")
    }

    /// Found by an attacker: a link re-pointed during a health check made the restore
    /// refuse (rightly), but the summary still said every consumer was rolled back.
    @Test func aRestoreRefusedIsNotCalledARollback() throws {
        let scratch = try Self.setup("")
        try scratch.write("consumers/app.yaml", """
            kind: ConsumerManifest
            consumers:
              app:
                uses: hook
                targets: [{ env_file: ../deploy/link.env, var: HOOK }]
                health: { exec: [sh, -c, "ln -sfn victim.env ../deploy/link.env; exit 1"] }
            """)
        try scratch.write("deploy/real.env", "HOOK=whsec_initial\n")
        try scratch.write("deploy/victim.env", "HOOK=victim\n")
        #expect(symlink("real.env", scratch.url.appendingPathComponent("deploy/link.env").path) == 0)
        let result = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(result.status == 3, "\(result.stdout)")
        #expect(!result.stdout.contains("every consumer was rolled back"), "\(result.stdout)")
        #expect(result.stdout.contains("could not put everything back"), "\(result.stdout)")
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("deploy/victim.env"), encoding: .utf8) == "HOOK=victim\n")
    }
}
