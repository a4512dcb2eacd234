import Foundation
import Testing
@testable import RotorCore

/// Faults on real parts: a full file system, a read-only one, a user without permission,
/// a target changed by someone else mid-run, a consumer slower than its timeout, two
/// runs at once. Each must end refused or rolled back, with the right exit code, every
/// target byte-identical to before (or holding the new generation everywhere), and no
/// temporary file left behind.
///
/// The file-system cases mount a small tmpfs, so they need root (CI runs as root);
/// elsewhere they are skipped.
@Suite struct FaultTests {
    static let isRoot = getuid() == 0

    /// One `generate` key and three consumers with an env file each under `deploy/`.
    /// `reload` gives consumer i an argv (as YAML flow text), `health` a health check.
    static func writeScene(_ scratch: Scratch, reload: [Int: String] = [:], health: [Int: String] = [:], deploy: Bool = true) throws {
        try scratch.write("policies/keys.yaml", """
            kind: RotationPolicy
            providers:
              local: { type: generate, format: { prefix: "sk_", bytes: 24, encoding: hex } }
            keys:
              api-key: { provider: local, every: 30d, grace: 0s }
            """)
        var manifest = "kind: ConsumerManifest\nconsumers:\n"
        for index in 1...3 {
            manifest += "  c\(index):\n    uses: api-key\n    targets:\n      - env_file: ../deploy/c\(index)/.env\n        var: API_KEY\n"
            if let reload = reload[index] { manifest += "    reload: \(reload)\n" }
            if let health = health[index] { manifest += "    health: \(health)\n" }
        }
        try scratch.write("consumers/services.yaml", manifest)
        if deploy { try writeTargets(scratch.url.appendingPathComponent("deploy")) }
    }

    static func writeTargets(_ folder: URL) throws {
        for index in 1...3 {
            let file = folder.appendingPathComponent("c\(index)/.env")
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("PORT=80\(index)\nAPI_KEY=initial-\(index)\n".utf8).write(to: file)
        }
    }

    static func targets(_ scratch: Scratch) throws -> [Data] {
        try (1...3).map { try scratch.bytes("deploy/c\($0)/.env") }
    }

    static func values(_ scratch: Scratch) throws -> [String] {
        try targets(scratch).map { try EnvFileFormat(variable: "API_KEY").read([UInt8]($0)).get() }
    }

    static func temporaryFiles(_ scratch: Scratch) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: scratch.url.path).filter { $0.contains(".rotor-tmp-") }
    }

    static func sh(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A tmpfs of `size` mounted at `scratch/deploy`, unmounted by `body`'s end.
    static func withSmallFileSystem(_ scratch: Scratch, size: String, _ body: (URL) throws -> Void) throws {
        let mountPoint = scratch.url.appendingPathComponent("deploy")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        try #require(try sh(["mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", mountPoint.path]) == 0, "mount tmpfs")
        defer { _ = try? sh(["umount", "-l", mountPoint.path]) }
        try body(mountPoint)
    }

    @Test(.enabled(if: isRoot, "mounts a tmpfs"))
    func aFullFileSystemRefusesTheWriteAndLeavesEveryTargetAsItWas() throws {
        let scratch = try Scratch()
        try Self.writeScene(scratch, deploy: false)
        try Self.withSmallFileSystem(scratch, size: "64k") { deploy in
            try Self.writeTargets(deploy)
            // Fill every block left.
            _ = try Self.sh(["dd", "if=/dev/zero", "of=\(deploy.path)/filler", "bs=4k"])
            let before = try Self.targets(scratch)
            let full = try RotorProcess.run(["rotate", "api-key"], in: scratch.url)
            #expect(full.status == 1, "\(full.stdout)\(full.stderr)")
            #expect(full.stdout.contains("No space left on device") || full.stdout.contains("no space left"), "\(full.stdout)")
            #expect(try Self.targets(scratch) == before, "targets byte-identical")
            #expect(try Self.temporaryFiles(scratch).isEmpty)
            // With room again the same rotation succeeds.
            try FileManager.default.removeItem(at: deploy.appendingPathComponent("filler"))
            let retried = try RotorProcess.run(["rotate", "api-key"], in: scratch.url)
            #expect(retried.status == 0, "\(retried.stdout)\(retried.stderr)")
            let values = try Self.values(scratch)
            #expect(Set(values).count == 1 && !values[0].hasPrefix("initial"))
        }
    }

    @Test(.enabled(if: isRoot, "mounts a tmpfs"))
    func aReadOnlyFileSystemIsRefusedAtPreflight() throws {
        let scratch = try Scratch()
        try Self.writeScene(scratch, deploy: false)
        try Self.withSmallFileSystem(scratch, size: "64k") { deploy in
            try Self.writeTargets(deploy)
            try #require(try Self.sh(["mount", "-o", "remount,ro", deploy.path]) == 0)
            let before = try Self.targets(scratch)
            let result = try RotorProcess.run(["rotate", "api-key"], in: scratch.url)
            #expect(result.status == 1)
            #expect(result.stdout.contains("preflight failed: deploy/c1/.env:API_KEY: the file system is read-only"), "\(result.stdout)")
            #expect(try Self.targets(scratch) == before)
            let history = try RotorProcess.run(["history", "--json"], in: scratch.url)
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [String: Any])["entries"] as? [[String: Any]]
            let rotations = try #require(entries).filter { $0["action"] as? String == "rotate" }
            #expect(rotations.count == 1 && rotations.allSatisfy { $0["outcome"] as? String == "failed" }, "\(history.stdout)")
            #expect(!history.stdout.contains("new_fingerprint"), "nothing was created")
        }
    }

    static let user = "rotor-fault"

    /// The scene, owned by a user the test creates, with a copy of rotor the user can run
    /// (the test's build folder may be private), and the setpriv arguments that run it as
    /// that user.
    /// `accountless`: a uid and gid no account has (usual in containers) instead.
    static func userScene(accountless: Bool = false) throws -> (Scratch, [String]) {
        var uid: uid_t = 4242, gid: gid_t = 4242
        if accountless {
            try #require(getpwuid(uid) == nil && getgrgid(gid) == nil, "uid and gid 4242 are free")
        } else {
            if try sh(["id", user]) != 0 { _ = try sh(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]) }
            uid = try #require(getpwnam(user)?.pointee.pw_uid)
            gid = try #require(getpwnam(user)?.pointee.pw_gid)
        }
        let scratch = try Scratch()
        try writeScene(scratch)
        let binary = scratch.url.appendingPathComponent("bin/rotor")
        try FileManager.default.createDirectory(at: binary.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: RotorProcess.binary, to: binary)
        #expect(try sh(["chown", "-R", "\(uid):\(gid)", scratch.url.path]) == 0)
        // Modes explicitly: another test in this process may have narrowed the umask.
        #expect(try sh(["chmod", "-R", "u+rwX,go+rX", scratch.url.path]) == 0)
        return (scratch, ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", binary.path])
    }

    /// CI runs as root, which ignores file modes: the rotation runs as a user the test creates.
    @Test(.enabled(if: isRoot, "creates a user and runs rotor as it"))
    func aTargetTheUserCannotWriteIsRefusedAtPreflight() throws {
        let (scratch, asUser) = try Self.userScene()
        // c2's file and folder stay root's: the user may read, not write.
        #expect(try Self.sh(["chown", "-R", "0:0", scratch.url.appendingPathComponent("deploy/c2").path]) == 0)
        let before = try Self.targets(scratch)
        let setpriv = URL(fileURLWithPath: "/usr/bin/setpriv")
        let result = try RotorProcess.run(asUser + ["rotate", "api-key"], in: scratch.url, environment: ["HOME": scratch.url.path], executable: setpriv)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("preflight failed: deploy/c2/.env:API_KEY: the file is not writable (permission denied)"), "\(result.stdout)\(result.stderr)")
        #expect(try Self.targets(scratch) == before)
        #expect(try Self.temporaryFiles(scratch).isEmpty)
        // The same user may plan: reading is allowed.
        let plan = try RotorProcess.run(asUser + ["plan"], in: scratch.url, environment: ["HOME": scratch.url.path], executable: setpriv)
        #expect(plan.status == 1 && plan.stdout.contains("not writable"), "plan shows the preflight problem: \(plan.stdout)")
    }

    /// Found by an attacker (#18): rotor as a user, a target it owns whose group is root's:
    /// writable, but the new file could not keep that group — the write failed halfway and
    /// was rolled back. Refused at preflight now, before anything is created.
    /// The second attack: the same as a uid with no account (a container's), whose groups
    /// are the process's own.
    @Test(.enabled(if: isRoot, "creates a user and runs rotor as it"), arguments: [false, true])
    func aGroupTheUserCannotKeepIsRefusedAtPreflight(accountless: Bool) throws {
        let (scratch, asUser) = try Self.userScene(accountless: accountless)
        let owner = accountless ? "4242" : Self.user
        // c2's file is the user's and writable by it, but its group is root's.
        #expect(try Self.sh(["chown", "\(owner):0", scratch.url.appendingPathComponent("deploy/c2/.env").path]) == 0)
        let before = try Self.targets(scratch)
        let result = try RotorProcess.run(asUser + ["rotate", "api-key"], in: scratch.url, environment: ["HOME": scratch.url.path],
                                          executable: URL(fileURLWithPath: "/usr/bin/setpriv"))
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("preflight failed: deploy/c2/.env:API_KEY: its group is root, which user \(accountless ? "uid 4242" : Self.user) is not in"), "\(result.stdout)")
        #expect(try Self.targets(scratch) == before)
    }

    /// c1's reload edits c2's file after preflight read it: rotor reads each file again
    /// when it writes, so the other edit survives; when the edit removes rotor's variable,
    /// c2's write fails and c1 is rolled back.
    /// Found by a reviewer: a state store that exists but cannot be opened ended with exit 1
    /// and no way on; rotor cannot tell whether a run was interrupted there.
    @Test func aCorruptStateStoreNeedsAPersonAndChangesNothing() throws {
        let scratch = try Scratch()
        try Self.writeScene(scratch, reload: [:])
        #expect(try RotorProcess.run(["rotate", "api-key"], in: scratch.url).status == 0)
        let before = try Self.targets(scratch)
        try Data("garbage, not a database".utf8).write(to: scratch.url.appendingPathComponent(".rotor/state.db"))
        for command in [["recover"], ["rotate", "api-key"], ["run"]] {
            let result = try RotorProcess.run(command, in: scratch.url)
            #expect(result.status == 3, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("repair or restore the state store"), "\(command): \(result.stderr)")
        }
        #expect(try Self.targets(scratch) == before)
    }

    @Test func aTargetChangedAfterPreflightKeepsTheOtherEditOrRollsBack() throws {
        let scratch = try Scratch()
        try Self.writeScene(scratch, reload: [1: #"[python3, -c, "open('../deploy/c2/.env', 'a').write('ADDED_BY_SOMEONE=1\\n')"]"#])
        let kept = try RotorProcess.run(["rotate", "api-key", "--parallel", "1"], in: scratch.url)
        #expect(kept.status == 0, "\(kept.stdout)")
        let c2 = String(decoding: try scratch.bytes("deploy/c2/.env"), as: UTF8.self)
        #expect(c2.contains("ADDED_BY_SOMEONE=1\n"))
        #expect(Set(try Self.values(scratch)).count == 1)

        let removed = try Scratch()
        try Self.writeScene(removed, reload: [1: #"[python3, -c, "open('../deploy/c2/.env', 'w').write('PORT=802\\n')"]"#])
        let before = try Self.targets(removed)
        let result = try RotorProcess.run(["rotate", "api-key", "--parallel", "1"], in: removed.url)
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("API_KEY is not set in the file"), "\(result.stdout)")
        #expect(try removed.bytes("deploy/c1/.env") == before[0], "c1 rolled back")
        #expect(String(decoding: try removed.bytes("deploy/c2/.env"), as: UTF8.self) == "PORT=802\n", "someone else's edit is not undone by rotor")
        #expect(try removed.bytes("deploy/c3/.env") == before[2], "c3 never touched")
        #expect(try Self.temporaryFiles(removed).isEmpty)
    }

    @Test func aConsumerSlowerThanItsTimeoutIsRolledBack() throws {
        let scratch = try Scratch()
        // Slow the first time only (a consumer warming up): the rollback's check passes. It
        // leaves its pid, and a mark if it ever finishes its sleep.
        let slowOnce = #"[python3, -c, "import os, time; p = '../deploy/c2/warm'; os.path.exists(p) or (open(p, 'w').write(str(os.getpid())), time.sleep(30), open('../deploy/c2/slept', 'w').close())"]"#
        try Self.writeScene(scratch, health: [2: "{ exec: \(slowOnce), timeout: 1s }"])
        let before = try Self.targets(scratch)
        let result = try RotorProcess.run(["rotate", "api-key"], in: scratch.url)
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("c2: health check failed: python3 timed out after 1s"), "\(result.stdout)")
        #expect(try Self.targets(scratch) == before)
        // The check was killed, not waited for: it is gone and never finished its sleep.
        let pid = try #require(Int32(String(decoding: try scratch.bytes("deploy/c2/warm"), as: UTF8.self)))
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let zombie = stat.split(separator: ")").last?.split(separator: " ").first == "Z"  // killed, not reaped yet by whoever adopted it
        #expect(stat.isEmpty || zombie, "the timed-out health check still runs: \(stat)")
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("deploy/c2/slept").path))
    }

    /// Two `rotor rotate` of one key, overlapping for sure: the first holds the key (its
    /// reload waits for a gate file) past the second's lock wait. The second changes
    /// nothing and names the run that holds the key; the first completes.
    @Test func aSecondRotateOfTheSameKeyIsRefusedNamingTheHolder() throws {
        let scratch = try Scratch()
        try Self.writeScene(scratch, reload: [1: #"[sh, -c, "while [ ! -e ../gate ]; do sleep 0.05; done"]"#])
        let firstFile = scratch.url.appendingPathComponent("deploy/c1/.env")
        // One consumer at a time: while c1's reload waits at the gate, nothing else is written.
        let first = try BackgroundRotor(["rotate", "api-key", "--parallel", "1"], in: scratch.url)
        first.waitUntilChanged(firstFile, from: try String(contentsOf: firstFile, encoding: .utf8))
        let duringFirst = try Self.targets(scratch)
        let second = try RotorProcess.run(["rotate", "api-key"], in: scratch.url)
        #expect(second.status == 1, "\(second.stdout)\(second.stderr)")
        #expect(second.stdout.contains("key 'api-key' is being rotated by run") && second.stdout.contains("pid \(first.pid)"), "\(second.stdout)")
        #expect(try Self.targets(scratch) == duringFirst, "the second rotation touched nothing")
        try scratch.write("gate", "")
        let (status, said) = first.finish()
        #expect(status == 0, "\(said)")
        #expect(Set(try Self.values(scratch)).count == 1)
    }

    /// Two `rotor run` on one state, overlapping for sure: the first holds the key (its
    /// reload waits for a gate file) while the second starts, finds the first's run in
    /// progress, plans the key as due and waits for the lock; then the gate opens. The
    /// second must find the key no longer due once it holds the lock: rotated once.
    @Test func twoRunsAtOnceRotateTheKeyOnce() throws {
        let scratch = try Scratch()
        try Self.writeScene(scratch, reload: [1: #"[sh, -c, "while [ ! -e ../gate ]; do sleep 0.05; done"]"#])
        try scratch.startStateStore()
        let first = try BackgroundRotor(["run"], in: scratch.url)
        first.waitUntilChanged(scratch.url.appendingPathComponent("deploy/c1/.env"), from: try String(contentsOf: scratch.url.appendingPathComponent("deploy/c1/.env"), encoding: .utf8))
        let second = try BackgroundRotor(["run"], in: scratch.url)
        second.waitUntilSaid("is still in progress (its process holds the lock); left alone")
        try scratch.write("gate", "")
        let results = [first.finish(), second.finish()]
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map { "exit \($0.status): \($0.output)" })")
        #expect(results[1].output.contains("not due"), "the second run re-checked the key under its lock: \(results[1].output)")
        let history = try RotorProcess.run(["history", "--json"], in: scratch.url)
        struct History: Decodable { struct Entry: Decodable { var action: String; var outcome: String }; var entries: [Entry] }
        let entries = try JSONDecoder().decode(History.self, from: Data(history.stdout.utf8)).entries
        #expect(entries.filter { $0.action == "rotate" && $0.outcome == "completed" }.count == 1, "\(entries)")
        #expect(Set(try Self.values(scratch)).count == 1)
    }
}

extension Array {
    /// `transform` on every element at once, one thread each; results in order.
    func concurrentMap<T>(_ transform: @escaping @Sendable (Element) throws -> T) throws -> [T] where Element: Sendable, T: Sendable {
        let results = LockedResults<T>(count: count)
        DispatchQueue.concurrentPerform(iterations: count) { index in
            results.set(index, Result { try transform(self[index]) })
        }
        return try results.values.map { try $0!.get() }
    }
}

private final class LockedResults<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Result<T, any Error>?]
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Result<T, any Error>) { lock.withLock { storage[index] = value } }
    var values: [Result<T, any Error>?] { lock.withLock { storage } }
}
