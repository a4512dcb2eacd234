import Foundation
import Testing

@Suite struct ValidateCommandTests {
    @Test func versionAndHelp() throws {
        let version = try RotorProcess.run(["--version"])
        #expect(version.status == 0 && version.stdout == "0.1.0\n")
        let help = try RotorProcess.run(["--help"])
        #expect(help.status == 0)
        for word in ["validate", "plan", "Exit codes"] { #expect(help.stdout.contains(word)) }
    }

    @Test func validConfigurationPrintsOneSummaryLine() throws {
        let result = try RotorProcess.run(["validate"])
        #expect(result.status == 0)
        #expect(result.stdout == "valid: 6 files, 3 providers, 3 keys, 3 consumers, 9 targets\n")
        #expect(result.stderr == "")
        let quiet = try RotorProcess.run(["validate", "--quiet"])
        #expect(quiet.status == 0 && quiet.stdout == "" && quiet.stderr == "")
    }

    @Test func invalidConfigurationPrintsEveryErrorWithItsPlaceAndExits1() throws {
        let scratch = try Scratch()
        try scratch.write("policies/p.yaml", """
            kind: RotationPolicy
            providers:
              local: { type: generate }
            keys:
              hook:
                provider: local
                evrey: 30d
                grace: soon
            """)
        try scratch.write("consumers/c.yaml", """
            kind: ConsumerManifest
            consumers:
              app:
                uses: hok
                targets:
                  - env_file: app.env
                    var: HOOK
            """)
        let result = try RotorProcess.run(["validate"], in: scratch.url)
        #expect(result.status == 1)
        #expect(result.stdout == "")
        #expect(result.stderr == """
            consumers/c.yaml:4:11: error: consumer 'app' uses unknown key 'hok' (did you mean 'hook'?)
                uses: hok
                      ^
            policies/p.yaml:5:3: warning: key 'hook' has no consumers: a rotation would update nothing
              hook:
              ^
            policies/p.yaml:7:5: error: unknown field 'evrey' in key 'hook' (did you mean 'every'?)
                evrey: 30d
                ^
            policies/p.yaml:8:12: error: 'grace' of key 'hook' is not a duration: 'soon'; write e.g. 2w, 90d, 12h, 30m, 45s or 0s
                grace: soon
                       ^
            3 errors in 2 files; nothing was changed

            """)
    }

    @Test func noColorWithoutATerminal() throws {
        let result = try RotorProcess.run(["validate", "--config", "nope.yaml"])
        #expect(result.status == 1)
        #expect(result.stderr == "error: --config nope.yaml: no such file or folder\n1 error; nothing was changed\n")
        #expect(!result.stderr.contains("\u{1B}"))
    }

    @Test func colorOnATerminalUnlessNoColor() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "script(1) (Debian: bsdutils; scripts/test installs it)")
        // script(1) gives rotor a pseudo-terminal, as a person's shell would. `swift test`
        // itself exports NO_COLOR, so the colored run unsets it.
        let command = "\(RotorProcess.binary.path) validate --config nope.yaml"
        let colored = try RotorProcess.run(["-qec", command, "/dev/null"], environment: ["TERM": "xterm"], unset: ["NO_COLOR"], executable: URL(fileURLWithPath: "/usr/bin/script"))
        #expect(colored.stdout.contains("\u{1B}[1;31merror:"))
        let plain = try RotorProcess.run(["-qec", command, "/dev/null"], environment: ["NO_COLOR": "1", "TERM": "xterm"], executable: URL(fileURLWithPath: "/usr/bin/script"))
        #expect(plain.stdout.contains("error: --config nope.yaml") && !plain.stdout.contains("\u{1B}["))
        let flag = try RotorProcess.run(["-qec", command + " --no-color", "/dev/null"], environment: ["TERM": "xterm"], unset: ["NO_COLOR"], executable: URL(fileURLWithPath: "/usr/bin/script"))
        #expect(!flag.stdout.contains("\u{1B}["))
    }

    @Test func usageErrorsExit64() throws {
        let result = try RotorProcess.run(["validate", "--bogus"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("Unknown option '--bogus'"))
    }
}
