import Foundation
import Testing
@testable import RotorCore

/// The manual provider's hidden prompt, on a real pseudo-terminal standing in for the
/// process's standard input.
@Suite(.serialized) struct ManualPromptTests {
    /// Echo is off by the time the prompt shows: whatever is typed once a person sees it is
    /// never echoed (a paste right after the prompt included).
    @Test func echoIsOffWhenThePromptShows() throws {
        var master: Int32 = -1, terminal: Int32 = -1
        try #require(openpty(&master, &terminal, nil, nil, nil) == 0)
        let savedInput = dup(STDIN_FILENO)
        dup2(terminal, STDIN_FILENO)
        defer {
            dup2(savedInput, STDIN_FILENO)
            close(savedInput)
            close(terminal)
            close(master)
        }
        final class Seen: @unchecked Sendable { var echoAtPrompt: Bool?; var prompts: [String] = [] }
        let seen = Seen()
        let secret = ManualProvider.readSecret(prompt: "Paste the new secret (it is not shown): ") { [master] text in
            seen.prompts.append(text)
            guard text.hasPrefix("Paste") else { return }
            var settings = termios()
            tcgetattr(STDIN_FILENO, &settings)
            seen.echoAtPrompt = settings.c_lflag & tcflag_t(ECHO) != 0
            // Typed as the prompt appears; with echo still on it would be flushed or echoed.
            let line = Array("sk-typed-at-once\n".utf8)
            _ = line.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
        }
        #expect(seen.echoAtPrompt == false, "echo was still on when the prompt showed")
        #expect(secret == "sk-typed-at-once")
        var settings = termios()
        tcgetattr(STDIN_FILENO, &settings)
        #expect(settings.c_lflag & tcflag_t(ECHO) != 0, "echo is back on afterwards")
    }
}
