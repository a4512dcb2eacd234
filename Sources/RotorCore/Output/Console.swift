import Foundation

/// Where a command writes: results to stdout, progress and diagnostics to stderr.
/// Injected, so tests can capture both.
public struct Console: Sendable {
    /// Results (stdout), as bytes: a large `--json` output is written without a `String`
    /// in between.
    public var stdout: @Sendable ([UInt8]) -> Void
    /// Results that must arrive whole (`report --html -`): nil when every byte was
    /// written, else why not (a full disk, a closed pipe).
    public var stdoutWhole: @Sendable ([UInt8]) -> String?
    /// Progress and diagnostics (stderr).
    public var stderr: @Sendable ([UInt8]) -> Void
    /// Color on stderr (diagnostics, progress) — a terminal, no NO_COLOR, no --no-color.
    public var colorErr: Bool
    public var colorOut: Bool
    /// stderr is a terminal: progress may redraw one line instead of printing many.
    public var errIsTerminal: Bool

    public init(stdout: @escaping @Sendable ([UInt8]) -> Void, stderr: @escaping @Sendable ([UInt8]) -> Void,
                colorOut: Bool = false, colorErr: Bool = false, errIsTerminal: Bool = false,
                stdoutWhole: (@Sendable ([UInt8]) -> String?)? = nil) {
        self.stdout = stdout
        self.stdoutWhole = stdoutWhole ?? { stdout($0); return nil }
        self.stderr = stderr
        self.colorOut = colorOut
        self.colorErr = colorErr
        self.errIsTerminal = errIsTerminal
    }

    /// The process's own streams, colored only on a terminal when allowed.
    public static func standard(noColor: Bool) -> Console {
        let environment = ProcessInfo.processInfo.environment
        let allowed = !noColor && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
        return Console(
            stdout: { writeAll($0, to: STDOUT_FILENO) },
            stderr: { writeAll($0, to: STDERR_FILENO) },
            colorOut: allowed && isatty(STDOUT_FILENO) == 1,
            colorErr: allowed && isatty(STDERR_FILENO) == 1,
            errIsTerminal: isatty(STDERR_FILENO) == 1 && environment["TERM"] != "dumb",
            stdoutWhole: { bytes in
                let error = writeAll(bytes, to: STDOUT_FILENO)
                return error == 0 ? nil : String(cString: strerror(error))
            })
    }

    /// Every byte, through short writes and signals; stops at an error such as a closed pipe
    /// (`rotor plan --json | head`). Straight from the array: `Data` would copy a 6 MB plan.
    /// 0, or the `errno` that stopped it.
    @discardableResult
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Int32 {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 { offset += written } else if written < 0, errno == EINTR { continue } else { return written < 0 ? errno : EIO }
            }
            return 0
        }
    }

    public func writeOut(_ text: String) { stdout(Array(text.utf8)) }
    public func writeErr(_ text: String) { stderr(Array(text.utf8)) }
    public func out(_ line: String) { writeOut(line + "\n") }
    public func err(_ line: String) { writeErr(line + "\n") }
    /// `warning: …` on stderr, yellow on a terminal.
    public func warn(_ message: String) { err(Style.yellow("warning: ", colorErr) + message) }
}

/// Escape sequences, applied only when the stream is colored.
enum Style {
    static func bold(_ text: String, _ on: Bool) -> String { on ? "\u{1B}[1m\(text)\u{1B}[0m" : text }
    static func dim(_ text: String, _ on: Bool) -> String { on ? "\u{1B}[2m\(text)\u{1B}[0m" : text }
    static func green(_ text: String, _ on: Bool) -> String { on ? "\u{1B}[32m\(text)\u{1B}[0m" : text }
    static func yellow(_ text: String, _ on: Bool) -> String { on ? "\u{1B}[33m\(text)\u{1B}[0m" : text }
    static func red(_ text: String, _ on: Bool) -> String { on ? "\u{1B}[31m\(text)\u{1B}[0m" : text }
}
