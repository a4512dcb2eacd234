import Foundation
import Testing
@testable import RotorCore

/// The command runner against real processes: bounds, pipes, exit statuses, what it shows.
struct CommandRunnerTests {
    let runner = CommandRunner()

    @Test func outputIsBoundedAndTheCommandNeverBlocks() async {
        let result = await runner.run(["sh", "-c", "head -c 5000000 /dev/zero; echo done >&2"], directory: "/", timeout: 30)
        #expect(result.succeeded)
        #expect(result.stdout.count == CommandRunner.outputLimit, "kept: \(result.stdout.count)")
        #expect(String(decoding: result.stderr, as: UTF8.self) == "done\n")
    }

    @Test func inputTheCommandDoesNotReadIsNoError() async {
        let result = await runner.run(["true"], stdin: Data(count: 1 << 20), directory: "/", timeout: 30)
        #expect(result.status == 0 && !result.timedOut)
    }

    @Test func inputIsDeliveredWhole() async {
        let input = Data((0..<300_000).map { UInt8($0 % 251) })
        let result = await runner.run(["cat"], stdin: input, directory: "/", timeout: 30)
        #expect(result.stdout == input)
    }

    @Test func aCommandKilledBySignalExitsWith128PlusIt() async {
        let result = await runner.run(["sh", "-c", "kill -TERM $$"], directory: "/", timeout: 30)
        #expect(result.status == 128 + SIGTERM)
    }

    /// No wall-clock bound here (in-process async tests wait for a free thread on a busy
    /// CI): the proof is that nothing of the group outlives the call.
    @Test func aTimeoutKillsTheGroupEvenWhenTERMIsIgnored() async throws {
        let marker = "rotor-runner-\(UUID().uuidString.prefix(8))"
        // The grandchild (which inherits the ignored TERM) carries the marker.
        let result = await runner.run(["sh", "-c", "trap '' TERM; sh -c 'sleep 120; : \(marker)' & wait"], directory: "/", timeout: 0.5)
        #expect(result.timedOut)
        let survivors = await runner.run(["pgrep", "-f", marker], directory: "/", timeout: 10)
        #expect(survivors.status == 1, "processes of the group outlived its deadline: \(String(decoding: survivors.stdout, as: UTF8.self))")
    }

    @Test func whatAFailedCommandPrintedIsEscapedMaskedAndShort() {
        let secret = Secret("sk-live-0123456789abcdef")
        let result = CommandResult(status: 1, stdout: Data("ignored\n".utf8),
                                   stderr: Data((String(repeating: "z", count: 5000) + "\nerror \u{1B}]0;title\u{07} for \(secret.reveal())\n").utf8), timedOut: false)
        let printed = result.printed() ?? ""
        #expect(printed.hasPrefix("…"))
        #expect(printed.hasSuffix("error \\x1b]0;title\\x07 for [REDACTED]"), "\(printed)")
        #expect(!printed.contains(secret.reveal()) && !printed.contains("\u{1B}"))
        #expect(printed.count < 700)
        #expect(CommandResult(status: 1, stdout: Data("only stdout\n".utf8), stderr: Data(" \n".utf8), timedOut: false).printed() == "only stdout")
    }

    /// Found by an attacker: the output was cut to its tail, then masked, and a secret rotor
    /// does not know (another key's, caught only by its look) cut in two no longer looked
    /// like one — its tail went to the output, the journal and the audit log.
    @Test func aSecretCutInTwoByTheLimitLeavesNoPiece() {
        let other = "whsec_Q9x2LmP4vR7tK1nB8cZ3yH6dF0aJ5eW2uS4gN7L7c3R"  // no Secret(): unknown to the redactor
        for shift in stride(from: 0, to: other.count + 4, by: 3) {
            for limit in [400, 64] {
                // The value straddles the cut at `limit` characters from the end, and the one at 4 × limit bytes.
                for tailLength in [limit - other.count + shift, 4 * limit - other.count + shift] where tailLength > 0 {
                    let output = String(repeating: "ab c ", count: 1000) + "K2=" + other + String(repeating: " |x", count: tailLength / 3)
                    let printed = CommandResult(status: 1, stdout: Data(), stderr: Data(output.utf8), timedOut: false).printed(limit: limit) ?? ""
                    for start in 0...(other.count - 8) {
                        let piece = other.dropFirst(start).prefix(8)
                        #expect(!printed.contains(piece), "limit \(limit), tail \(tailLength): \(piece) in \(printed)")
                    }
                }
            }
        }
    }
}
