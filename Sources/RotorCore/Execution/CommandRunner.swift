import Foundation

/// The outcome of one command.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: Data
    public var timedOut: Bool

    public var succeeded: Bool { status == 0 && !timedOut }
}

/// Runs commands as argv arrays — never through a shell. A secret reaches a command
/// through its standard input or environment, never its arguments.
public struct CommandRunner: Sendable {
    /// Environment variables rotor must not pass on (provider tokens), unless a command's
    /// own `env` names them.
    public var withheldVariables: Set<String>

    public init(withheldVariables: Set<String> = []) {
        self.withheldVariables = withheldVariables
    }

    /// The executable for `program`: a path (relative to `directory`) or a name on PATH.
    public static func locate(_ program: String, in directory: String) -> String? {
        if program.contains("/") {
            let path = program.hasPrefix("/") ? program : PathNormalizer.normalize(directory + "/" + program)
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in searchPath.split(separator: ":") {
            let candidate = "\(folder)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `argv` in `directory`, feeding `stdin`, with `environment` added; kills it
    /// (TERM, then KILL) after `timeout` seconds.
    public func run(_ argv: [String], stdin: Data? = nil, environment: [String: String] = [:],
                    directory: String, timeout: TimeInterval) async -> CommandResult {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: self.runBlocking(argv, stdin: stdin, environment: environment, directory: directory, timeout: timeout))
            }
        }
    }

    func runBlocking(_ argv: [String], stdin: Data?, environment: [String: String], directory: String, timeout: TimeInterval) -> CommandResult {
        guard let program = argv.first, let executable = Self.locate(program, in: directory) else {
            return CommandResult(status: 127, stdout: Data(), stderr: Data("command not found: \(argv.first ?? "")".utf8), timedOut: false)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(argv.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ProcessInfo.processInfo.environment
        for name in withheldVariables { env.removeValue(forKey: name) }
        for (name, value) in environment { env[name] = value }
        process.environment = env
        let output = Pipe(), errors = Pipe(), input = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = input
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            return CommandResult(status: 126, stdout: Data(), stderr: Data("cannot run \(program): \(error.localizedDescription)".utf8), timedOut: false)
        }
        // Read both pipes concurrently so a chatty command never blocks on a full pipe.
        let collected = OutputCollector()
        let readers = DispatchGroup()
        for (pipe, isOutput) in [(output, true), (errors, false)] {
            readers.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collected.store(data, isOutput: isOutput)
                readers.leave()
            }
        }
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try? input.fileHandleForWriting.close()
        var timedOut = false
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            process.terminate()
            if finished.wait(timeout: .now() + 2) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                finished.wait()
            }
        }
        readers.wait()
        return CommandResult(status: process.terminationStatus, stdout: collected.output, stderr: collected.errors, timedOut: timedOut)
    }
}

/// Output gathered by the reader threads.
private final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var outputData = Data()
    private var errorData = Data()

    func store(_ data: Data, isOutput: Bool) {
        lock.lock()
        defer { lock.unlock() }
        if isOutput { outputData = data } else { errorData = data }
    }

    var output: Data { lock.lock(); defer { lock.unlock() }; return outputData }
    var errors: Data { lock.lock(); defer { lock.unlock() }; return errorData }
}
