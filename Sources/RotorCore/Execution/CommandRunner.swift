import CPosix
import Foundation

/// The outcome of one command.
public struct CommandResult: Sendable {
    public var status: Int32
    /// At most `CommandRunner.outputLimit` bytes of each stream: the rest was read and dropped.
    public var stdout: Data
    public var stderr: Data
    public var timedOut: Bool
    /// False when the command never ran (not found, could not be started): it did nothing.
    /// (A command that ran may exit 126 or 127 itself.)
    public var started = true

    public var succeeded: Bool { status == 0 && !timedOut }

    /// What a failed command printed, for its step's message: the end of its standard
    /// error (else of its output), control characters escaped, every known secret masked,
    /// at most `limit` characters. nil when it printed nothing.
    ///
    /// Masked before it is cut, and a token cut in two at either cut is dropped: a secret
    /// rotor does not know (another key's, found only by its look) no longer looks like one
    /// once cut (found by an attacker: the tail of another key's value was kept in the audit log).
    func printed(limit: Int = 400) -> String? {
        let stream = stderr.contains(where: { !Self.isBlank($0) }) ? stderr : stdout
        var bytes = stream.suffix(limit * 4)
        let cut = bytes.count < stream.count
        if cut { bytes = bytes.drop(while: { Self.isTokenByte($0) || $0 & 0xC0 == 0x80 }) }
        // One line: a command must not print lines that look like rotor's own.
        let lines = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            .split(whereSeparator: \.isNewline).joined(separator: " | ")
        let text = Redactor.redact(lines, limit: .max)
        guard !text.isEmpty else { return nil }
        guard text.count > limit else { return cut ? "…" + text : text }
        return "…" + String(text.suffix(limit).drop(while: { $0.isASCII && Self.isTokenByte($0.asciiValue!) }))
    }

    /// A byte of what `Redactor.scrubTokens` takes as one token (letters, digits, `_-+/=.`).
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || "_-+/=.".utf8.contains(byte)
    }

    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
}

/// Runs commands as argv arrays — never through a shell. A secret reaches a command
/// through its standard input or environment, never its arguments.
///
/// Every command runs in a process group of its own with only fds 0–2 open, an empty
/// signal mask and default signal dispositions (`rotor_spawn`). Its `timeout` is a
/// deadline for the whole group: SIGTERM to the group, then SIGKILL after
/// `terminationGrace`. Once the command itself has exited rotor reads what is left of its
/// output for `drainAfterExit` and no longer: a daemon it started (a reload's service)
/// may keep the pipes open for as long as it lives. Standard input is written without
/// SIGPIPE: a command that exits without reading it is not rotor's failure.
public struct CommandRunner: Sendable {
    /// Environment variables rotor must not pass on (provider tokens), unless a command's
    /// own `env` names them.
    public var withheldVariables: Set<String>

    /// Output kept per stream (the rest is read and dropped, so the command never blocks).
    static let outputLimit = 1 << 20
    static let terminationGrace: TimeInterval = 2
    static let drainAfterExit: TimeInterval = 0.1

    public init(withheldVariables: Set<String> = []) {
        self.withheldVariables = withheldVariables
    }

    /// The executable for `program`: a path (relative to `directory`) or a name on PATH.
    ///
    /// Only absolute `PATH` entries are searched (found by an attacker: a relative entry was
    /// resolved against rotor's folder by `plan` but against the command's folder by the run,
    /// where a planted program ran), and only a regular file counts (not a folder, not "").
    public static func locate(_ program: String, in directory: String) -> String? {
        guard !program.isEmpty else { return nil }
        if program.contains("/") {
            let path = program.hasPrefix("/") ? program : PathNormalizer.normalize(directory + "/" + program)
            return isExecutableFile(path) ? path : nil
        }
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in searchPath.split(separator: ":") where folder.hasPrefix("/") {
            let candidate = "\(folder)/\(program)"
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
    }

    /// Runs `argv` in `directory`, feeding `stdin`, with `environment` added; the whole
    /// process group is stopped (TERM, then KILL) after `timeout` seconds.
    /// `log`: `--verbose` shows it here; false when the caller shows it later (a provider's
    /// create, once the secret in its answer is known to the redactor).
    public func run(_ argv: [String], stdin: Data? = nil, environment: [String: String] = [:],
                    directory: String, timeout: TimeInterval, log: Bool = true) async -> CommandResult {
        let started = Date()
        let result = await withCheckedContinuation { continuation in
            // One thread per command, as for an HTTP exchange: supervising blocks it, and
            // Dispatch's global pool (two threads on a two-core machine) grows by about one
            // thread a second when its threads block — 16 health checks at once ran two by two.
            let thread = Thread {
                continuation.resume(returning: self.runBlocking(argv, stdin: stdin, environment: environment, directory: directory, timeout: timeout))
            }
            thread.stackSize = 512 << 10
            thread.start()
        }
        if log { VerboseLog.command(argv, directory: directory, result: result, seconds: Date().timeIntervalSince(started)) }
        return result
    }

    func runBlocking(_ argv: [String], stdin: Data?, environment: [String: String], directory: String, timeout: TimeInterval) -> CommandResult {
        BrokenPipes.ignore()
        guard let program = argv.first, let executable = Self.locate(program, in: directory) else {
            return CommandResult(status: 127, stdout: Data(), stderr: Data("command not found: \(argv.first ?? "")".utf8), timedOut: false, started: false)
        }
        var env = ProcessInfo.processInfo.environment
        for name in withheldVariables { env.removeValue(forKey: name) }
        for (name, value) in environment { env[name] = value }
        func failedToStart(_ reason: String) -> CommandResult {
            CommandResult(status: 126, stdout: Data(), stderr: Data("cannot run \(program): \(reason)".utf8), timedOut: false, started: false)
        }
        guard let pipes = CommandPipes() else { return failedToStart(String(cString: strerror(errno))) }
        var pid: pid_t = 0
        let error = CStrings.with(argv) { arguments in
            CStrings.with(env.map { "\($0.key)=\($0.value)" }) { variables in
                rotor_spawn(&pid, executable, arguments, variables, directory, pipes.input.read, pipes.output.write, pipes.errors.write)
            }
        }
        pipes.closeChildEnds()
        guard error == 0 else {
            pipes.closeAll()
            return failedToStart(String(cString: strerror(error)))
        }
        RunningCommands.shared.started(pid)
        defer { RunningCommands.shared.finished(pid) }
        return CommandSupervisor(pid: pid, pipes: pipes, input: stdin.map { [UInt8]($0) } ?? [], timeout: timeout).supervise()
    }
}

/// The three pipes of one command; the parent's ends are non-blocking, every end close-on-exec.
struct CommandPipes {
    var input: (read: Int32, write: Int32)
    var output: (read: Int32, write: Int32)
    var errors: (read: Int32, write: Int32)

    init?() {
        var fds = [Int32](repeating: -1, count: 6)
        guard fds.withUnsafeMutableBufferPointer({ rotor_pipe($0.baseAddress!) }) == 0 else { return nil }
        guard fds.withUnsafeMutableBufferPointer({ rotor_pipe($0.baseAddress! + 2) }) == 0 else { close(fds[0]); close(fds[1]); return nil }
        guard fds.withUnsafeMutableBufferPointer({ rotor_pipe($0.baseAddress! + 4) }) == 0 else { fds[0..<4].forEach { close($0) }; return nil }
        input = (fds[0], fds[1])
        output = (fds[2], fds[3])
        errors = (fds[4], fds[5])
        for fd in [input.write, output.read, errors.read] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    func closeChildEnds() {
        close(input.read)
        close(output.write)
        close(errors.write)
    }

    func closeAll() {
        close(input.write)
        close(output.read)
        close(errors.read)
    }
}

/// Feeds, reads and times one running command (see `CommandRunner`).
private struct CommandSupervisor {
    let pid: pid_t
    let pipes: CommandPipes
    var input: [UInt8]
    let timeout: TimeInterval

    func supervise() -> CommandResult {
        var input = self.input
        var written = 0
        let exit = ExitWatcher(pid)
        var inputFD: Int32 = input.isEmpty ? -1 : pipes.input.write
        if inputFD < 0 { close(pipes.input.write) }
        var outputFD = pipes.output.read, errorsFD = pipes.errors.read
        var output: [UInt8] = [], errors: [UInt8] = []
        let deadline = Monotonic.now() + timeout
        var exitedAt: Double?
        var timedOut = false
        var killAt: Double?
        var killed = false
        var buffer = [UInt8](repeating: 0, count: 1 << 16)

        func readSome(_ fd: inout Int32, into kept: inout [UInt8]) {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                kept.append(contentsOf: buffer[0..<min(count, max(0, CommandRunner.outputLimit - kept.count))])
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                close(fd)
                fd = -1
            }
        }

        while true {
            let now = Monotonic.now()
            if exitedAt == nil, exit.hasExited { exitedAt = now }
            if let exitedAt {
                if inputFD >= 0 { close(inputFD); inputFD = -1 }
                let drained = (outputFD < 0 && errorsFD < 0) || now >= exitedAt + CommandRunner.drainAfterExit
                // After a timeout the group gets its KILL even when the command itself is gone.
                if drained && (!timedOut || killed || !RunningCommands.groupAlive(pid)) { break }
            }
            if !timedOut, now >= deadline {
                timedOut = true
                kill(-pid, SIGTERM)
                killAt = now + CommandRunner.terminationGrace
            }
            if let killAt, !killed, now >= killAt {
                kill(-pid, SIGKILL)
                killed = true
            }
            var polled: [pollfd] = []
            if outputFD >= 0 { polled.append(pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)) }
            if errorsFD >= 0 { polled.append(pollfd(fd: errorsFD, events: Int16(POLLIN), revents: 0)) }
            if inputFD >= 0 { polled.append(pollfd(fd: inputFD, events: Int16(POLLOUT), revents: 0)) }
            if exitedAt == nil { polled.append(pollfd(fd: exit.notification, events: Int16(POLLIN), revents: 0)) }
            var wake = min(timedOut ? (killAt ?? now) : deadline, exitedAt.map { $0 + CommandRunner.drainAfterExit } ?? .infinity)
            if killed || (exitedAt != nil && timedOut) { wake = min(wake, now + 0.05) }
            let milliseconds = Int32(min(max(wake - now, 0), 1) * 1000) + 1
            guard poll(&polled, nfds_t(polled.count), milliseconds) >= 0 || errno == EINTR else { break }
            for entry in polled where entry.revents != 0 {
                if entry.fd == outputFD { readSome(&outputFD, into: &output) }
                else if entry.fd == errorsFD { readSome(&errorsFD, into: &errors) }
                else if entry.fd == inputFD {
                    let count = input.withUnsafeBytes { Glibc.write(inputFD, $0.baseAddress! + written, $0.count - written) }
                    if count > 0 { written += count }
                    // EPIPE: the command exited without reading all of it; that is its business.
                    if written == input.count || (count < 0 && errno != EAGAIN && errno != EINTR) {
                        close(inputFD)
                        inputFD = -1
                        input = []
                    }
                }
            }
        }
        for fd in [inputFD, outputFD, errorsFD] where fd >= 0 { close(fd) }
        let status = exit.wait()
        return CommandResult(status: status, stdout: Data(output), stderr: Data(errors), timedOut: timedOut)
    }
}

/// Reaps one child on a thread of its own and signals a pipe when it has: the supervisor
/// polls that pipe with the command's output, so no exit goes unnoticed between polls.
private final class ExitWatcher: @unchecked Sendable {
    let notification: Int32
    private let notify: Int32
    private let lock = NSLock()
    private var status: Int32?
    private let done = DispatchSemaphore(value: 0)

    init(_ pid: pid_t) {
        var fds: [Int32] = [-1, -1]
        _ = rotor_pipe(&fds)
        notification = fds[0]
        notify = fds[1]
        Thread.detachNewThread { [self] in
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            let code = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            lock.withLock { status = code }
            var byte: UInt8 = 1
            _ = Glibc.write(notify, &byte, 1)
            done.signal()
        }
    }

    var hasExited: Bool { lock.withLock { status != nil } }

    /// The exit status (128 + signal when killed), once the child is reaped.
    func wait() -> Int32 {
        done.wait()
        close(notification)
        close(notify)
        return lock.withLock { status ?? 128 }
    }
}

/// The process groups of the commands running now, so that a signal to rotor can stop
/// them (`terminateAll`).
final class RunningCommands: @unchecked Sendable {
    static let shared = RunningCommands()
    private let lock = NSLock()
    private var groups: Set<pid_t> = []

    func started(_ pid: pid_t) { lock.withLock { _ = groups.insert(pid) } }
    func finished(_ pid: pid_t) { lock.withLock { _ = groups.remove(pid) } }

    /// SIGTERM to every running command's group, and SIGKILL `grace` seconds later to those
    /// of them still running (a command may ignore TERM); commands started meanwhile (a
    /// rollback's) are left alone.
    func terminateAll(grace: TimeInterval = CommandRunner.terminationGrace) {
        let running = lock.withLock { groups }
        for group in running { kill(-group, SIGTERM) }
        DispatchQueue.global().asyncAfter(deadline: .now() + grace) { [self] in
            for group in running where lock.withLock({ groups.contains(group) }) { kill(-group, SIGKILL) }
        }
    }

    /// SIGKILL to every running command's group: rotor exits at once and leaves none behind.
    func killAll() {
        for group in lock.withLock({ groups }) { kill(-group, SIGKILL) }
    }

    /// Whether any process is left in the group `pid` leads.
    static func groupAlive(_ pid: pid_t) -> Bool { kill(-pid, 0) == 0 }
}

/// SIGPIPE ignored for the whole process: a command that closes its input, or a reader of
/// rotor's output that goes away (`rotor plan --json | head`), is an EPIPE to handle, not
/// the end of rotor mid-rotation. (rotor's `main` sets it first; library users get it here.)
public enum BrokenPipes {
    private static let ignored: Void = { signal(SIGPIPE, SIG_IGN); return () }()
    public static func ignore() { _ = ignored }
}

enum Monotonic {
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// NUL-terminated C string arrays for posix_spawn, freed after `body`.
enum CStrings {
    static func with<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return body(pointers)
    }
}

/// Terminal control characters made visible: what a command or a server printed must not
/// drive the operator's terminal (colors, cursor moves, a title change).
enum ControlCharacters {
    /// Every C0 and C1 control character but tab and newline as `\xHH`; DEL too; and the
    /// invisible characters that reorder or break what a terminal shows (bidi overrides
    /// and isolates, line and paragraph separators) as `\u{HHHH}`.
    static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            if !needsEscape(scalar) { escaped.unicodeScalars.append(scalar) } else if scalar.value > 0xFF {
                escaped += String(format: "\\u{%04X}", scalar.value)
            } else {
                escaped += String(format: "\\x%02x", scalar.value)
            }
        }
        return escaped
    }

    /// `escape`, and newlines and tabs as `\n` and `\t` too: for a field of a
    /// line-oriented output (`history`), where a newline would forge the next line.
    static func escapeLine(_ text: String) -> String {
        let escaped = escape(text)
        guard escaped.contains(where: { $0 == "\n" || $0 == "\t" || $0 == "\r\n" }) else { return escaped }
        return escaped.replacingOccurrences(of: "\r\n", with: "\\x0d\\n").replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
    }

    /// What a reader cannot see or tell apart: format characters (bidi marks, zero-width
    /// spaces and joiners, word joiner, BOM, tag characters), every space but U+0020
    /// (no-break, em, ideographic…), unassigned code points, and the characters that
    /// render blank or change nothing visible — Hangul and Khmer fillers, the Braille
    /// blank, the combining grapheme joiner, variation selectors — and noncharacters.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return false }  // ASCII controls are escapeLine's; the rest is visible
        switch scalar.properties.generalCategory {
        case .format, .unassigned: return true
        case .spaceSeparator: return scalar != " "
        default: break
        }
        let value = scalar.value
        return [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0].contains(value)
            || (0xFE00...0xFE0F).contains(value) || (0xE0100...0xE01EF).contains(value)
            || (0xFDD0...0xFDEF).contains(value) || value & 0xFFFE == 0xFFFE
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t" && scalar != "\n") || (0x7F...0x9F).contains(scalar.value) || isInvisibleReordering(scalar)
    }

    /// Bidi overrides and isolates, line and paragraph separators.
    static func isInvisibleReordering(_ scalar: Unicode.Scalar) -> Bool {
        (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}
