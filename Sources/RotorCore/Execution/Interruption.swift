import CPosix
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
    /// Readable once a signal asked rotor to stop: a prompt waiting for a person polls it
    /// beside its input, so the first Ctrl-C ends the wait (the terminal restored on the
    /// prompt's way out).
    private let wakeup: (read: Int32, write: Int32) = {
        var fds: [Int32] = [-1, -1]
        _ = rotor_pipe(&fds)
        return (fds[0], fds[1])
    }()

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
            RunningCommands.shared.killAll()
            restoreTerminal()
            tell("rotor: \(name) again: stopped at once; run 'rotor recover' to finish or undo the interrupted run")
            exit(ExitStatus.needsPerson.rawValue)
        }
        tell("rotor: \(name) received: stopping — no new step starts, and a rotation under way puts back what it touched (send it again to stop at once)")
        RunningCommands.shared.terminateAll()
        var byte: UInt8 = 1
        _ = write(wakeup.write, &byte, 1)
    }

    /// One line typed at the terminal (standard input), or nil when a signal asked rotor to
    /// stop first, or the input ended.
    func readLine() -> String? {
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var polled = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeup.read, events: Int16(POLLIN), revents: 0)]
            guard poll(&polled, 2, -1) >= 0 || errno == EINTR else { return nil }
            if polled[1].revents != 0 || requested { return nil }
            guard polled[0].revents != 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR || errno == EAGAIN { continue }
            guard count > 0 else { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            for byte in buffer[0..<count] {
                if byte == 0x0A || byte == 0x0D { return String(decoding: line, as: UTF8.self) }
                line.append(byte)
            }
        }
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
