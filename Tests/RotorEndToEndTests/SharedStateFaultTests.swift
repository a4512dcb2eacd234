import Foundation
import Testing
@testable import RotorCore

/// The PostgreSQL state against peers and a server that misbehave (issue 23): a runner
/// frozen at the worst moment, sessions the server ends mid-run, answers lost after the
/// write, a holder that will never come back, rows rotor did not write. The built binary,
/// real processes, the test server scripts/test starts.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES"] != nil, "needs ROTOR_TEST_POSTGRES"))
struct SharedStateFaultTests {
    /// Runner A stops (SIGSTOP) between reading the audit log's last entry and writing its
    /// own; runner B rotates another key — writing its audit entries — and finishes
    /// normally while A is frozen (before: A held `LOCK TABLE audit` and B gave up after
    /// lock_timeout). A, continued, appends after B's entries and the chain is intact.
    @Test(.timeLimit(.minutes(2)))
    func aRunnerStoppedInsideTheAuditAppendBlocksNoOne() throws {
        let (scratch, url) = try SharedStateTests.scene()
        try scratch.startStateStore(url)
        let runnerA = try BackgroundRotor(["rotate", "key-1", "--state", url], in: scratch.url, environment: ["ROTOR_TEST_STOP_AT": "audit-append"])
        try Self.waitUntilStopped(runnerA.pid)

        let runnerB = try RotorProcess.run(["rotate", "key-2", "--state", url], in: scratch.url)
        #expect(runnerB.status == 0, "B proceeds while A is frozen in its audit append: \(runnerB.stdout)\(runnerB.stderr)")

        kill(runnerA.pid, SIGCONT)
        let (aStatus, aSaid) = runnerA.finish()
        #expect(aStatus == 0, "\(aSaid)")
        let store = try #require(try PostgresStateStore.open(url: url))
        let rotations = try store.auditLog().filter { $0.action == "rotate" }
        #expect(rotations.map(\.key) == ["key-2", "key-1"], "B's entry first, A's chained after it: \(rotations.map(\.key))")
        let verified = try RotorProcess.run(["history", "--verify", "--state", url], in: scratch.url)
        #expect(verified.status == 0 && verified.stdout.contains("hash chain verified"), "\(verified.stdout)")
    }

    /// The server ends rotor's session twice during a rotation (each consumer's reload runs
    /// `pg_terminate_backend` on every session named rotor): the run reconnects, completes,
    /// and its journal holds each step exactly once — the same steps as an undisturbed run.
    @Test(.timeLimit(.minutes(2)))
    func sessionsEndedByTheServerMidRunAreReplacedAndEveryStepHappensOnce() throws {
        let terminate = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'rotor'"
        let (disturbed, url) = try Self.oneKeyScene(reload: ["psql", "-X", "-q", "-d", "URL", "-c", terminate])
        let result = try RotorProcess.run(["rotate", "api-key", "--state", url, "--parallel", "1"], in: disturbed.url)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("the state database ended rotor's session") && result.stderr.contains("reconnected after"), "\(result.stderr)")
        try Self.expectEveryStepOnce(url: url, scratch: disturbed)
    }

    /// The write commits and then its answer is lost (the session ends right after the
    /// journal append, the run record and the audit append): repeated after the reconnect,
    /// none of them is written twice.
    @Test(.timeLimit(.minutes(2)))
    func aWriteWhoseAnswerWasLostIsNotRepeated() throws {
        let (scratch, url) = try Self.oneKeyScene(reload: ["true"])
        let result = try RotorProcess.run(["rotate", "api-key", "--state", url, "--parallel", "1"], in: scratch.url,
                                          environment: ["ROTOR_TEST_LOSE_ANSWER": "journal,run,audit"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.components(separatedBy: "reconnected after").count == 4, "three lost answers, three reconnections: \(result.stderr)")
        try Self.expectEveryStepOnce(url: url, scratch: scratch)
    }

    /// A runner on another host (a UTS namespace named other-host) is frozen mid-rotation
    /// with a long lease. `rotor unlock` frees the key at once: audited, the run recovered
    /// (rolled back) by this host; the frozen runner, continued, is refused on its next
    /// write and touches nothing more; the key rotates normally afterwards.
    @Test(.enabled(if: getuid() == 0, "names a host of its own (unshare --uts)"), .timeLimit(.minutes(2)))
    func unlockFencesOutAFrozenHolderOnAnotherHost() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        let url = try Self.freshDatabase()
        try scratch.startStateStore(url)
        let runner = try BackgroundRotor(["rotate", "api-key", "--state", url, "--parallel", "1"], in: scratch.url,
                                         launcher: ["unshare", "--uts", "sh", "-c", "hostname other-host && exec \"$0\" \"$@\""])
        runner.waitUntilChanged(scratch.url.appendingPathComponent("deploy/first.env"), from: "API_KEY=initial\n")
        try Self.waitUntilDescendant(named: "sleep", of: runner.pid)
        kill(runner.pid, SIGSTOP)

        // Without unlock, the lease (15 minutes) keeps everyone out.
        let blocked = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(!blocked.stdout.contains("rolled back"), "\(blocked.stdout)\(blocked.stderr)")
        let unlocked = try RotorProcess.run(["unlock", "api-key", "--state", url], in: scratch.url)
        #expect(unlocked.status == 0, "\(unlocked.stdout)\(unlocked.stderr)")
        #expect(unlocked.stdout.contains("unlocked 'api-key'") && unlocked.stdout.contains("on other-host) is fenced out")
                && unlocked.stdout.contains("'rotor recover' finishes or undoes it"), "\(unlocked.stdout)")
        let again = try RotorProcess.run(["unlock", "api-key", "--state", url], in: scratch.url)
        #expect(again.status == 0 && again.stdout.contains("was already unlocked"), "no second unlock on record: \(again.stdout)")
        #expect(try RotorProcess.run(["state", "check", "--state", url], in: scratch.url).stdout.contains("freed by 'rotor unlock'"))
        let recovered = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(recovered.status == 0 && recovered.stdout.contains("rolled back"), "\(recovered.stdout)\(recovered.stderr)")

        kill(runner.pid, SIGCONT)
        let (status, said) = runner.finish()
        #expect(status == 3, "\(said)")
        #expect(said.contains("lost its lease on 'api-key' to another runner"), "\(said)")
        for file in ["deploy/first.env", "deploy/second.env"] {
            #expect(String(decoding: try scratch.bytes(file), as: UTF8.self) == "API_KEY=initial\n", "\(file) as before the frozen run")
        }
        let store = try #require(try PostgresStateStore.open(url: url))
        #expect(try !store.auditLog().contains { $0.host == "other-host" }, "the fenced-out runner wrote nothing, not even to the audit log")
        let unlock = try #require(try store.auditLog().first { $0.action == "unlock" })
        #expect(unlock.key == "api-key" && unlock.data["holder_host"] == "other-host" && unlock.detail.contains("a person freed the lock"))
        #expect(try store.auditLog().filter { $0.action == "unlock" }.count == 1)
        #expect(try RotorProcess.run(["history", "--verify", "--state", url], in: scratch.url).status == 0)
        #expect(try RotorProcess.run(["rotate", "api-key", "--state", url], in: scratch.url).status == 0)
    }

    /// A holder on this host that is alive — even stopped — is not unlocked: nothing
    /// changes, nothing is audited, and it finishes its rotation once continued. A key no
    /// one holds is "not locked", exit 0.
    @Test(.timeLimit(.minutes(2)))
    func unlockRefusesAHolderAliveOnThisHost() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        let url = try Self.freshDatabase()
        try scratch.startStateStore(url)
        #expect(try RotorProcess.run(["unlock", "api-key", "--state", url], in: scratch.url).stdout.contains("'api-key' is not locked; nothing to do"))
        let typo = try RotorProcess.run(["unlock", "api-kye", "--state", url], in: scratch.url)
        #expect(typo.status == 64 && typo.stderr.contains("unknown key 'api-kye': it is neither configured nor locked"), "\(typo.stderr)")
        let runner = try BackgroundRotor(["rotate", "api-key", "--state", url, "--parallel", "1"], in: scratch.url)
        try Self.waitUntilDescendant(named: "sleep", of: runner.pid)
        kill(runner.pid, SIGSTOP)
        let store = try #require(try PostgresStateStore.open(url: url))
        let before = try store.lockHolder(key: "api-key")
        let refused = try RotorProcess.run(["unlock", "api-key", "--state", url], in: scratch.url)
        kill(runner.pid, SIGCONT)
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("pid \(runner.pid) on \(ProcessInfo.processInfo.hostName)), which is still running on this host")
                && refused.stderr.contains("kill -TERM \(runner.pid)") && refused.stderr.contains("Nothing was changed"), "\(refused.stderr)")
        #expect(try store.lockHolder(key: "api-key") == before)
        let (status, said) = runner.finish()
        #expect(status == 0, "\(said)")
        #expect(try store.auditLog().map(\.action) == ["rotate"])
    }

    /// `recover` reads the unfinished runs, then waits for a run's lock (here: a session
    /// holds the key's advisory lock); meanwhile the run finishes on its own. Recovery must
    /// leave it alone — found by an attacker: it "rolled forward" the finished run again,
    /// and after a newer rotation put a deleted generation back as current.
    @Test(.timeLimit(.minutes(2)))
    func aRunThatFinishedWhileRecoveryWaitedIsNotRecoveredAgain() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        let url = try Self.freshDatabase()
        try scratch.startStateStore(url)
        let rotation = try BackgroundRotor(["rotate", "api-key", "--state", url, "--parallel", "1"], in: scratch.url)
        try Self.waitUntilDescendant(named: "sleep", of: rotation.pid)

        let holder = try PostgresConnection(url: url), held = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let thread = Thread {
            _ = try? holder.transaction { db in
                try db.execute("SELECT pg_advisory_xact_lock(hashtext('api-key'))")
                held.signal()
                release.wait()
            }
            held.signal()
        }
        thread.start()
        held.wait()
        let recovery = try BackgroundRotor(["recover", "--state", url], in: scratch.url, environment: ["ROTOR_TEST_LEASE_SECONDS": "900"])
        let observer = try PostgresConnection(url: url)
        let deadline = Date().addingTimeInterval(30)
        while try observer.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = 'rotor' AND wait_event_type = 'Lock'").isEmpty {
            guard Date() < deadline else { Issue.record("recovery never waited for the key's lock"); break }
            usleep(10_000)
        }
        let (rotated, said) = rotation.finish()
        #expect(rotated == 0, "\(said)")
        release.signal()
        held.wait()
        let (recovered, recoverySaid) = recovery.finish()
        #expect(recovered == 0, "\(recoverySaid)")
        #expect(!recoverySaid.contains("rolled forward") && !recoverySaid.contains("rolled back"), "\(recoverySaid)")
        let store = try #require(try PostgresStateStore.open(url: url))
        #expect(try store.auditLog().map(\.action) == ["rotate"], "no recovery of a finished run on record")
        #expect(try store.journal(of: try store.runs()[0].id).allSatisfy { $0.step != .recover })
    }

    /// A runner named like this host but in another pid namespace (another machine or
    /// container of the same name, here `unshare --pid`) sees no process with the holder's
    /// pid: it must not take the live lease over (found by an attacker: it did, and
    /// deleted the generation the holder's targets had just received). It waits for the
    /// lease like any runner.
    @Test(.enabled(if: getuid() == 0, "unshare --pid"), .timeLimit(.minutes(2)))
    func aHostOfTheSameNameDoesNotTakeALiveLeaseOver() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        let url = try Self.freshDatabase()
        try scratch.startStateStore(url)
        let holder = try BackgroundRotor(["rotate", "api-key", "--state", url, "--parallel", "1"], in: scratch.url)
        try Self.waitUntilDescendant(named: "sleep", of: holder.pid)
        let (twin, twinSaid) = try BackgroundRotor(["rotate", "api-key", "--state", url], in: scratch.url,
                                                   launcher: ["unshare", "--pid", "--fork", "--mount-proc"]).finish()
        // It waits for the lease (5 s): the holder, done by then, releases it and the twin
        // rotates after it — or it is told who holds the key. Never a takeover.
        #expect(twin == 0 || twinSaid.contains("is being rotated by run"), "\(twinSaid)")
        #expect(!twinSaid.contains("rolled back") && !twinSaid.contains("rolled forward"), "\(twinSaid)")
        let (status, said) = holder.finish()
        #expect(status == 0, "the holder finished undisturbed: \(said)")
        let store = try #require(try PostgresStateStore.open(url: url))
        let actions = try store.auditLog().map(\.action)
        #expect(!actions.contains("recover"), "\(actions)")
        let values = try ["first", "second"].map { try EnvFileFormat(variable: "API_KEY").read(Array(scratch.bytes("deploy/\($0).env"))).get() }
        let current = try store.keyStates()["api-key"]?.current?.fingerprint
        #expect(values[0] == values[1] && Fingerprint.of(values[0]) == current, "both targets on the current generation")
    }

    /// A run interrupted on another host (a UTS namespace named other-host, killed -9 in
    /// its reload, its 1 s lease expired) wrote files there: this host neither recovers it
    /// nor rotates the key beside it (found by an operator: it "rolled back" without the
    /// files and deleted the generation they held) — until a person says the host is gone
    /// with `rotor unlock`.
    @Test(.enabled(if: getuid() == 0, "names a host of its own (unshare --uts)"), .timeLimit(.minutes(2)))
    func aRunInterruptedOnAnotherHostIsLeftToThatHost() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        let url = try Self.freshDatabase()
        try scratch.startStateStore(url)
        try Self.rotationKilledInItsReload(in: scratch, state: url, environment: ["ROTOR_TEST_LEASE_SECONDS": "1"],
                                           launcher: ["unshare", "--uts", "sh", "-c", "hostname other-host && exec \"$0\" \"$@\""])
        usleep(1_500_000)  // past its 1 s lease
        let written = try scratch.bytes("deploy/first.env")

        let recovered = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(recovered.status == 3, "\(recovered.stdout)\(recovered.stderr)")
        #expect(recovered.stdout.contains("was interrupted on other-host, which holds the backups") && recovered.stdout.contains("'rotor unlock api-key'"), "\(recovered.stdout)")
        let rotated = try RotorProcess.run(["rotate", "api-key", "--state", url], in: scratch.url)
        #expect(rotated.status == 3 && rotated.stdout.contains("(started on other-host) is unfinished: nothing was done"), "\(rotated.stdout)\(rotated.stderr)")
        #expect(try scratch.bytes("deploy/first.env") == written, "nothing touched here")
        // The refused rotation left the run's lease in place (found by an attacker: its
        // takeover and release erased it, and the next recover here rolled the run back).
        let again = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(again.status == 3 && again.stdout.contains("was interrupted on other-host"), "\(again.stdout)\(again.stderr)")

        #expect(try RotorProcess.run(["unlock", "api-key", "--state", url], in: scratch.url).status == 0)
        let afterUnlock = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(afterUnlock.status == 0 && afterUnlock.stdout.contains("rolled back"), "\(afterUnlock.stdout)\(afterUnlock.stderr)")
        #expect(try RotorProcess.run(["rotate", "api-key", "--state", url], in: scratch.url).status == 0)
    }

    /// The same, from a container that merely has this host's name (another pid namespace,
    /// found by an attacker): the run is left to it too, as to another machine.
    @Test(.enabled(if: getuid() == 0, "unshare --pid"), .timeLimit(.minutes(2)))
    func aRunInterruptedInAContainerOfTheSameNameIsLeftToIt() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        let url = try Self.freshDatabase()
        try scratch.startStateStore(url)
        // --kill-child: the rotor inside goes with the unshare it is killed through.
        try Self.rotationKilledInItsReload(in: scratch, state: url, environment: ["ROTOR_TEST_LEASE_SECONDS": "1"],
                                           launcher: ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"])
        usleep(1_500_000)  // past its 1 s lease
        let recovered = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(recovered.status == 3, "\(recovered.stdout)\(recovered.stderr)")
        #expect(recovered.stdout.contains("(another machine or container of this name)"), "\(recovered.stdout)")
        // Nothing else touches the key meanwhile — an adopt took the lease over and erased it
        // on release, and the next recover rolled the run back (found by an attacker).
        let adopted = try RotorProcess.run(["adopt", "api-key", "--state", url], in: scratch.url)
        #expect(adopted.status == 3 && adopted.stdout.contains("is unfinished: nothing was done"), "\(adopted.stdout)\(adopted.stderr)")
        let again = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(again.status == 3 && again.stdout.contains("(another machine or container of this name)"), "\(again.stdout)\(again.stderr)")
    }

    /// A holder killed with -9 leaves its lock; its pid then belongs to another process (a
    /// `sleep`). That process is not the holder (found by an operator: unlock refused,
    /// advising to kill the sleep): the holder is gone, so `unlock` frees the lock and
    /// `recover` takes it over by itself.
    @Test(.timeLimit(.minutes(2)))
    func aReusedPidIsNotTakenForTheHolder() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        let url = try Self.freshDatabase()
        try scratch.startStateStore(url)
        try Self.rotationKilledInItsReload(in: scratch, state: url)
        let stranger = Process()
        stranger.executableURL = URL(fileURLWithPath: "/bin/sleep")
        stranger.arguments = ["60"]
        try stranger.run()
        defer { stranger.terminate() }
        let database = try PostgresConnection(url: url)
        try database.execute("UPDATE locks SET pid = $1", [String(stranger.processIdentifier)])

        let unlocked = try RotorProcess.run(["unlock", "api-key", "--state", url], in: scratch.url)
        #expect(unlocked.status == 0 && unlocked.stdout.contains("unlocked 'api-key'"), "\(unlocked.stdout)\(unlocked.stderr)")
        #expect(!unlocked.stderr.contains("kill -TERM"))
        let recovered = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(recovered.status == 0 && recovered.stdout.contains("rolled back"), "\(recovered.stdout)\(recovered.stderr)")
        #expect(stranger.isRunning, "the stranger was left alone")
    }

    /// Rows rotor did not write (a NULL where its schema has none, an outcome it never
    /// writes) stop rotor with the column named, instead of being read as "" or 0.
    @Test func rowsRotorDidNotWriteAreRefusedByName() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        let url = try Self.freshDatabase()
        try scratch.startStateStore(url)
        #expect(try RotorProcess.run(["rotate", "api-key", "--state", url], in: scratch.url).status == 0)
        let database = try PostgresConnection(url: url)
        try database.execute("UPDATE runs SET outcome = 'mostly-fine'")
        let outcome = try RotorProcess.run(["state", "check", "--state", url], in: scratch.url)
        #expect(outcome.status == 1 && outcome.stderr.contains("the database returned 'mostly-fine' for runs.outcome"), "\(outcome.stderr)")
        #expect(outcome.stdout.contains("server: PostgreSQL") && outcome.stdout.contains("waits: lock_timeout="), "how it was reached, still said: \(outcome.stdout)")
        try database.execute("UPDATE runs SET outcome = 'completed'")
        try database.execute("ALTER TABLE runs ALTER COLUMN host DROP NOT NULL")
        try database.execute("UPDATE runs SET host = NULL")
        let host = try RotorProcess.run(["recover", "--state", url], in: scratch.url)
        #expect(host.status != 0 && host.stderr.contains("the database returned NULL for runs.host"), "\(host.stdout)\(host.stderr)")
        try database.execute("UPDATE runs SET host = 'vm'")

        // Lock rows (found by an attacker): pid -1 made unlock advise `kill -TERM -1`, and
        // never free it; an expiry of 1e300 crashed state check, and unlock after breaking it.
        try database.execute("INSERT INTO locks VALUES ('api-key', $1, -1, 'planted', 1e300, 7)", [ProcessInfo.processInfo.hostName])
        for expiry in ["1e300", "-1e300", "extract(epoch from now()) + 600"] {
            try database.execute("UPDATE locks SET expires = \(expiry)")
            for command in [["unlock", "api-key"], ["state", "check"], ["rotate", "api-key"]] {
                let result = try RotorProcess.run(command + ["--state", url], in: scratch.url)
                #expect(result.status == 1 || result.status == 3, "\(command) \(expiry): \(result.stdout)\(result.stderr)")
                #expect(result.stdout.contains("which rotor never writes: the locks table was edited") || result.stderr.contains("which rotor never writes: the locks table was edited"),
                        "\(command) \(expiry): \(result.stdout)\(result.stderr)")
                #expect(!(result.stdout + result.stderr).contains("kill -TERM"))
            }
            try database.execute("UPDATE locks SET pid = 4194304 + 1")  // no such process: only the expiry is wrong
            let unlocked = try RotorProcess.run(["unlock", "api-key", "--state", url], in: scratch.url)
            if expiry.hasPrefix("extract") {
                #expect(unlocked.status == 0, "a sane row is unlocked: \(unlocked.stdout)\(unlocked.stderr)")
                #expect(!unlocked.stdout.contains("its run is unfinished"), "the planted lease names no run: \(unlocked.stdout)")
            } else {
                #expect(unlocked.status == 1 && unlocked.stderr.contains("expires at"), "\(unlocked.stdout)\(unlocked.stderr)")
                #expect(try database.execute("SELECT token FROM locks").first?.first == "7", "nothing broken")
            }
            try database.execute("UPDATE locks SET pid = -1, token = 7")
        }
        #expect(try database.execute("SELECT count(*) FROM audit WHERE entry LIKE '%\"action\":\"unlock\"%'").first?.first == "1", "one unlock audited")
        // A holder's name with a line break cannot forge a line of rotor's output (found by an attacker).
        try database.execute("UPDATE locks SET pid = 4194305, host = E'evil\\nFAKE: all good', expires = extract(epoch from now()) + 600")
        let forged = try RotorProcess.run(["rotate", "api-key", "--state", url], in: scratch.url)
        #expect(forged.status == 1 && forged.stdout.contains("is being rotated by run planted (pid 4194305 on evil\\nFAKE: all good)"), "\(forged.stdout)\(forged.stderr)")
        #expect(!(forged.stdout + forged.stderr).contains("\nFAKE"))
    }

    /// `rotor state check` on a server off this machine: TLS with rotor's rule, the
    /// certificate the server showed (its SHA-256 as openssl computes it), the bounded waits;
    /// on this machine, libpq's default.
    @Test(.enabled(if: getuid() == 0, "creates network namespaces"), .timeLimit(.minutes(2)))
    func stateCheckSaysWhichTLSAndCertificateWereUsed() throws {
        let host = try IsolatedHost()
        let exports = try host.startPostgres(tls: true)
        // Stopped afterwards: a server left running outlived every test run (seen in CI).
        defer { _ = try? SharedStateTests.server(["stop", exports["ROTOR_TEST_POSTGRES_DIR"] ?? "/nonexistent"]) }
        let base = try #require(exports["ROTOR_TEST_POSTGRES"]), authority = try #require(exports["ROTOR_TEST_POSTGRES_CA"])
        let scratch = try Scratch()
        let url = base + "?sslrootcert=" + authority
        try scratch.startStateStore(url)
        let check = try RotorProcess.run(["state", "check", "--state", url], in: scratch.url)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("tls: TLSv1.3") && check.stdout.contains("sslmode=verify-full (rotor's rule for a server off this machine)"), "\(check.stdout)")
        #expect(check.stdout.contains("waits: lock_timeout=10s, statement_timeout=1min, idle_in_transaction_session_timeout=1min"), "\(check.stdout)")
        let serverCertificate = try #require(exports["ROTOR_TEST_POSTGRES_DIR"]) + "/tls/server.pem"
        let fingerprint = try RotorProcess.spawn(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", serverCertificate]).stdout
        let hex = fingerprint.split(separator: "=").last.map { $0.replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
        #expect(hex.map { check.stdout.contains("sha256 \($0)") } == true, "\(check.stdout) vs \(fingerprint)")

        let local = try RotorProcess.run(["state", "check", "--state", try Self.freshDatabase()], in: scratch.url)
        #expect(local.status == 0 && local.stdout.contains("sslmode=prefer (libpq's default; the server is on this machine)"), "\(local.stdout)\(local.stderr)")
    }

    // MARK: Scenes

    /// A new, empty database on the test server.
    static func freshDatabase() throws -> String {
        let base = try #require(ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES"])
        let name = "rotor_fault_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        try PostgresConnection(url: base).execute("CREATE DATABASE \(name)")
        return String(base[..<base.lastIndex(of: "/")!]) + "/" + name
    }

    /// One key, two consumers whose reload is `reload` ("URL" replaced by the database's),
    /// and a fresh database.
    static func oneKeyScene(reload: [String]) throws -> (Scratch, String) {
        let url = try freshDatabase()
        let command = "[" + reload.map { "\"\($0 == "URL" ? url : $0)\"" }.joined(separator: ", ") + "]"
        let scratch = try SharedStateTests.slowReloadScene(reloads: (command, command))
        try scratch.startStateStore(url)
        return (scratch, url)
    }

    /// The key's one run completed with the same journal steps, in the same order, as the
    /// same rotation undisturbed (run here on SQLite), numbered without a gap; one audit entry.
    static func expectEveryStepOnce(url: String, scratch: Scratch, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let store = try #require(try PostgresStateStore.open(url: url))
        let runs = try store.runs()
        try #require(runs.count == 1, "one run: \(runs)", sourceLocation: sourceLocation)
        #expect(runs[0].outcome == .completed, sourceLocation: sourceLocation)
        let journal = try store.journal(of: runs[0].id)
        #expect(journal.map(\.sequence) == Array(1...journal.count), "numbered without a gap or a repeat", sourceLocation: sourceLocation)
        #expect(try store.auditLog().map(\.action) == ["rotate"], "one audit entry", sourceLocation: sourceLocation)

        let (control, _) = try oneKeyScene(reload: ["true"])
        #expect(try RotorProcess.run(["rotate", "api-key", "--parallel", "1"], in: control.url).status == 0, sourceLocation: sourceLocation)
        let reference = try #require(try StateStoreURL.open(nil, workingDirectory: control.url.path)?.store)
        let steps = { (entries: [JournalEntry]) in entries.map { "\($0.step.rawValue).\($0.phase.rawValue) \($0.consumer ?? "-") \($0.target ?? "-")" } }
        let expected = steps(try reference.journal(of: try reference.runs()[0].id))
        #expect(steps(journal) == expected, "\(steps(journal).joined(separator: "\n"))\n-- undisturbed:\n\(expected.joined(separator: "\n"))", sourceLocation: sourceLocation)
        for file in ["deploy/first.env", "deploy/second.env"] {
            #expect(String(decoding: try scratch.bytes(file), as: UTF8.self) != "API_KEY=initial\n", "\(file) rotated", sourceLocation: sourceLocation)
        }
    }

    /// Rotates api-key of a `SharedStateTests.slowReloadScene` and kills the rotor with -9
    /// in its first consumer's reload, the new value written there: what a crash, a power
    /// loss or a host gone for good leaves. `state`: a `--state` URL; `launcher` as for
    /// `BackgroundRotor`.
    static func rotationKilledInItsReload(in scratch: Scratch, state: String? = nil, environment: [String: String] = [:],
                                          launcher: [String] = []) throws {
        let rotation = try BackgroundRotor(["rotate", "api-key", "--parallel", "1"] + (state.map { ["--state", $0] } ?? []), in: scratch.url,
                                           environment: environment, launcher: launcher)
        rotation.waitUntilChanged(scratch.url.appendingPathComponent("deploy/first.env"), from: "API_KEY=initial\n")
        try waitUntilDescendant(named: "sleep", of: rotation.pid)
        kill(rotation.pid, SIGKILL)
        _ = rotation.finish()
    }

    static func waitUntilStopped(_ pid: Int32, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
               stat[stat.index(close, offsetBy: 2)] == "T" { return }
            usleep(10_000)
        }
        Issue.record("process \(pid) never stopped itself", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    static func waitUntilDescendant(named name: String, of pid: Int32, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let deadline = Date().addingTimeInterval(60)
        while !SharedStateTests.hasDescendant(named: name, of: pid) {
            guard Date() < deadline else {
                Issue.record("\(pid) never ran \(name)", sourceLocation: sourceLocation)
                throw CancellationError()
            }
            usleep(5_000)
        }
    }
}
