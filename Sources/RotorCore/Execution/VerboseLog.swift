import Foundation
import Logging

/// `--verbose`: every command rotor runs (argv, folder), how it ended and what it printed,
/// on stderr through swift-log. Nothing is logged below `.debug`, so without `--verbose`
/// (and in tests that never start it) these lines cost one level check.
///
/// Every line passes `Redactor.redact` first: a command's output may quote a secret (a
/// vendor CLI echoing the key it made), and that value must not reach the terminal or a
/// CI log. argv holds no secret by construction (secrets go through stdin or environment).
public enum VerboseLog {
    static let commands = Logger(label: "rotor.commands")

    /// Sends swift-log's output to stderr, at `.debug` when `verbose` (else `.notice`).
    /// Call once, before any command runs; later calls are ignored.
    public static func start(verbose: Bool) {
        started.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StandardErrorHandler(label: label)
                handler.logLevel = verbose ? .debug : .notice
                return handler
            }
        }
    }

    private static let started = LockedFlag()

    /// One command's lines: what ran, how it ended, its output (at most `limit` characters per stream).
    static func command(_ argv: [String], directory: String, result: CommandResult, seconds: Double, limit: Int = 2000) {
        guard commands.logLevel <= .debug else { return }
        let shown = argv.map { ControlCharacters.escape($0) }.joined(separator: " ")
        let ended = !result.started ? "did not start"
            : result.timedOut ? "timed out (its process group stopped)"
            : "exited \(result.status)"
        commands.debug("\(Redactor.redact("ran [\(shown)] in \(directory): \(ended) after \(String(format: "%.2f", seconds)) s"))")
        for (name, bytes) in [("stdout", result.stdout), ("stderr", result.stderr)] where !bytes.isEmpty {
            let text = ControlCharacters.escape(String(decoding: bytes.prefix(limit * 4), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            guard !text.isEmpty else { continue }
            let bounded = text.count > limit ? String(text.prefix(limit)) + "… (\(bytes.count) bytes)" : text
            commands.debug("\(Redactor.redact("  \(name): \(bounded)", limit: limit + 200))")
        }
    }
}

/// A `LogHandler` writing `rotor: message` lines to stderr, one write per line.
struct StandardErrorHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .notice
    var metadata: Logger.Metadata = [:]

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        FileHandle.standardError.write(Data("rotor: \(event.message)\n".utf8))
    }
}

/// A flag set once under a lock.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    func withLock(_ body: (inout Bool) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        body(&value)
    }
}
