import Foundation
import Testing
@testable import RotorCore

extension Scratch {
    /// `policies/key.yaml`: one key, `hook`, that rotor mints itself (`whsec_…`).
    /// `policy`: the key's members after its provider (default: grace 0s).
    func writeGeneratedKey(_ policy: String = "grace: 0s") throws {
        try write("policies/key.yaml", """
            kind: RotationPolicy
            providers:
              local: { type: generate, format: { prefix: "whsec_", bytes: 32, encoding: base64url } }
            keys:
              hook: { provider: local, \(policy) }
            """)
    }

    /// One consumer `app` of that key; `fields`: its YAML lines below `uses`, indented
    /// by four spaces.
    func writeHookConsumer(_ fields: String) throws {
        try write("consumers/app.yaml", "kind: ConsumerManifest\nconsumers:\n  app:\n    uses: hook\n" + fields + "\n")
    }
}

/// Commands and pipes that used to fool rotor (issue 17, items 5 and 6): a timeout that did
/// not hold, a daemon that hung a run, children that could not be stopped, SIGPIPE.
@Suite(.serialized) struct ProcessesTests {
    /// One `generate` key and one consumer (an env file) with `extra` lines added to it.
    static func setup(_ extra: String, stdinPadding: Int = 0) throws -> Scratch {
        let scratch = try Scratch()
        try scratch.writeGeneratedKey()
        try scratch.writeHookConsumer("    targets:\n      - env_file: ../deploy/.env\n        var: HOOK_SECRET\n" + extra)
        try scratch.write("deploy/.env", "HOOK_SECRET=whsec_initial\n")
        return scratch
    }

    static func elapsed(_ body: () throws -> RotorProcess.Result) rethrows -> (RotorProcess.Result, TimeInterval) {
        let started = Date()
        let result = try body()
        return (result, Date().timeIntervalSince(started))
    }

    /// Kills what a test left running, by a marker in its command line.
    static func killAll(_ marker: String) {
        _ = try? RotorProcess.spawn(["/usr/bin/pkill", "-KILL", "-f", marker])
    }

    /// `timeout: 2s` on a shell that waits for a grandchild: the whole group goes at the
    /// deadline (it took 40 s: the grandchild kept the pipe open).
    @Test func aTimeoutIsADeadlineForTheWholeGroup() throws {
        let marker = "rotor-timeout-\(UUID().uuidString.prefix(8))"
        let scratch = try Self.setup("""
                health: { exec: [sh, -c, "sleep 120; : \(marker)"], timeout: 2s }
            """)
        defer { Self.killAll(marker) }
        let (result, seconds) = try Self.elapsed { try RotorProcess.run(["rotate", "hook"], in: scratch.url) }
        // Rolled back; the health check still times out after the rollback, so a person is needed.
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("timed out after 2s"), "\(result.stdout)")
        #expect(seconds < 90, "the deadline held for the whole group (not 2 × 120 s): \(seconds) s")
        #expect(try RotorProcess.spawn(["/usr/bin/pgrep", "-f", marker]).status == 1, "no process of the group outlives its deadline")
    }

    /// A reload that starts a daemon (`setsid -f`): the daemon keeps its inherited output,
    /// and rotor must not wait for it (it held the key's lock until the daemon died).
    @Test func aDaemonisingReloadDoesNotHoldTheRun() throws {
        let marker = "rotor-daemon-\(UUID().uuidString.prefix(8))"
        let scratch = try Self.setup("""
                reload: [setsid, -f, sh, -c, "sleep 60; : \(marker)"]
                health: { exec: [sh, -c, "sleep 60 & exit 0; : \(marker)"] }
            """)
        defer { Self.killAll(marker) }
        let (result, seconds) = try Self.elapsed { try RotorProcess.run(["rotate", "hook"], in: scratch.url) }
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(seconds < 45, "rotor waited for a daemon or a background grandchild (60 s): \(seconds) s")
        #expect(try RotorProcess.spawn(["/usr/bin/pgrep", "-f", marker]).status == 0, "the service the reload started keeps running")
    }

    /// A service started by a reload must be stoppable: commands start with the default
    /// signal mask and dispositions, and only fds 0–2 open.
    @Test func commandsStartWithDefaultSignalsAndNoInheritedDescriptors() throws {
        let scratch = try Self.setup("""
                reload: [python3, ../deploy/inspect.py]
                health: { exec: [sh, -c, "grep -E '^(SigBlk|SigIgn)' /proc/self/status > ../deploy/signals"] }
            """)
        // Which descriptors are open (fstat each); grep (which changes no disposition, unlike
        // Python) says which signals are blocked and ignored.
        try scratch.write("deploy/inspect.py", """
            import os
            fds = []
            for fd in range(1024):
                try:
                    os.fstat(fd)
                    fds.append(str(fd))
                except OSError:
                    pass
            with open("../deploy/inspected", "w") as f:
                f.write(" ".join(fds) + "\\n")
            """)
        let result = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let fds = String(decoding: try scratch.bytes("deploy/inspected"), as: UTF8.self)
        #expect(fds == "0 1 2\n", "only standard input, output and error are open: \(fds)")
        let lines = String(decoding: try scratch.bytes("deploy/signals"), as: UTF8.self).split(separator: "\n")
        let masks = lines.compactMap { $0.split(separator: "\t").last.flatMap { UInt64($0, radix: 16) } }
        // Signals 1–31 (32 and 33 are glibc's own).
        #expect(masks.count == 2 && masks.allSatisfy { $0 & 0x7FFF_FFFF == 0 }, "no signal blocked or ignored (SIGPIPE included): \(lines)")
    }

    /// An exec target whose command exits without reading its standard input: EPIPE is
    /// "it did not read it", not the end of rotor (it died with 141 once stdin outgrew a pipe).
    @Test func aCommandThatDoesNotReadItsInputIsNoCrash() throws {
        let padding = String(repeating: "p", count: 200_000)
        let scratch = try Self.setup("""
                  - exec: [\"true\"]
                    stdin: "{secret}\(padding)"
            """)
        let manifest = String(decoding: try scratch.bytes("consumers/app.yaml"), as: UTF8.self)
        #expect(manifest.contains("var: HOOK_SECRET\n      - exec"))
        for round in 1...5 {
            let result = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
            #expect(result.status == 0, "round \(round): \(result.status) \(result.stdout)\(result.stderr)")
        }
    }

    /// `rotor plan --json | head -c 1`: the reader goes away; rotor ends quietly with its
    /// own exit code, not SIGPIPE's 141.
    @Test func aClosedStdoutEndsRotorQuietly() throws {
        let scratch = try Self.setup("")
        let script = "\(RotorProcess.binary.path) plan --json | head -c 1 >/dev/null; echo \"${PIPESTATUS[0]}\""
        let (status, output) = try RotorProcess.spawn(["/bin/bash", "-c", "cd \(scratch.url.path) && " + script])
        #expect(status == 0)
        #expect(output == "0\n", "rotor's exit status when its reader left: \(output)")
    }

    /// A failed command's output is in the step's message: redacted, control characters
    /// escaped, bounded.
    @Test func aFailedCommandSaysWhatItPrinted() throws {
        let scratch = try Self.setup("""
                health: { exec: [sh, ../deploy/fail.sh] }
            """)
        try scratch.write("deploy/fail.sh", """
            head -c 3000000 /dev/zero | tr '\\0' x
            printf 'db refused: \\033[31mred\\033[0m %s\\n' "$(grep HOOK ../deploy/.env)" >&2
            exit 7
            """)
        let result = try RotorProcess.run(["rotate", "hook", "--json"], in: scratch.url)
        #expect(result.status == 3, "rolled back, and the check still fails: \(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("db refused: \\\\x1b[31mred"), "escaped, shown: \(result.stdout.prefix(3000))")
        #expect(!result.stdout.contains("\u{1B}") && !result.stdout.contains("\\u001b"))
        #expect(result.stdout.contains("HOOK_SECRET=[REDACTED]"), "the new secret the command printed is masked")
        #expect(result.stdout.utf8.count < 100_000, "the output kept is bounded")
    }
}
