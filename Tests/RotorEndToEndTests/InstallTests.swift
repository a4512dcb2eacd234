import Foundation
import Testing

/// `scripts/install` (issue 19: shell completion existed but was undocumented, and there
/// was no man page): the tree it installed — scripts/test runs it into ROTOR_TEST_INSTALL
/// before the tests — has the binary, a man page per command generated from the argument
/// parser, and completion scripts that complete rotor's commands.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ROTOR_TEST_INSTALL"] != nil, "scripts/test installs into ROTOR_TEST_INSTALL first"))
struct InstallTests {
    static var prefix: URL { URL(fileURLWithPath: ProcessInfo.processInfo.environment["ROTOR_TEST_INSTALL"] ?? "/nonexistent") }

    static func shell(_ argv: [String]) throws -> RotorProcess.Result {
        try RotorProcess.run(argv, environment: ["MANWIDTH": "100"], executable: URL(fileURLWithPath: "/usr/bin/env"))
    }

    @Test func everyCommandHasAManPage() throws {
        let binary = Self.prefix.appendingPathComponent("bin/rotor").path
        let help = try RotorProcess.run(["--help"], executable: URL(fileURLWithPath: binary))
        // A command's line is indented by two spaces; its description's continuation, by more.
        let commands = help.stdout.components(separatedBy: "SUBCOMMANDS:").last!.split(separator: "\n")
            .filter { $0.hasPrefix("  ") && $0.dropFirst(2).first?.isLetter == true }
            .compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0 != "See" }  // "  See 'rotor help <subcommand>'…"
        #expect(commands.contains("adopt") && commands.contains("confirm") && commands.count >= 12, "\(commands)")
        let man1 = Self.prefix.appendingPathComponent("share/man/man1")
        for command in ["rotor"] + commands.map({ "rotor.\($0)" }) {
            #expect(FileManager.default.fileExists(atPath: man1.appendingPathComponent("\(command).1").path), "no man page for \(command)")
        }
        let page = try Self.shell(["man", "-l", man1.appendingPathComponent("rotor.adopt.1").path])
        #expect(page.status == 0 && page.stdout.contains("rotor adopt") && page.stdout.contains("--all"), "\(page.stdout)\(page.stderr)")
    }

    @Test func bashCompletesTheCommands() throws {
        let script = Self.prefix.appendingPathComponent("share/bash-completion/completions/rotor").path
        let completed = try Self.shell(["bash", "--norc", "-c", """
            source '\(script)'
            COMP_LINE='rotor ad'; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(rotor ad); COMP_CWORD=1
            _rotor; printf '%s\\n' "${COMPREPLY[@]}"
            """])
        #expect(completed.stdout.split(separator: "\n").contains("adopt"), "\(completed.stdout)\(completed.stderr)")
        let zsh = try String(contentsOf: Self.prefix.appendingPathComponent("share/zsh/site-functions/_rotor"), encoding: .utf8)
        let fish = try String(contentsOf: Self.prefix.appendingPathComponent("share/fish/vendor_completions.d/rotor.fish"), encoding: .utf8)
        #expect(zsh.hasPrefix("#compdef rotor") && zsh.contains("adopt") && fish.contains("confirm"))
        let loads = try Self.shell(["zsh", "-f", "-c", "autoload -Uz compinit && compinit -u && source '\(Self.prefix.path)/share/zsh/site-functions/_rotor' && echo loaded"])
        #expect(loads.stdout.contains("loaded"), "\(loads.stdout)\(loads.stderr)")
    }
}
