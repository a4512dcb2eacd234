import Foundation
import Testing
@testable import RotorCore

/// The `postgres` provider against the real server scripts/test starts (ROTOR_TEST_POSTGRES,
/// with `log_statement = all` and SCRAM logins for members of `rotor_scram`): two roles take
/// turns, consumers' health checks log in with what their env file holds (`Peers/pg_login.sh`).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES"] != nil, "needs ROTOR_TEST_POSTGRES"))
struct PostgresProviderTests {
    /// A database of its own with two roles (`blue_…`, `green_…`) that are members of one
    /// group owning the table `orders`, and a consumer whose env file holds `blue_…` and its
    /// password, adopted.
    final class Scene {
        let scratch: Scratch
        let admin: PostgresConnection
        let url: String, host: String, port: String, database: String
        let blue: String, green: String, group: String
        /// Every password the scene's roles had (the first, set by the scene, and rotor's), and
        /// its own admin login's.
        var passwords: [String] = []
        /// The consumer's only target is `DATABASE_URL` (a template holding `{id}` and `{secret}`).
        let urlOnly: Bool
        /// The admin login's name and password, when the scene made one (given as PGPASSWORD).
        var adminLogin: String?, adminPassword: String?
        /// The server's folder (its log is `server.log` there).
        let serverDirectory: String
        /// Given to every rotor the scene runs.
        let environment: [String: String]

        /// `extra`: more consumers (manifest lines; `{login}` is `Peers/pg_login.sh`, `{server}`
        /// the scene's host, port and database as its arguments); `files`: more files, `{blue}` and
        /// `{password}` in them filled. `ownAdmin`: a CREATEROLE login that must give its
        /// password (with pg_signal_backend when `signalGrant`) instead of the superuser;
        /// `passwordRoles`: the roles must give a password (else the server trusts them).
        init(key: String = "every: 30d, grace: 0s", consumers extra: String = "", files: [String: String] = [:], adopt: Bool = true,
             urlOnly: Bool = false, ownAdmin: Bool = false, signalGrant: Bool = true, passwordRoles: Bool = true,
             server: [String: String] = ProcessInfo.processInfo.environment, environment: [String: String] = [:]) throws {
            self.urlOnly = urlOnly
            self.environment = environment
            let base = try #require(server["ROTOR_TEST_POSTGRES"])
            serverDirectory = try #require(server["ROTOR_TEST_POSTGRES_DIR"])
            let suffix = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(10)
            (blue, green, group, database) = ("blue_\(suffix)", "green_\(suffix)", "app_\(suffix)", "rotor_pgp_\(suffix)")
            let server = try #require(URL(string: base))
            (host, port) = (try #require(server.host), String(try #require(server.port)))
            try PostgresConnection(url: base).execute("CREATE DATABASE \(database)")
            url = String(base[..<base.lastIndex(of: "/")!]) + "/" + database
            admin = try PostgresConnection(url: url)
            let first = "initial" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
            passwords.append(first)
            // The scene's own password travels as a verifier too: the server log must hold no password.
            try admin.execute("CREATE ROLE \(group) NOLOGIN")
            let scram = passwordRoles ? "rotor_scram, " : ""
            try admin.execute("CREATE ROLE \(blue) LOGIN IN ROLE \(scram)\(group) PASSWORD '\(ScramVerifier.make(password: first))'")
            try admin.execute("CREATE ROLE \(green) LOGIN IN ROLE \(scram)\(group)")
            var policyURL = url
            if ownAdmin {
                let password = "admin" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
                (adminLogin, adminPassword, passwords) = ("admin_\(suffix)", password, passwords + [password])
                try admin.execute("CREATE ROLE admin_\(suffix) LOGIN CREATEROLE IN ROLE rotor_scram PASSWORD '\(ScramVerifier.make(password: password))'")
                if signalGrant { try admin.execute("GRANT pg_signal_backend TO admin_\(suffix)") }
                policyURL = url.replacingOccurrences(of: "://rotor@", with: "://admin_\(suffix)@")
            }
            try admin.execute("CREATE TABLE orders (id integer)")
            // Every statement's duration is logged too: rotor must keep its own out of that as well.
            try admin.execute("ALTER DATABASE \(database) SET log_min_duration_statement = 0")
            try admin.execute("ALTER TABLE orders OWNER TO \(group)")
            scratch = try Scratch()
            try scratch.write("policies/db.yaml", """
                kind: RotationPolicy
                providers:
                  app-db:
                    type: postgres
                    url: \(policyURL)
                    roles: [\(blue), \(green)]
                keys:
                  app-db: { provider: app-db, \(key) }
                """)
            let login = RotationFixture.peers.appendingPathComponent("pg_login.sh").path
            let targets = urlOnly ? """
                      - env_file: ../deploy/api.env
                        var: DATABASE_URL
                        value: "postgres://{id}:{secret}@\(host):\(port)/\(database)"
                """ : """
                      - env_file: ../deploy/api.env
                        var: DB_USER
                        value: "{id}"
                      - env_file: ../deploy/api.env
                        var: DB_PASSWORD
                """
            try scratch.write("consumers/api.yaml", """
                kind: ConsumerManifest
                consumers:
                  api:
                    uses: app-db
                    targets:
                \(targets)
                    health: { exec: [\(login), ../deploy/api.env, \(host), \(port), \(database)] }
                \(extra.replacingOccurrences(of: "{login}", with: login).replacingOccurrences(of: "{server}", with: "\(host), \(port), \(database)"))
                """)
            try scratch.write("deploy/api.env", urlOnly ? "DATABASE_URL=postgres://\(blue):\(first)@\(host):\(port)/\(database)\n"
                                                         : "DB_USER=\(blue)\nDB_PASSWORD=\(first)\n")
            for (path, text) in files {
                try scratch.write(path, text.replacingOccurrences(of: "{blue}", with: blue).replacingOccurrences(of: "{password}", with: first))
            }
            try scratch.startStateStore()
            guard adopt else { return }
            let adopted = try rotor(["adopt", "app-db"])
            #expect(adopted.status == 0, "\(adopted.stdout)\(adopted.stderr)")
        }

        /// rotor in the scene's folder (with PGPASSWORD when the scene has its own admin login).
        func rotor(_ arguments: [String], environment extra: [String: String] = [:], unset: [String] = []) throws -> RotorProcess.Result {
            let admin = adminPassword.map { ["PGPASSWORD": $0] } ?? [:]
            var given = admin.merging(environment) { $1 }.merging(extra) { $1 }
            unset.forEach { given.removeValue(forKey: $0) }
            return try RotorProcess.run(arguments, in: scratch.url, environment: given, unset: unset)
        }

        /// A session of `user` that stays open (a consumer holding a connection), once the
        /// server lists it.
        func openSession(_ user: String, _ password: String) throws -> Process {
            let session = psql(user, password, "SELECT pg_sleep(120)")
            try session.run()
            for _ in 0..<100 where try sessions(of: user) == 0 { Thread.sleep(forTimeInterval: 0.05) }
            #expect(try sessions(of: user) == 1, "\(user)'s session is open")
            return session
        }

        func sessions(of user: String) throws -> Int {
            try admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", [user]).first?.first.flatMap { $0.flatMap(Int.init) } ?? 0
        }

        /// What the consumer's env file holds now (its password added to `passwords`).
        func held() throws -> (user: String, password: String) {
            let text = String(decoding: try scratch.bytes("deploy/api.env"), as: UTF8.self)
            var user = (try? EnvFileFormat(variable: "DB_USER").read(Array(text.utf8)).get()) ?? ""
            var password = (try? EnvFileFormat(variable: "DB_PASSWORD").read(Array(text.utf8)).get()) ?? ""
            if urlOnly, let url = URLComponents(string: try EnvFileFormat(variable: "DATABASE_URL").read(Array(text.utf8)).get()) {
                (user, password) = (url.user ?? "", url.password ?? "")
            }
            if !passwords.contains(password) { passwords.append(password) }
            return (user, password)
        }

        /// A login with psql, the password through its environment.
        func logsIn(_ user: String, _ password: String) throws -> Bool {
            let login = psql(user, password, "SELECT 1")
            try login.run()
            login.waitUntilExit()
            return login.terminationStatus == 0
        }

        /// psql logging in as `user` to run `sql`, the password through its environment.
        private func psql(_ user: String, _ password: String, _ sql: String) -> Process {
            let psql = Process()
            psql.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            psql.arguments = ["-X", "-q", "-w", "-h", host, "-p", port, "-U", user, "-d", database, "-c", sql]
            psql.environment = ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"]
            psql.standardOutput = FileHandle.nullDevice
            psql.standardError = FileHandle.nullDevice
            return psql
        }

        /// What the server keeps for a role's password (its SCRAM verifier), nil for none.
        func verifier(_ role: String) throws -> String? {
            try admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [role]).first?.first ?? nil
        }

        /// Nothing rotor printed, stored or left, nor the server's log, holds a password.
        func checkNoPasswordLeaked(_ outputs: [String], queries: [String] = [], allowed: Set<String> = []) throws {
            let scan = LeakScan(secrets: passwords)
            scan.check(outputs + queries)
            try scan.check(folder: scratch.url, allowed: allowed.union(["deploy/api.env"]))
            let log = try String(contentsOfFile: serverDirectory + "/server.log", encoding: .utf8)
            // A superuser admin keeps rotor's ALTER ROLE out of the log; another login cannot,
            // and the verifier (never the password) is there.
            #expect(log.contains("SET LOCAL log_statement = 'none'"), "the server log holds rotor's statements (log_statement = all)")
            #expect(log.contains("ALTER ROLE \"\(green)\" PASSWORD 'SCRAM-SHA-256$") == (adminPassword != nil), "superuser admin: \(adminPassword == nil)")
            scan.check([log])
        }
    }

    /// Every query the server is running, sampled until `stop` (`pg_stat_activity.query`).
    final class QuerySampler: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: Set<String> = []
        private var stopped = false
        private let finished = DispatchSemaphore(value: 0)
        private let connection: PostgresConnection

        init(url: String) throws {
            connection = try PostgresConnection(url: url)
            Thread { [self] in
                while !lock.withLock({ stopped }) {
                    let rows = (try? connection.execute("SELECT query FROM pg_stat_activity WHERE pid <> pg_backend_pid()")) ?? []
                    lock.withLock { rows.forEach { if let query = $0.first ?? nil { seen.insert(query) } } }
                }
                finished.signal()
            }.start()
        }

        func stop() -> [String] {
            lock.withLock { stopped = true }
            finished.wait()
            return lock.withLock { Array(seen) }
        }
    }

    @Test func twoRotationsInARowMoveConsumersToTheOtherRoleAndRetireTheOne() throws {
        let scene = try Scene()
        let sampler = try QuerySampler(url: scene.url)
        let first = try scene.rotor(["rotate", "app-db"])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        let afterFirst = try scene.held()
        #expect(afterFirst.user == scene.green && afterFirst.password.count == 40)
        #expect(try scene.logsIn(afterFirst.user, afterFirst.password), "the consumer's new credentials log in")
        #expect(try !scene.logsIn(scene.blue, scene.passwords[0]), "the retired role's old password is refused")
        #expect(first.stdout.contains("old generation \(scene.blue) deleted and its key rejected"), "confirm-revoked logged in with the old password: \(first.stdout)")

        // A session of the role in use now (green), open when the next rotation retires it.
        let session = try scene.openSession(scene.green, afterFirst.password)
        defer { if session.isRunning { session.terminate() } }

        let second = try scene.rotor(["rotate", "app-db"])
        #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
        let afterSecond = try scene.held()
        #expect(afterSecond.user == scene.blue && afterSecond.password != scene.passwords[0])
        #expect(try scene.logsIn(afterSecond.user, afterSecond.password))
        #expect(try !scene.logsIn(scene.green, afterFirst.password), "green's old password is refused")
        for _ in 0..<100 where session.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!session.isRunning, "the retired role's open session was ended")
        let queries = sampler.stop()
        try scene.checkNoPasswordLeaked([first.stdout, first.stderr, second.stdout, second.stderr], queries: queries)

        let history = try scene.rotor(["history", "app-db", "--json"])
        try scene.checkNoPasswordLeaked([history.stdout, history.stderr])
    }

    /// A consumer that takes the password but not the role (its DB_USER is not a target):
    /// its health check fails on the new role, every consumer goes back to the old one, and
    /// on the server nothing changed but the unused role's password.
    @Test func aFailedHealthCheckRollsBackToTheOldRole() throws {
        let scene = try Scene(consumers: """
              worker:
                uses: app-db
                targets:
                  - env_file: ../deploy/worker.env
                    var: DB_PASSWORD
                health: { exec: [{login}, ../deploy/worker.env, {server}] }
            """, files: ["deploy/worker.env": "DB_USER={blue}\nDB_PASSWORD={password}\n"])
        let (blueBefore, greenBefore) = (try scene.verifier(scene.blue), try scene.verifier(scene.green))
        let result = try scene.rotor(["rotate", "app-db"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("rolled back"), "\(result.stdout)")
        let held = try scene.held()
        #expect(held.user == scene.blue && held.password == scene.passwords[0], "the consumer is back on the old role")
        #expect(try scene.logsIn(held.user, held.password))
        #expect(try scene.verifier(scene.blue) == blueBefore, "the role in use is untouched")
        #expect(try scene.verifier(scene.green) != greenBefore, "the unused role's password was replaced (the new generation deleted)")
        try scene.checkNoPasswordLeaked([result.stdout, result.stderr], allowed: ["deploy/worker.env"])
    }

    /// The admin login's password (PGPASSWORD) reaches libpq only: no command rotor runs
    /// inherits it, nothing rotor prints or keeps holds it. The admin here is a CREATEROLE
    /// login that must authenticate, not a superuser.
    @Test func theAdminPasswordReachesNoCommand() throws {
        let dump = RotationFixture.peers.appendingPathComponent("dump_environment.py").path
        let scene = try Scene(consumers: """
              auditor:
                uses: app-db
                targets:
                  - env_file: ../deploy/auditor.env
                    var: DB_PASSWORD
                reload: [python3, \(dump), ../environment.txt]
            """, files: ["deploy/auditor.env": "DB_PASSWORD={password}\n"], ownAdmin: true)
        let result = try scene.rotor(["rotate", "app-db", "--verbose"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let seen = String(decoding: try scene.scratch.bytes("environment.txt"), as: UTF8.self)
        #expect(seen.contains("own: {"), "the reload ran")
        _ = try scene.held()
        try scene.checkNoPasswordLeaked([result.stdout, result.stderr], allowed: ["deploy/auditor.env"])
    }

    /// An admin that may alter the roles but not end their sessions is refused at preflight,
    /// with the grant that fixes it.
    @Test func anAdminWithoutPgSignalBackendIsRefused() throws {
        let scene = try Scene(ownAdmin: true, signalGrant: false)
        let result = try scene.rotor(["rotate", "app-db"])
        #expect(result.status == 1 && result.stdout.contains("GRANT pg_signal_backend TO admin_"), "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("nothing was created or changed"))
        let missing = try scene.rotor(["rotate", "app-db"], environment: ["PGPASSWORD": "wrong"])
        #expect(missing.status == 1 && missing.stdout.contains("give the login's password through PGPASSWORD"), "\(missing.stdout)")
    }

    /// Consumers holding only a DATABASE_URL: adopt reads the role and password through the
    /// template, the rotation moves them to the other role, and status calls them in sync.
    @Test func aConnectionURLTemplateIsAdoptedRotatedAndInSync() throws {
        let scene = try Scene(urlOnly: true)
        let result = try scene.rotor(["rotate", "app-db"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let held = try scene.held()
        #expect(try held.user == scene.green && scene.logsIn(held.user, held.password))
        #expect(try !scene.logsIn(scene.blue, scene.passwords[0]))
        let status = try scene.rotor(["status"])
        #expect(status.status == 0 && !status.stdout.contains("not in sync"), "\(status.stdout)\(status.stderr)")
        let sync = try scene.rotor(["sync", "app-db"])
        #expect(sync.status == 0 && !sync.stdout.contains("updated"), "an in-sync template is not rewritten: \(sync.stdout)")
        try scene.checkNoPasswordLeaked([result.stdout, result.stderr, status.stdout, sync.stdout])
    }

    /// Never adopted: a run reads the role in use from the targets (the other one gets the
    /// new password, and the old one is named as left to do); with no target naming it, rotor
    /// refuses rather than guess the role consumers are logged in as.
    @Test func withoutAdoptTheTargetsTellTheRoleOrNothingIsGuessed() throws {
        let named = try Scene(adopt: false, urlOnly: true)
        let rotated = try named.rotor(["rotate", "app-db"])
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        #expect(try named.held().user == named.green)
        #expect(rotated.stdout.contains("role \(named.blue), which consumers used before this first rotation, still logs in"), "\(rotated.stdout)")

        let unnamed = try Scene(consumers: """
              worker:
                uses: app-db
                targets:
                  - env_file: ../deploy/worker.env
                    var: DB_PASSWORD
            """, files: ["deploy/worker.env": "DB_PASSWORD={password}\n"], adopt: false)
        try unnamed.scratch.write("deploy/api.env", "DB_USER=\nDB_PASSWORD=\(unnamed.passwords[0])\n")
        let before = try unnamed.verifier(unnamed.blue)
        let refused = try unnamed.rotor(["rotate", "app-db"])
        #expect(refused.status == 1 && refused.stdout.contains("run 'rotor adopt app-db --id ROLE' first"), "\(refused.stdout)\(refused.stderr)")
        #expect(try unnamed.verifier(unnamed.blue) == before && unnamed.verifier(unnamed.green) == nil, "nothing changed on the server")

        // A value that does not read as its template is not a role rotor can name either.
        let unreadable = try Scene(adopt: false, urlOnly: true)
        try unreadable.scratch.write("deploy/api.env", "DATABASE_URL=postgres://\(unreadable.blue):\(unreadable.passwords[0])@\(unreadable.host):\(unreadable.port)/\(unreadable.database)?application_name=worker\n")
        let guessed = try unreadable.rotor(["rotate", "app-db"])
        #expect(guessed.status == 1 && guessed.stdout.contains("a target's value does not read as its template"), "\(guessed.stdout)\(guessed.stderr)")
        #expect(try unreadable.verifier(unreadable.green) == nil, "nothing changed on the server")
    }

    /// Roles the server lets in whatever their password (pg_hba trust) are refused: rotating
    /// their passwords would protect nothing, and no login could prove the old one dead.
    @Test func rolesThatNeedNoPasswordAreRefused() throws {
        let scene = try Scene(passwordRoles: false)
        let result = try scene.rotor(["rotate", "app-db"])
        #expect(result.status == 1 && result.stdout.contains("logs in with any password"), "\(result.stdout)\(result.stderr)")
    }

    /// A database off this machine (its own network namespace) is reached only with its
    /// certificate checked: refused without the CA (and the message says what to give),
    /// rotated with it (PGSSLROOTCERT).
    @Test(.enabled(if: getuid() == 0, "creates network namespaces"))
    func aServerOffThisMachineIsReachedWithItsCertificateChecked() throws {
        let host = try IsolatedHost()
        let server = try host.startPostgres(tls: true)
        defer { _ = try? SharedStateTests.server(["stop", server["ROTOR_TEST_POSTGRES_DIR"] ?? "/nonexistent"]) }
        // No ~/.postgresql/root.crt to fall back on; the CA given (adopt logs in as the role).
        let scene = try Scene(server: server, environment: ["HOME": "/nonexistent", "PGSSLROOTCERT": try #require(server["ROTOR_TEST_POSTGRES_CA"])])
        let refused = try scene.rotor(["rotate", "app-db"], unset: ["PGSSLROOTCERT"])
        #expect(refused.status == 1 && refused.stdout.contains("rotor asks for sslmode=verify-full for a server off this machine"), "\(refused.stdout)\(refused.stderr)")
        #expect(try scene.verifier(scene.green) == nil, "nothing changed")
        let rotated = try scene.rotor(["rotate", "app-db"])
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        let held = try scene.held()
        #expect(try held.user == scene.green && scene.logsIn(held.user, held.password))
        try scene.checkNoPasswordLeaked([refused.stdout, rotated.stdout, rotated.stderr])
    }

    /// The role retired after the grace period is checked when it is altered: one made a
    /// superuser meanwhile is left alone (rotor alters only plain roles).
    @Test func aRoleMadeSuperuserSinceTheRotationIsNotAltered() throws {
        let scene = try Scene(key: "every: 30d, grace: 1h")
        #expect(try scene.rotor(["rotate", "app-db"]).status == 0)
        try scene.admin.execute("ALTER ROLE \(scene.blue) SUPERUSER")
        let before = try scene.verifier(scene.blue)
        let later = try scene.rotor(["run"], environment: ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(7200))])
        #expect(later.stdout.contains("role \(scene.blue) is a superuser now: rotor alters only plain roles (nothing was changed)"), "\(later.stdout)\(later.stderr)")
        #expect(try scene.verifier(scene.blue) == before, "its password is untouched")
    }

    /// A deletion whose sessions cannot be ended fails with nothing changed (the password
    /// stays, the session too), not half done.
    @Test func aDeletionThatCannotEndSessionsChangesNothing() throws {
        let scene = try Scene(key: "every: 30d, grace: 1h", ownAdmin: true)
        #expect(try scene.rotor(["rotate", "app-db"]).status == 0)
        let session = try scene.openSession(scene.blue, scene.passwords[0])
        defer { if session.isRunning { session.terminate() } }
        try scene.admin.execute("REVOKE pg_signal_backend FROM \(try #require(scene.adminLogin))")
        let before = try scene.verifier(scene.blue)
        let later = try scene.rotor(["run"], environment: ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(7200))])
        #expect(later.stdout.contains("ending the open sessions of \(scene.blue) failed (nothing was changed)"), "\(later.stdout)\(later.stderr)")
        #expect(try scene.verifier(scene.blue) == before && scene.sessions(of: scene.blue) == 1)
    }

    /// A CREATEROLE admin cannot alter REPLICATION roles: said at preflight.
    @Test func replicationRolesAreRefusedAtPreflight() throws {
        let scene = try Scene(ownAdmin: true)
        try scene.admin.execute("ALTER ROLE \(scene.blue) REPLICATION")
        try scene.admin.execute("ALTER ROLE \(scene.green) REPLICATION")
        let result = try scene.rotor(["rotate", "app-db"])
        #expect(result.status == 1 && result.stdout.contains("role \(scene.green) has REPLICATION"), "\(result.stdout)\(result.stderr)")
    }

    /// `delete_when_unused_for`: the old role is kept while it has sessions (a consumer not
    /// restarted yet), and retired once a run finds none and it has been unused that long
    /// since consumers moved.
    @Test func theOldRoleWaitsWhileItHasSessions() throws {
        let scene = try Scene(key: "every: 30d, grace: 1h, delete_when_unused_for: 1m")
        let session = try scene.openSession(scene.blue, scene.passwords[0])
        defer { if session.isRunning { session.terminate() } }
        let rotated = try scene.rotor(["rotate", "app-db"])
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        let blueVerifier = try scene.verifier(scene.blue)
        #expect(session.isRunning, "the rotation left blue's session alone: \(rotated.stdout)")
        let later = ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(120))]
        let waiting = try scene.rotor(["run"], environment: later)
        #expect(waiting.stdout.contains("old key \(scene.blue) still in use"), "\(waiting.stdout)\(waiting.stderr)")
        #expect(try scene.verifier(scene.blue) == blueVerifier && session.isRunning, "kept, its session open")
        // The consumer restarts: its backend ends (a killed psql leaves pg_sleep running).
        try scene.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [scene.blue])
        for _ in 0..<100 where try scene.sessions(of: scene.blue) > 0 { Thread.sleep(forTimeInterval: 0.05) }
        // 30 s after the session was seen: not unused for 1m yet (the run remembers it).
        let soon = try scene.rotor(["run"], environment: ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(150))])
        #expect(soon.stdout.contains("old key \(scene.blue) still in use"), "\(soon.stdout)\(soon.stderr)")
        let retired = try scene.rotor(["run"], environment: ["ROTOR_NOW": DateFormatting.iso8601(Date().addingTimeInterval(200))])
        #expect(retired.status == 0 && retired.stdout.contains("deleted generation \(scene.blue)"), "\(retired.stdout)\(retired.stderr)")
        #expect(try !scene.logsIn(scene.blue, scene.passwords[0]))
        #expect(try scene.logsIn(scene.green, scene.held().password))
    }

    /// `adopt` takes the role from the `{id}` target, and only one of the provider's roles.
    @Test func adoptTakesOnlyOneOfTheRoles() throws {
        let scene = try Scene()  // adopted blue from its {id} target
        let state = try scene.rotor(["status", "--json"])
        #expect(state.stdout.contains("\"\(scene.blue)\""), "\(state.stdout)")
        // No {id} target names it, and the secret does not log in as the --id given.
        try scene.scratch.write("deploy/api.env", "DB_USER=\nDB_PASSWORD=\(scene.passwords[0])\n")
        let wrong = try RotorProcess.run(["adopt", "app-db", "--id", scene.green, "--state", "sqlite:wrong.db"], in: scene.scratch.url)
        #expect(wrong.status != 0 && wrong.stdout.contains("does not log in as \(scene.green)"), "\(wrong.stdout)\(wrong.stderr)")
        try scene.scratch.write("deploy/api.env", "DB_USER=postgres\nDB_PASSWORD=\(scene.passwords[0])\n")
        let other = try RotorProcess.run(["adopt", "app-db", "--state", "sqlite:other.db"], in: scene.scratch.url)
        #expect(other.status != 0 && other.stdout.contains("'postgres' is not one of its roles"), "\(other.stdout)\(other.stderr)")
    }

    /// `--emergency --revoke-first`: the old role's password is replaced before any consumer
    /// moves; afterwards the consumers log in as the other role.
    @Test func revokeFirstRetiresTheOldRoleBeforeConsumersMove() throws {
        let scene = try Scene()
        let result = try scene.rotor(["rotate", "app-db", "--emergency", "--revoke-first", "--yes"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("old generation revoked first") && result.stdout.contains("old generation \(scene.blue) rejected"), "\(result.stdout)")
        let held = try scene.held()
        #expect(held.user == scene.green)
        #expect(try scene.logsIn(held.user, held.password))
        #expect(try !scene.logsIn(scene.blue, scene.passwords[0]))
        try scene.checkNoPasswordLeaked([result.stdout, result.stderr])
    }

    /// Roles whose grants drifted apart are refused before anything changes, the difference named.
    @Test func rolesWhoseGrantsDifferAreRefusedAtPreflight() throws {
        let scene = try Scene()
        try scene.admin.execute("CREATE TABLE invoices (id integer)")
        try scene.admin.execute("GRANT SELECT ON invoices TO \(scene.blue)")
        let (blueBefore, greenBefore) = (try scene.verifier(scene.blue), try scene.verifier(scene.green))
        let result = try scene.rotor(["rotate", "app-db"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("\(scene.blue) has 'SELECT on table invoices', \(scene.green) not"), "\(result.stdout)")
        // Row-level security and default privileges drift too.
        try scene.admin.execute("REVOKE SELECT ON invoices FROM \(scene.blue)")
        try scene.admin.execute("CREATE POLICY blue_only ON orders TO \(scene.blue) USING (true)")
        try scene.admin.execute("ALTER DEFAULT PRIVILEGES FOR ROLE \(scene.green) GRANT SELECT ON TABLES TO PUBLIC")
        let policies = try scene.rotor(["rotate", "app-db"])
        #expect(policies.status == 1 && policies.stdout.contains("\(scene.blue) has 'row-level policy blue_only on table orders'"), "\(policies.stdout)")
        #expect(policies.stdout.contains("\(scene.green) has 'default privileges it sets for tables"), "\(policies.stdout)")
        // And what only some catalogs know: a parameter, a language, a large object's owner.
        try scene.admin.execute("GRANT SET ON PARAMETER work_mem TO \(scene.blue)")
        try scene.admin.execute("GRANT USAGE ON LANGUAGE plpgsql TO \(scene.green)")
        try scene.admin.execute("SELECT lo_create(0)")
        try scene.admin.execute("SELECT lo_from_bytea(0, 'x')")
        let object = try #require(try scene.admin.execute("SELECT max(oid) FROM pg_largeobject_metadata").first?.first ?? nil)
        try scene.admin.execute("ALTER LARGE OBJECT \(object) OWNER TO \(scene.blue)")
        // Ownership of any kind of object (pg_shdepend), a foreign server or a text search configuration too.
        try scene.admin.execute("CREATE FOREIGN DATA WRAPPER wrapper_\(scene.group)")
        try scene.admin.execute("CREATE SERVER server_\(scene.group) FOREIGN DATA WRAPPER wrapper_\(scene.group)")
        try scene.admin.execute("ALTER SERVER server_\(scene.group) OWNER TO \(scene.blue)")
        try scene.admin.execute("CREATE TEXT SEARCH CONFIGURATION search_\(scene.group) (COPY = english)")
        try scene.admin.execute("ALTER TEXT SEARCH CONFIGURATION search_\(scene.group) OWNER TO \(scene.green)")
        let catalogs = try scene.rotor(["rotate", "app-db"])
        for difference in ["\(scene.blue) has 'SET on parameter work_mem'", "\(scene.green) has 'USAGE on language plpgsql'", "\(scene.blue) has 'owner of large object \(object)'",
                           "\(scene.blue) has 'owner of server server_\(scene.group)'", "\(scene.green) has 'owner of text search configuration search_\(scene.group)'"] {
            #expect(catalogs.stdout.contains(difference), "\(difference): \(catalogs.stdout)")
        }
        #expect(result.stdout.contains("nothing was created or changed"), "\(result.stdout)")
        #expect(try scene.verifier(scene.blue) == blueBefore && scene.verifier(scene.green) == greenBefore, "no password changed")
        #expect(try scene.held().user == scene.blue)
    }

    /// A superuser role, or one missing, is refused at preflight.
    @Test func aSuperuserOrMissingRoleIsRefused() throws {
        let scene = try Scene()
        try scene.admin.execute("GRANT rotor TO \(scene.blue), \(scene.green)")
        let member = try scene.rotor(["rotate", "app-db"])
        #expect(member.status == 1 && member.stdout.contains("role \(scene.green) is a member of the superuser role rotor"), "\(member.stdout)")
        try scene.admin.execute("REVOKE rotor FROM \(scene.blue), \(scene.green)")
        try scene.admin.execute("ALTER ROLE \(scene.green) SUPERUSER")
        let superuser = try scene.rotor(["rotate", "app-db"])
        #expect(superuser.status == 1 && superuser.stdout.contains("role \(scene.green) is a superuser"), "\(superuser.stdout)")
        try scene.admin.execute("DROP ROLE \(scene.green)")
        let missing = try scene.rotor(["rotate", "app-db"])
        #expect(missing.status == 1 && missing.stdout.contains("role \(scene.green) does not exist"), "\(missing.stdout)")
    }
}

/// kill -9 at the journal steps of a database password's rotation, then `rotor recover`:
/// the consumer's credentials log in, they are the generation the state calls current,
/// and another rotation works.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES"] != nil, "needs ROTOR_TEST_POSTGRES"))
struct PostgresProviderCrashTests {
    static let points = ["create.intent", "create.done", "verify-key.done", "update.done#1", "update.done#2", "health.done#1",
                         "commit.done", "delete.intent", "delete.done"]

    @Test(arguments: points)
    func recoveryLeavesTheConsumerLoggingIn(_ point: String) throws {
        let scene = try PostgresProviderTests.Scene()
        let crashed = try scene.rotor(["rotate", "app-db"], environment: ["ROTOR_TEST_CRASH_AT": point])
        #expect(crashed.status == 9, "killed at \(point): \(crashed.stdout)\(crashed.stderr)")
        let recovered = try scene.rotor(["recover"])
        #expect(recovered.status == 0, "\(recovered.stdout)\(recovered.stderr)")
        let held = try scene.held()
        #expect(try scene.logsIn(held.user, held.password), "after recovery from \(point), the consumer logs in: \(recovered.stdout)")
        let status = try scene.rotor(["status", "--json"])
        #expect(status.stdout.contains(Fingerprint.of(held.password)) && status.stdout.contains("\"\(held.user)\""), "the state's current generation is what the consumer holds: \(status.stdout)")
        let rollsForward = ["commit.done", "delete.intent", "delete.done"].contains(point)
        #expect(held.user == (rollsForward ? scene.green : scene.blue), "\(point): \(recovered.stdout)")
        if rollsForward { #expect(try !scene.logsIn(scene.blue, scene.passwords[0]), "the old role is retired") }
        let again = try scene.rotor(["rotate", "app-db"])
        #expect(again.status == 0, "a rotation after recovery works: \(again.stdout)\(again.stderr)")
        let after = try scene.held()
        #expect(try scene.logsIn(after.user, after.password) && after.user != held.user)
        try scene.checkNoPasswordLeaked([crashed.stdout, crashed.stderr, recovered.stdout, recovered.stderr, again.stdout, again.stderr])
    }
}
