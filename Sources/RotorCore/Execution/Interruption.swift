import Foundation

/// SIGINT and SIGTERM (Ctrl-C, a cancelled CI job, `systemctl stop`).
///
/// The first asks the run to stop: no new step starts (the engine asks `requested` between
/// steps, consumers and edits), the commands running now get SIGTERM — their whole process
/// groups — and the run rolls back what it touched, releases its lock and ends with exit 1
/// (rolled back) or 3. The second stops rotor at once with exit 3, the terminal restored
/// (a secret prompt turns echo off); the journal is left to `rotor recover`.
public final class Interruption: @unchecked Sendable {
    public static let shared = Interruption()

    private let lock = NSLock()
    private var signalled = false
    private var sources: [any DispatchSourceSignal] = []
    /// The terminal as it was before a prompt turned its echo off.
    private var terminal: termios?

    /// Whether a signal asked the run to stop.
    public var requested: Bool { lock.withLock { signalled } }

    /// Handles SIGINT and SIGTERM from now on (rotor's `main`). `tell` prints a line on stderr.
    public func install(tell: @escaping @Sendable (String) -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)  // the dispatch source hears it instead
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in received(number, tell: tell) }
            source.resume()
            lock.withLock { sources.append(source) }
        }
    }

    private func received(_ number: Int32, tell: @Sendable (String) -> Void) {
        let name = number == SIGINT ? "SIGINT" : "SIGTERM"
        let first = lock.withLock { () -> Bool in
            defer { signalled = true }
            return !signalled
        }
        guard first else {
            restoreTerminal()
            tell("rotor: \(name) again: stopped at once; run 'rotor recover' to finish or undo the interrupted run")
            exit(ExitStatus.needsPerson.rawValue)
        }
        tell("rotor: \(name) received: stopping — no new step starts, and what was touched is put back (send it again to stop at once)")
        RunningCommands.shared.terminateAll()
    }

    /// A prompt turned the terminal's echo off: restore `original` if rotor must stop at once.
    func promptStarted(_ original: termios) { lock.withLock { terminal = original } }
    func promptEnded() { lock.withLock { terminal = nil } }

    private func restoreTerminal() {
        guard var original = lock.withLock({ terminal }) else { return }
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
