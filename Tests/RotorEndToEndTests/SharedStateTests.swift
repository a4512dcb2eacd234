import Foundation
import Testing
@testable import RotorCore

/// Several runners against one PostgreSQL state (ROTOR_TEST_POSTGRES, started by
/// scripts/test): the built binary, real processes, one database.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES"] != nil, "needs ROTOR_TEST_POSTGRES"))
struct SharedStateTests {
    static let keys = (1...8).map { "key-\($0)" }

    /// A fresh database on the test server, and a scene of 8 due keys with two env files each.
    static func scene() throws -> (Scratch, String) {
        let base = try #require(ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES"])
        let name = "rotor_e2e_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        try PostgresConnection(url: base).execute("CREATE DATABASE \(name)")
        let url = String(base[..<base.lastIndex(of: "/")!]) + "/" + name
        let scratch = try Scratch()
        try scratch.write("policies/keys.yaml", "kind: RotationPolicy\nproviders:\n  local: { type: generate }\nkeys:\n"
            + keys.map { "  \($0): { provider: local, every: 30d, grace: 0s }\n" }.joined())
        var manifest = "kind: ConsumerManifest\nconsumers:\n"
        for key in keys {
            for side in ["a", "b"] {
                manifest += "  \(key)-\(side):\n    uses: \(key)\n    targets:\n      - env_file: ../deploy/\(key)-\(side).env\n        var: API_KEY\n"
                try scratch.write("deploy/\(key)-\(side).env", "API_KEY=initial\n")
            }
        }
        try scratch.write("consumers/services.yaml", manifest)
        return (scratch, url)
    }

    @Test func severalRunnersAtOnceRotateEachKeyExactlyOnce() throws {
        let (scratch, url) = try Self.scene()
        try scratch.startStateStore(url)
        let folder = scratch.url
        let results = try [0, 1, 2].concurrentMap { _ in try RotorProcess.run(["run", "--state", url], in: folder) }
        for result in results {
            // A runner may give up on a key another holds for too long (exit 1, naming it); none fails otherwise.
            #expect(result.status == 0 || result.stdout.contains("is being rotated by run"), "\(result.stdout)\(result.stderr)")
        }
        let store = try #require(try PostgresStateStore.open(url: url))
        let rotations = try store.auditLog().filter { $0.action == "rotate" && $0.outcome == "completed" }
        #expect(rotations.map(\.key).sorted() == Self.keys.sorted(), "each key rotated exactly once: \(rotations.map(\.key))")
        #expect(try store.auditLog().map(\.sequence) == Array(1...(try store.auditLog().count)), "the audit log is complete and chained")
        #expect(try RotorProcess.run(["history", "--verify", "--state", url], in: folder).status == 0)
        let states = try store.keyStates()
        for key in Self.keys {
            let values = try ["a", "b"].map { try EnvFileFormat(variable: "API_KEY").read(Array(scratch.bytes("deploy/\(key)-\($0).env"))).get() }
            #expect(values[0] == values[1] && values[0] != "initial", "\(key): \(values)")
            #expect(Fingerprint.of(values[0]) == states[key]?.current?.fingerprint, "\(key) holds the state's current generation")
        }
        // Nothing is due any more: another round rotates nothing.
        let again = try RotorProcess.run(["run", "--state", url], in: folder)
        #expect(again.status == 0)
        #expect(try store.auditLog().filter { $0.action == "rotate" }.count == Self.keys.count)
    }

    /// `rotor report` reads a PostgreSQL store as it reads SQLite: every key, every run and
    /// the audit chain verified, with its head as `history --json` gives it.
    @Test func theReportPageReadsThePostgreSQLState() throws {
        let (scratch, url) = try Self.scene()
        try scratch.startStateStore(url)
        #expect(try RotorProcess.run(["run", "--state", url], in: scratch.url).status == 0)
        let result = try RotorProcess.run(["report", "--html", "page.html", "--state", url, "--runs", "3"], in: scratch.url)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("wrote page.html: 8 keys, 0 overdue, 0 targets not in sync, audit log intact"), "\(result.stderr)")
        let parsed = try ReportTests.python([ReportTests.page, "parse", scratch.url.appendingPathComponent("page.html").path])
        #expect(parsed["keys"] as? [String] == Self.keys)
        #expect((parsed["runs"] as? [Any])?.count == 3)
        #expect((parsed["text"] as? String)?.contains("The newest 3 of 8 runs.") == true)
        let store = try #require(try PostgresStateStore.open(url: url))
        let last = try #require(try store.auditLog().last)
        #expect(parsed["audit_head"] as? String == "\(last.sequence):\(last.hash)")
    }

    /// The role `rotor_password` must authenticate (scram); its password reaches rotor only
    /// through PGPASSWORD or ~/.pgpass, as for psql, and is never printed.
    @Test func thePasswordComesFromPGPASSWORDOrThePasswordFile() throws {
        let base = try #require(ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES"])
        let name = "rotor_pw_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        try PostgresConnection(url: base).execute("CREATE DATABASE \(name) OWNER rotor_password")
        let server = base.dropFirst("postgres://rotor@".count).prefix { $0 != "/" }   // 127.0.0.1:PORT
        let url = "postgres://rotor_password@\(server)/\(name)"
        let (scratch, _) = try Self.scene()
        let password = "test-password-for-rotor"

        let refused = try RotorProcess.run(["run", "--state", url], in: scratch.url, environment: ["HOME": scratch.url.path], unset: ["PGPASSWORD", "PGPASSFILE"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("no password supplied"), "\(refused.stderr)")
        let withVariable = try RotorProcess.run(["rotate", "key-1", "--state", url], in: scratch.url, environment: ["PGPASSWORD": password])
        #expect(withVariable.status == 0, "\(withVariable.stdout)\(withVariable.stderr)")
        try scratch.write(".pgpass", "\(server):\(name):rotor_password:\(password)\n")
        chmod(scratch.url.appendingPathComponent(".pgpass").path, 0o600)
        let withFile = try RotorProcess.run(["history", "--state", url], in: scratch.url, environment: ["HOME": scratch.url.path], unset: ["PGPASSWORD"])
        #expect(withFile.status == 0, "\(withFile.stdout)\(withFile.stderr)")
        for output in [refused, withVariable, withFile] { #expect(!(output.stdout + output.stderr).contains(password)) }
    }

    @Test func theStateURLsPasswordIsNeverPrinted() throws {
        let (scratch, _) = try Self.scene()
        // Nothing listens on port 1: the error must name the URL without its password.
        let result = try RotorProcess.run(["status", "--state", "postgres://rotor:hunter2-canary@127.0.0.1:1/rotor"], in: scratch.url)
        #expect(result.status != 0)
        #expect(result.stderr.contains("rotor:***@"), "\(result.stderr)")
        #expect(!(result.stdout + result.stderr).contains("hunter2-canary"))
    }

    /// A password written into the state URL (found by an attacker): a `?` inside it or a
    /// percent-encoded `password` parameter is masked as libpq reads them, a URL from
    /// ROTOR_STATE reaches no command rotor runs, and rotor warns that it is there at all.
    @Test func aPasswordInTheStateURLIsMaskedWithheldAndWarnedAbout() throws {
        let (scratch, url) = try Self.scene()
        let server = url.dropFirst("postgres://rotor@".count)  // 127.0.0.1:PORT/DB; the role is trusted, the password unused
        try scratch.write("consumers/dump.yaml", "kind: ConsumerManifest\nconsumers:\n  dump:\n    uses: key-1\n    targets: [{ env_file: ../deploy/dump.env, var: API_KEY }]\n    reload: [sh, -c, \"env > ../reload-env.txt\"]\n")
        try scratch.write("deploy/dump.env", "API_KEY=initial\n")
        let withQuestionMark = "postgres://rotor:CANARY?pw9@\(server)"
        let rotated = try RotorProcess.run(["rotate", "key-1"], in: scratch.url, environment: ["ROTOR_STATE": withQuestionMark])
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        #expect(rotated.stderr.contains("warning: the state URL holds a password") && rotated.stderr.contains("and in ROTOR_STATE"), "\(rotated.stderr)")
        let environment = String(decoding: try scratch.bytes("reload-env.txt"), as: UTF8.self)
        #expect(!environment.contains("CANARY") && !environment.contains("ROTOR_STATE"), "the reload's environment: \(environment)")
        let encodedName = "postgres://rotor@\(server)?pass%77ord=CANARY%3Fpw9"
        // libpq's own parse errors quote the password (found by an attacker).
        for unparsable in ["postgres://rotor:CANARY%PW@\(server)", "postgres://rotor@\(server)?pass%77ord=CANARY%ZZ", "postgresql://rotor:CANARY@[::1:\(server)"] {
            let refused = try RotorProcess.run(["state", "check", "--state", unparsable], in: scratch.url)
            #expect(refused.status == 1 && !(refused.stdout + refused.stderr).contains("CANARY"), "\(refused.stdout)\(refused.stderr)")
        }
        for state in [withQuestionMark, encodedName] {
            let check = try RotorProcess.run(["state", "check", "--state", state], in: scratch.url)
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
            #expect(!(check.stdout + check.stderr).contains("CANARY") && check.stdout.contains("***"), "\(check.stdout)\(check.stderr)")
        }
    }

    /// Runner A is stopped (SIGSTOP) in the middle of its rotation, past its 1 s lease;
    /// runner B recovers the run (rolls it back); A, continued, is refused on its next
    /// write and exits 3 without touching anything further.
    @Test func aStoppedRunnerWhoseLeaseWasTakenOverTouchesNothingMore() throws {
        let (scratch, url) = try Self.scene()
        // key-1's first consumer reloads slowly: that is where A will be stopped.
        let manifest = String(decoding: try scratch.bytes("consumers/services.yaml"), as: UTF8.self)
        try scratch.write("consumers/services.yaml", manifest.replacingOccurrences(
            of: "  key-1-a:\n    uses: key-1\n    targets:\n      - env_file: ../deploy/key-1-a.env\n        var: API_KEY\n",
            with: "  key-1-a:\n    uses: key-1\n    targets:\n      - env_file: ../deploy/key-1-a.env\n        var: API_KEY\n    reload: [sleep, \"2\"]\n"))
        let runnerA = try BackgroundRotor(["rotate", "key-1", "--state", url, "--parallel", "1"], in: scratch.url,
                                          environment: ["ROTOR_TEST_LEASE_SECONDS": "1"])
        // Wait until A has written key-1-a and is in its reload (its `sleep` child runs), then
        // stop it. Stopping it on the file change alone could catch it inside the journal's
        // transaction, whose lock then held recovery (and the test) forever (issue 23).
        runnerA.waitUntilChanged(scratch.url.appendingPathComponent("deploy/key-1-a.env"), from: "API_KEY=initial\n")
        let reloading = Date().addingTimeInterval(30)
        while !Self.hasDescendant(named: "sleep", of: runnerA.pid), Date() < reloading { usleep(5_000) }
        kill(runnerA.pid, SIGSTOP)
        // Past A's lease as the store records it (not a guess at how long that takes).
        let locks = try PostgresConnection(url: url)
        let deadline = Date().addingTimeInterval(60)
        while let expires = try locks.execute("SELECT expires FROM locks WHERE key = 'key-1'").first?.first.flatMap({ $0 }).flatMap(Double.init),
              Date().timeIntervalSince1970 <= expires {
            guard Date() < deadline else { Issue.record("A's lease never expired"); break }
            usleep(20_000)
        }

        let recovered = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        kill(runnerA.pid, SIGCONT)
        let (aStatus, aSaid) = runnerA.finish()

        #expect(recovered.status == 0, "\(recovered.stdout)\(recovered.stderr)")
        #expect(recovered.stdout.contains("rolled back"), "\(recovered.stdout)")
        #expect(aStatus == 3, "\(aSaid)")
        #expect(aSaid.contains("lost its lease on 'key-1' to another runner"), "\(aSaid)")
        // B restored key-1-a; A never wrote key-1-b after it woke up.
        #expect(String(decoding: try scratch.bytes("deploy/key-1-a.env"), as: UTF8.self) == "API_KEY=initial\n")
        #expect(String(decoding: try scratch.bytes("deploy/key-1-b.env"), as: UTF8.self) == "API_KEY=initial\n")
        let store = try #require(try PostgresStateStore.open(url: url))
        #expect(try store.keyStates()["key-1"]?.current == nil, "the interrupted rotation did not become current")
        // The key rotates normally afterwards.
        #expect(try RotorProcess.run(["rotate", "key-1", "--state", url], in: scratch.url).status == 0)
    }

    /// Whether a process named `name` (its `comm`) descends from `ancestor` (its child, or
    /// further down: rotor started through `unshare --fork`).
    static func hasDescendant(named name: String, of ancestor: Int32) -> Bool {
        var parents: [Int32: Int32] = [:], named: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            guard fields.count > 1, let parent = Int32(fields[1]) else { continue }
            parents[pid] = parent
            if stat[stat.index(after: open)..<close] == name { named.append(pid) }
        }
        return named.contains { pid in
            var current = parents[pid]
            while let step = current, step > 1 {
                if step == ancestor { return true }
                current = parents[step]
            }
            return false
        }
    }

    /// `scripts/postgres-test-server` with its arguments; what it prints.
    static func server(_ arguments: [String]) throws -> String {
        let script = RotorProcess.packageRoot.appendingPathComponent("scripts/postgres-test-server").path
        let result = try RotorProcess.spawn([script] + arguments)
        try #require(result.status == 0, "postgres-test-server \(arguments) failed")
        return result.stdout
    }

    /// One key, two consumers; the first reloads for 2 s, which is where the tests strike
    /// (or each reloads with `reloads`, YAML flow sequences).
    static func slowReloadScene(reloads: (first: String, second: String?) = ("[sleep, \"2\"]", nil)) throws -> Scratch {
        let scratch = try Scratch()
        try scratch.write("policies/keys.yaml", "kind: RotationPolicy\nproviders:\n  local: { type: generate }\nkeys:\n  api-key: { provider: local, every: 30d, grace: 0s }\n")
        try scratch.write("consumers/services.yaml", """
            kind: ConsumerManifest
            consumers:
              first:
                uses: api-key
                targets: [{ env_file: ../deploy/first.env, var: API_KEY }]
                reload: \(reloads.first)
              second:
                uses: api-key
                targets: [{ env_file: ../deploy/second.env, var: API_KEY }]
            \(reloads.second.map { "    reload: \($0)\n" } ?? "")
            """)
        try scratch.write("deploy/first.env", "API_KEY=initial\n")
        try scratch.write("deploy/second.env", "API_KEY=initial\n")
        return scratch
    }

    /// The database on its own host (a network namespace joined by a veth pair); the link is
    /// cut while a run is in its reload. The run must end in seconds — not hang for the
    /// kernel's TCP timeout while it holds a lease — exit 3, and be recovered once the link is back.
    /// The time limit guards against a hang (the kernel would wait ~15 minutes); it is not
    /// a timing assertion: rotor's own bound is tcp_user_timeout, 15 s.
    @Test(.enabled(if: getuid() == 0, "creates network namespaces"), .timeLimit(.minutes(3)))
    func aNetworkPartitionEndsTheRunInSecondsAndIsRecoveredWhenHealed() throws {
        let host = try IsolatedHost()
        let exports = try host.startPostgres(tls: true)
        // Off this machine: verified TLS (the CA given in the URL), as rotor insists (issue 23).
        let url = try #require(exports["ROTOR_TEST_POSTGRES"]) + "?sslrootcert=" + (try #require(exports["ROTOR_TEST_POSTGRES_CA"]))
        let dir = try #require(exports["ROTOR_TEST_POSTGRES_DIR"])
        defer { _ = try? Self.server(["stop", dir]) }

        let scratch = try Self.slowReloadScene()
        #expect(try RotorProcess.run(["status", "--state", url], in: scratch.url).status == 2, "reachable across the veth pair")
        let runner = try BackgroundRotor(["rotate", "api-key", "--state", url, "--parallel", "1"], in: scratch.url)
        runner.waitUntilChanged(scratch.url.appendingPathComponent("deploy/first.env"), from: "API_KEY=initial\n")
        let cut = Date()
        try host.cut()
        let (status, said) = runner.finish()
        let waited = Date().timeIntervalSince(cut)
        try host.heal()

        #expect(status == 3, "\(said)")
        #expect(said.contains("the state store failed during the run") && said.contains("run 'rotor recover' once it is back"), "\(said)")
        #expect(String(decoding: try scratch.bytes("deploy/second.env"), as: UTF8.self) == "API_KEY=initial\n")
        let recovered = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(recovered.status == 0 && recovered.stdout.contains("rolled back"), "\(recovered.stdout)\(recovered.stderr)")
        #expect(String(decoding: try scratch.bytes("deploy/first.env"), as: UTF8.self) == "API_KEY=initial\n")
        print("partition: the run stopped \(Int(waited)) s after the link was cut")
    }

    /// A state database off this machine is used only with its certificate checked
    /// (issue 23): refused without the CA, with a message saying what to give; used with it.
    @Test(.enabled(if: getuid() == 0, "creates network namespaces"))
    func aStoreOffThisMachineIsUsedOnlyWithItsCertificateChecked() throws {
        let host = try IsolatedHost()
        let exports = try host.startPostgres(tls: true)
        let url = try #require(exports["ROTOR_TEST_POSTGRES"]), ca = try #require(exports["ROTOR_TEST_POSTGRES_CA"])
        defer { _ = try? Self.server(["stop", exports["ROTOR_TEST_POSTGRES_DIR"] ?? "/nonexistent"]) }
        let scratch = try Self.slowReloadScene()
        let refused = try RotorProcess.run(["adopt", "--all", "--state", url], in: scratch.url, environment: ["HOME": "/nonexistent"], unset: ["PGSSLROOTCERT"])
        #expect(refused.status == 1 && refused.stderr.contains("rotor asks for sslmode=verify-full for a server off this machine"), "\(refused.stdout)\(refused.stderr)")
        let verified = try RotorProcess.run(["adopt", "--all", "--state", url], in: scratch.url, environment: ["HOME": "/nonexistent", "PGSSLROOTCERT": ca])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let plain = try RotorProcess.run(["status", "--state", url + "?sslmode=disable"], in: scratch.url, environment: ["HOME": "/nonexistent"])
        #expect(plain.status == 0, "the URL's own sslmode wins: \(plain.stdout)\(plain.stderr)")
    }

    /// A session holding a lock on rotor's tables does not hang rotor: it gives up within
    /// its lock timeout (here set in the URL) saying what blocks it, having changed nothing.
    @Test(.timeLimit(.minutes(1)))
    func aLockHeldOnRotorsTablesIsWaitedForBoundedly() throws {
        let (scratch, url) = try Self.scene()
        try scratch.startStateStore(url)
        let holder = try PostgresConnection(url: url)
        let blocked = DispatchSemaphore(value: 0)
        Thread {
            _ = try? holder.transaction { db in
                try db.execute("LOCK TABLE keys IN ACCESS EXCLUSIVE MODE")
                blocked.signal()
                try db.execute("SELECT pg_sleep(8)")
            }
        }.start()
        blocked.wait()
        let started = Date()
        let result = try RotorProcess.run(["status", "--state", url + "?options=-c%20lock_timeout%3D1s"], in: scratch.url)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("lock timeout") && result.stderr.contains("another session holds what rotor needs"), "\(result.stderr)")
        // Which session (found by an operator: the message named none).
        let blocker = try holder.execute("SELECT pg_backend_pid()").first?.first ?? nil
        #expect(result.stderr.contains("holding locks now: pid \(blocker ?? "?") (user rotor,") && result.stderr.contains("pg_terminate_backend(PID)"), "\(result.stderr)")
        print("a held lock: rotor gave up after \(String(format: "%.1f", Date().timeIntervalSince(started))) s (lock_timeout 1s)")
    }

    /// The database goes away while a run is in its reload: rotor stops, says what is left
    /// and exits 3; once the database is back, `recover` rolls the run back. A server of its
    /// own: stopping the shared one would break the other tests.
    @Test func theDatabaseStoppedMidRunIsRecoveredOnceItIsBack() throws {
        let exports = try Self.server(["start"])
        let value = { (name: String) in exports.split(separator: "\n").first { $0.hasPrefix("export \(name)=") }.map { String($0.dropFirst("export \(name)=".count)) } }
        let base = try #require(value("ROTOR_TEST_POSTGRES")), dir = try #require(value("ROTOR_TEST_POSTGRES_DIR"))
        defer { _ = try? Self.server(["stop", dir]) }
        let url = String(base[..<base.lastIndex(of: "/")!]) + "/postgres"

        let scratch = try Self.slowReloadScene()
        let runner = try BackgroundRotor(["rotate", "api-key", "--state", url, "--parallel", "1"], in: scratch.url)
        runner.waitUntilChanged(scratch.url.appendingPathComponent("deploy/first.env"), from: "API_KEY=initial\n")
        _ = try Self.server(["halt", dir])
        let (status, said) = runner.finish()
        #expect(status == 3, "\(said)")
        #expect(said.contains("the state store failed during the run") && said.contains("run 'rotor recover' once it is back"), "\(said)")
        #expect(String(decoding: try scratch.bytes("deploy/second.env"), as: UTF8.self) == "API_KEY=initial\n", "nothing written after the database went away")

        _ = try Self.server(["resume", dir])
        let recovered = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(recovered.status == 0, "\(recovered.stdout)\(recovered.stderr)")
        #expect(recovered.stdout.contains("rolled back"), "\(recovered.stdout)")
        #expect(String(decoding: try scratch.bytes("deploy/first.env"), as: UTF8.self) == "API_KEY=initial\n", "restored from its backup")
        #expect(try RotorProcess.run(["rotate", "api-key", "--state", url], in: scratch.url).status == 0)
    }

    /// SQLite → PostgreSQL → SQLite with `rotor state migrate`, verified each way, and the
    /// runners carry on against the new store.
    @Test func stateMigratesToPostgreSQLAndBack() throws {
        let (scratch, url) = try Self.scene()
        try scratch.startStateStore()
        #expect(try RotorProcess.run(["run"], in: scratch.url).status == 0)             // 8 rotations on SQLite
        #expect(try RotorProcess.run(["rotate", "key-1"], in: scratch.url).status == 0)  // one more, with a previous generation
        let toPostgres = try RotorProcess.run(["state", "migrate", "--from", "sqlite:.rotor/state.db", "--to", url], in: scratch.url)
        #expect(toPostgres.status == 0, "\(toPostgres.stderr)")
        #expect(toPostgres.stdout.contains("migrated and verified: 8 keys, 9 runs,") && toPostgres.stdout.contains("9 audit entries (hash chain intact)"), "\(toPostgres.stdout)")
        #expect(try RotorProcess.run(["history", "--verify", "--state", url], in: scratch.url).stdout.contains("9 entries, hash chain verified"))
        let status = try RotorProcess.run(["status", "--state", url], in: scratch.url)
        #expect(status.status == 0, "every target in sync with the migrated state: \(status.stdout)")
        // Into a store that is not empty: refused, nothing changed.
        let again = try RotorProcess.run(["state", "migrate", "--from", "sqlite:.rotor/state.db", "--to", url], in: scratch.url)
        #expect(again.status == 1 && again.stderr.contains("the destination already holds rotor state"))
        // Rotate on PostgreSQL, then back to a new SQLite file.
        #expect(try RotorProcess.run(["rotate", "key-2", "--state", url], in: scratch.url).status == 0)
        let back = try RotorProcess.run(["state", "migrate", "--from", url, "--to", "sqlite:back/state.db"], in: scratch.url)
        #expect(back.status == 0 && back.stdout.contains("10 runs"), "\(back.stdout)\(back.stderr)")
        #expect(try RotorProcess.run(["status", "--state", "sqlite:back/state.db"], in: scratch.url).status == 0)
    }
}
