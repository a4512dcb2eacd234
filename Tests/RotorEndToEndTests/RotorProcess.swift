import Foundation
import Testing

/// Runs the built `rotor` binary as a user would, capturing stdout, stderr and the exit code.
struct RotorProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `ROTOR_BINARY` if set; else `rotor` beside the test bundle (both are built into
    /// the same products folder by `swift build --build-tests`).
    static let binary: URL = {
        if let path = ProcessInfo.processInfo.environment["ROTOR_BINARY"] { return URL(fileURLWithPath: path) }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for folder in [beside, beside.deletingLastPathComponent(), beside.deletingLastPathComponent().deletingLastPathComponent()] {
            let candidate = folder.appendingPathComponent("rotor")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return packageRoot.appendingPathComponent(".build/debug/rotor")
    }()

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `rotor arguments…` in `directory`. Output goes through files, not pipes, so a
    /// chatty process can never block on a full pipe.
    /// `environment` adds to (and `unset` removes from) the test process's environment.
    static func run(_ arguments: [String], in directory: URL = packageRoot, environment: [String: String] = [:],
                    unset: [String] = [], stdin: String? = nil, executable: URL = binary) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout"), errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment
        for name in unset + ["ROTOR_STATE"] { env.removeValue(forKey: name) }
        for (name, value) in environment { env[name] = value }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        if let stdin {
            let inURL = scratch.appendingPathComponent("stdin")
            try Data(stdin.utf8).write(to: inURL)
            process.standardInput = try FileHandle(forReadingFrom: inURL)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: try String(contentsOf: outURL, encoding: .utf8),
                      stderr: try String(contentsOf: errURL, encoding: .utf8))
    }
}

extension RotorProcess {
    /// Runs `argv` (argv[0] a path) and waits; its exit status and stdout. posix_spawn and
    /// waitpid, not Foundation's Process: Process never noticed scripts that call runuser
    /// exit (they stayed zombies), so the PostgreSQL helpers go through this.
    static func spawn(_ argv: [String]) throws -> (status: Int32, stdout: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-spawn-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, argv[0], &actions, nil, arguments, environ)
        guard spawned == 0 else { throw CocoaError(.executableNotLoadable) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exited, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}

/// rotor running in the background, for tests that stop, kill or race it.
final class BackgroundRotor {
    let process = Process()
    private let output: URL

    /// Starts `rotor arguments…` in `directory`; stdout and stderr go to one file there.
    /// `launcher`: a command that runs rotor (e.g. in namespaces of its own), given the
    /// binary and the arguments after its own.
    init(_ arguments: [String], in directory: URL, environment: [String: String] = [:], launcher: [String] = []) throws {
        if launcher.isEmpty {
            process.executableURL = RotorProcess.binary
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = launcher + [RotorProcess.binary.path] + arguments
        }
        process.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        env.removeValue(forKey: "ROTOR_STATE")
        process.environment = env
        output = directory.appendingPathComponent("background-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = process.standardOutput
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits until the file at `path` no longer holds `text` (rotor has written it), or the
    /// process ends, or 120 s pass. Whatever the test does next depends on this event, so
    /// when it does not come that is a failure, never a silent go-ahead.
    func waitUntilChanged(_ path: URL, from text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let deadline = Date().addingTimeInterval(120)
        while (try? String(contentsOf: path, encoding: .utf8)) == text {
            guard process.isRunning, Date() < deadline else {
                Issue.record("\(path.lastPathComponent) never changed from \(text.debugDescription) (rotor \(process.isRunning ? "still running after 120 s" : "exited"))",
                             sourceLocation: sourceLocation)
                return
            }
            usleep(20_000)
        }
    }

    /// Waits until rotor has printed `text` (stdout or stderr), or it exits, or 120 s pass;
    /// a failure when the line never comes.
    func waitUntilSaid(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let deadline = Date().addingTimeInterval(120)
        while !((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains(text) {
            guard process.isRunning, Date() < deadline else {
                Issue.record("rotor never said \(text.debugDescription) (\(process.isRunning ? "still running after 120 s" : "it exited"))",
                             sourceLocation: sourceLocation)
                return
            }
            usleep(20_000)
        }
    }

    /// Waits for the exit; its status and everything it printed.
    func finish() -> (status: Int32, output: String) {
        process.waitUntilExit()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: output)
        return (process.terminationStatus, text)
    }
}

/// A scratch folder for one test, removed afterwards.
final class Scratch {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    @discardableResult
    func write(_ path: String, _ text: String) throws -> URL {
        let file = url.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
        return file
    }

    /// Copies a folder of the repository (e.g. `examples/quickstart`) into the scratch folder.
    func copy(_ repositoryPath: String) throws {
        let source = RotorProcess.packageRoot.appendingPathComponent(repositoryPath)
        for item in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(item), to: url.appendingPathComponent(item))
        }
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: url.appendingPathComponent(path)) }
}
