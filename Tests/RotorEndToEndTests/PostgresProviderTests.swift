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
        /// Every password the scene's roles had (the first, set by the scene, and rotor's).
        var passwords: [String] = []

        /// `extra`: more consumers (manifest lines); `files`: more files, `{blue}` and
        /// `{password}` in them filled.
        init(key: String = "every: 30d, grace: 0s", consumers extra: String = "", files: [String: String] = [:]) throws {
            let base = try #require(ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES"])
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
            try admin.execute("CREATE ROLE \(blue) LOGIN IN ROLE rotor_scram, \(group) PASSWORD '\(ScramVerifier.make(password: first))'")
            try admin.execute("CREATE ROLE \(green) LOGIN IN ROLE rotor_scram, \(group)")
            try admin.execute("CREATE TABLE orders (id integer)")
            try admin.execute("ALTER TABLE orders OWNER TO \(group)")
            scratch = try Scratch()
            try scratch.write("policies/db.yaml", """
                kind: RotationPolicy
                providers:
                  app-db:
                    type: postgres
                    url: \(url)
                    roles: [\(blue), \(green)]
                keys:
                  app-db: { provider: app-db, \(key) }
                """)
            let login = RotationFixture.peers.appendingPathComponent("pg_login.sh").path
            try scratch.write("consumers/api.yaml", """
                kind: ConsumerManifest
                consumers:
                  api:
                    uses: app-db
                    targets:
                      - env_file: ../deploy/api.env
                        var: DB_USER
                        value: "{id}"
                      - env_file: ../deploy/api.env
                        var: DB_PASSWORD
                    health: { exec: [\(login), ../deploy/api.env, \(host), \(port), \(database)] }
                \(extra)
                """)
            try scratch.write("deploy/api.env", "DB_USER=\(blue)\nDB_PASSWORD=\(first)\n")
            for (path, text) in files {
                try scratch.write(path, text.replacingOccurrences(of: "{blue}", with: blue).replacingOccurrences(of: "{password}", with: first))
            }
            try scratch.startStateStore()
            let adopted = try rotor(["adopt", "app-db"])
            #expect(adopted.status == 0, "\(adopted.stdout)\(adopted.stderr)")
        }

        func rotor(_ arguments: [String], environment: [String: String] = [:]) throws -> RotorProcess.Result {
            try RotorProcess.run(arguments, in: scratch.url, environment: environment)
        }

        /// A session of `user` that stays open (a consumer holding a connection), once the
        /// server lists it.
        func openSession(_ user: String, _ password: String) throws -> Process {
            let session = Process()
            session.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            session.arguments = ["-X", "-q", "-w", "-h", host, "-p", port, "-U", user, "-d", database, "-c", "SELECT pg_sleep(120)"]
            session.environment = ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"]
            session.standardError = FileHandle.nullDevice
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
            let user = try EnvFileFormat(variable: "DB_USER").read(Array(text.utf8)).get() ?? ""
            let password = try EnvFileFormat(variable: "DB_PASSWORD").read(Array(text.utf8)).get() ?? ""
            if !passwords.contains(password) { passwords.append(password) }
            return (user, password)
        }

        /// A login with psql, the password through its environment.
        func logsIn(_ user: String, _ password: String) throws -> Bool {
            let psql = Process()
            psql.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            psql.arguments = ["-X", "-q", "-w", "-h", host, "-p", port, "-U", user, "-d", database, "-c", "SELECT 1"]
            psql.environment = ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"]
            psql.standardOutput = FileHandle.nullDevice
            psql.standardError = FileHandle.nullDevice
            try psql.run()
            psql.waitUntilExit()
            return psql.terminationStatus == 0
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
            let log = try String(contentsOfFile: ProcessInfo.processInfo.environment["ROTOR_TEST_POSTGRES_DIR"]! + "/server.log", encoding: .utf8)
            #expect(log.contains("ALTER ROLE \"\(green)\" PASSWORD 'SCRAM-SHA-256$"), "the server log holds rotor's statements (log_statement = all)")
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
        let login = RotationFixture.peers.appendingPathComponent("pg_login.sh").path
        let probe = try Scene()  // only for the server's address
        let scene = try Scene(consumers: """
              worker:
                uses: app-db
                targets:
                  - env_file: ../deploy/worker.env
                    var: DB_PASSWORD
                health: { exec: [\(login), ../deploy/worker.env, \(probe.host), \(probe.port), DATABASE] }
            """, files: ["deploy/worker.env": "DB_USER={blue}\nDB_PASSWORD={password}\n"])
        // The worker's check reads the scene's own database.
        let manifest = String(decoding: try scene.scratch.bytes("consumers/api.yaml"), as: UTF8.self)
        try scene.scratch.write("consumers/api.yaml", manifest.replacingOccurrences(of: "DATABASE]", with: "\(scene.database)]"))
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
        let retired = try scene.rotor(["run"], environment: later)
        #expect(retired.status == 0 && retired.stdout.contains("deleted generation \(scene.blue)"), "\(retired.stdout)\(retired.stderr)")
        #expect(try !scene.logsIn(scene.blue, scene.passwords[0]))
        #expect(try scene.logsIn(scene.green, scene.held().password))
    }

    /// `adopt` takes the role from the `{id}` target, and only one of the provider's roles.
    @Test func adoptTakesOnlyOneOfTheRoles() throws {
        let scene = try Scene()  // adopted blue from its {id} target
        let state = try scene.rotor(["status", "--json"])
        #expect(state.stdout.contains("\"\(scene.blue)\""), "\(state.stdout)")
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
        #expect(result.stdout.contains("nothing was created or changed"), "\(result.stdout)")
        #expect(try scene.verifier(scene.blue) == blueBefore && scene.verifier(scene.green) == greenBefore, "no password changed")
        #expect(try scene.held().user == scene.blue)
    }

    /// A superuser role, or one missing, is refused at preflight.
    @Test func aSuperuserOrMissingRoleIsRefused() throws {
        let scene = try Scene()
        try scene.admin.execute("ALTER ROLE \(scene.green) SUPERUSER")
        let superuser = try scene.rotor(["rotate", "app-db"])
        #expect(superuser.status == 1 && superuser.stdout.contains("role \(scene.green) is a superuser"), "\(superuser.stdout)")
        try scene.admin.execute("DROP ROLE \(scene.green)")
        let missing = try scene.rotor(["rotate", "app-db"])
        #expect(missing.status == 1 && missing.stdout.contains("role \(scene.green) does not exist"), "\(missing.stdout)")
    }
}
