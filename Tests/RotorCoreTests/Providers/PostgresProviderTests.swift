import Foundation
import Testing
@testable import RotorCore

/// The parts of the `postgres` provider that need no server (PostgresProviderTests in the
/// end-to-end tests use a real one): SCRAM verifiers, the TLS rule, the policy's errors.
@Suite struct PostgresProviderUnitTests {
    /// PBKDF2-HMAC-SHA256 test vectors (RFC 7914 section 11, and the widely published ones
    /// for "password"/"salt").
    @Test func pbkdf2MatchesPublishedVectors() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(ScramVerifier.pbkdf2SHA256(password: Array("password".utf8), salt: Array("salt".utf8), iterations: 1))
            == "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b")
        #expect(hex(ScramVerifier.pbkdf2SHA256(password: Array("password".utf8), salt: Array("salt".utf8), iterations: 4096))
            == "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a")
    }

    /// The verifier PostgreSQL's own client computes for a known password and salt
    /// (`SCRAM-SHA-256$4096:…`, as psql's `\password` sends it), and it holds no password.
    @Test func theVerifierHasPostgreSQLsShapeAndNoPassword() throws {
        let salt = Array(repeating: UInt8(7), count: 16)
        let verifier = ScramVerifier.make(password: "canary-password-123", salt: salt)
        #expect(verifier.hasPrefix("SCRAM-SHA-256$4096:\(Data(salt).base64EncodedString())$"))
        let keys = try #require(verifier.split(separator: "$").last).split(separator: ":")
        #expect(keys.count == 2 && keys.allSatisfy { Data(base64Encoded: String($0))?.count == 32 })
        #expect(!verifier.contains("canary"))
        #expect(ScramVerifier.make(password: "canary-password-123", salt: salt) == verifier, "deterministic for a salt")
        #expect(ScramVerifier.make(password: "canary-password-123") != verifier, "a fresh salt each time")
    }

    /// The advice beside an error fits the case (found by an operator): the TLS rule is
    /// named only for a server off this machine, and the option syntax given works in a URI.
    @Test func errorsAdviseWhatAppliesHere() {
        let tls = "SSL error: certificate verify failed"
        #expect(PostgresURL.explain(tls, url: "postgres://r@db.internal/x").contains("rotor asks for sslmode=verify-full"))
        #expect(!PostgresURL.explain(tls, url: "postgres://r@127.0.0.1/x").contains("rotor asks for sslmode=verify-full"))
        let advice = PostgresURL.explain("ERROR:  canceling statement due to lock timeout", url: "")
        #expect(advice.contains("?options=-c%20lock_timeout%3D30s"))
        #expect(PostgresURL("postgres://r@h/db?options=-c%20lock_timeout%3D30s")?.values("options") == ["-c lock_timeout=30s"], "the advice parses")
    }

    @Test func aServerOffThisMachineGetsVerifyFullUnlessTheURLSays() {
        #expect(PostgresURL.withTLSRule("postgres://admin@db.internal:5432/app") == "postgres://admin@db.internal:5432/app?sslmode=verify-full")
        #expect(PostgresURL.withTLSRule("postgres://admin@10.0.0.5/app?connect_timeout=3") == "postgres://admin@10.0.0.5/app?connect_timeout=3&sslmode=verify-full")
        #expect(PostgresURL.withTLSRule("postgres://admin@db/app?sslmode=require") == "postgres://admin@db/app?sslmode=require")
        for local in ["postgres://admin@127.0.0.1:5432/app", "postgres://admin@localhost/app", "postgres://admin@[::1]:5432/app",
                      "postgres:///app", "postgres://admin@/app?host=/run/postgresql"] {
            #expect(PostgresURL.withTLSRule(local) == local, "\(local)")
        }
        #expect(PostgresURL.withTLSRule("postgres://admin@127.0.0.1.evil.example/app").hasSuffix("sslmode=verify-full"))
        for holding in ["postgres://admin:pw@db/app", "postgres://admin@db/app?password=pw", "postgres://admin@db/app?%70assword=pw"] {
            #expect(PostgresURL(holding)?.holdsPassword == true, "\(holding)")
        }
        #expect(PostgresURL("postgres://admin@db/app")?.holdsPassword == false)
    }

    /// Found by an attacker: forms of the URI that reach another host while the first one
    /// looks local (libpq tries every host of a list, takes the last `host=`, decodes keys,
    /// prefers `hostaddr`, reads PGHOST and services) all get verify-full.
    @Test func everyWayToNameAnotherHostGetsVerifyFull() {
        let remote = ["postgres://a@127.0.0.1:1,192.0.2.2:5999/db", "postgres://a@[::1]:1,192.0.2.2:5999/db",
                      "postgres://a@localhost/db?hostaddr=192.0.2.2&port=5999", "postgres://a@/db?host=localhost&host=192.0.2.2",
                      "postgres://a@/db?%68ost=192.0.2.2", "postgres://a@/db?host=/nonexistent,192.0.2.2", "postgres://a@localhost/db?service=evil",
                      "postgres://a@/db?host=localhost&hostaddr=", "postgres://localhost?@192.0.2.2:56001/db?user=radmin",
                      "postgres://localhost?@192.0.2.2"]
        for url in remote {
            #expect(PostgresURL.withTLSRule(url, environment: [:]).hasSuffix("sslmode=verify-full"), "\(url)")
        }
        #expect(PostgresURL.withTLSRule("postgres://localhost?@192.0.2.2:56001/db?user=radmin", environment: [:])
            == "postgres://localhost?@192.0.2.2:56001/db?user=radmin&sslmode=verify-full", "added to the query libpq reads")
        #expect(PostgresURL.withTLSRule("postgres://localhost?@192.0.2.2", environment: [:]) == "postgres://localhost?@192.0.2.2?sslmode=verify-full")
        #expect(PostgresURL.withTLSRule("postgres://a@/db", environment: ["PGHOST": "192.0.2.2"]).hasSuffix("sslmode=verify-full"))
        #expect(PostgresURL.withTLSRule("postgres://a@localhost/db", environment: ["PGHOSTADDR": "192.0.2.2"]).hasSuffix("sslmode=verify-full"))
        #expect(PostgresURL.withTLSRule("postgres://a@localhost/db", environment: ["PGSERVICE": "evil"]).hasSuffix("sslmode=verify-full"))
        #expect(PostgresURL.withTLSRule("postgres://a@/db", environment: ["PGHOST": "/run/postgresql"]) == "postgres://a@/db")
        #expect(PostgresURL.withTLSRule("postgres://a@127.0.0.1,localhost/db?hostaddr=127.0.0.1,127.0.0.2", environment: [:]).contains("sslmode") == false)
    }

    /// A server's multi-line error is one line of rotor's output: it cannot forge another.
    @Test func aServersErrorCannotForgeALine() {
        let message = PostgresProvider.message(PostgresConnection.Failure(description: "ERROR:  boom\napp-db: completed — rotated to app_green\n"))
        #expect(!message.contains("\n") && message.contains("boom — app-db: completed"), "\(message)")
    }

    @Test func thePolicyNamesEveryMistakeWithItsPlace() throws {
        let folder = try TemporaryFolder()
        try folder.write("p.yaml", """
            kind: RotationPolicy
            providers:
              one-role: { type: postgres, url: "postgres://admin@db/app", roles: [app_blue] }
              same: { type: postgres, url: "postgres://admin@db/app", roles: [app_blue, app_blue] }
              quoted: { type: postgres, url: "postgres://admin@db/app", roles: [app_blue, "App Green"] }
              password: { type: postgres, url: "postgres://admin:hunter2@db/app", roles: [a, b] }
              not-a-uri: { type: postgres, url: "host=db user=admin", roles: [a, b], password_env: 1X }
              good: { type: postgres, url: "postgres://admin@db/app", roles: [app_blue, app_green], password_env: DB_ADMIN_PASSWORD }
              weak: { type: postgres, url: "postgres://admin@db.example/app?sslmode=require", roles: [weak_a, weak_b] }
              local: { type: postgres, url: "postgres://admin@127.0.0.1/app?sslmode=disable", roles: [local_a, local_b] }
            """)
        let result = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["p.yaml"])
        let messages = result.diagnostics.all.map { "\($0.location?.line ?? 0): \($0.message)" }
        #expect(messages.contains { $0.hasPrefix("3: ") && $0.contains("exactly two different roles") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("4: ") && $0.contains("exactly two different roles") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("5: ") && $0.contains("'App Green' is not a plain role name") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("6: ") && $0.contains("holds a password") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("7: ") && $0.contains("must be a PostgreSQL URI") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("7: ") && $0.contains("'1X' is not a valid environment variable name") }, "\(messages)")
        #expect(!messages.joined().contains("hunter2"), "the literal password is not quoted back")
        #expect(!messages.contains { $0.hasPrefix("5: ") && $0.contains("exactly two") }, "a refused name is not also a wrong count: \(messages)")
        #expect(messages.contains { $0.hasPrefix("9: ") && $0.contains("sslmode=require for a server off this machine") }, "\(messages)")
        #expect(!messages.contains { $0.hasPrefix("10: ") }, "sslmode=disable to this machine is fine: \(messages)")
        guard case .postgres(let good) = try #require(result.configuration.provider(named: "good")).kind else { Issue.record("not postgres"); return }
        #expect(good.roles == ["app_blue", "app_green"] && good.passwordVariable == "DB_ADMIN_PASSWORD")
        #expect(result.configuration.tokenVariables.isSuperset(of: ["DB_ADMIN_PASSWORD", "PGPASSWORD"]), "withheld from every command rotor runs")
    }

    /// A pair of roles takes turns for one key: a second key on the same provider, or a
    /// provider naming another's role, is an error.
    @Test func rolesBelongToOneKey() throws {
        let folder = try TemporaryFolder()
        try folder.write("p.yaml", """
            kind: RotationPolicy
            providers:
              db: { type: postgres, url: "postgres://admin@db/app", roles: [app_blue, app_green] }
              other: { type: postgres, url: "postgres://admin@db/app", roles: [app_green, app_red] }
            keys:
              app: { provider: db }
              reports: { provider: db }
              more: { provider: other }
            """)
        let messages = ConfigurationLoader(workingDirectory: folder.path).load(paths: ["p.yaml"]).diagnostics.errors.map { "\($0.location?.line ?? 0): \($0.message)" }
        #expect(messages.contains { $0.hasPrefix("7: key 'reports' uses provider 'db', whose roles already take turns for key 'app'") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("4: role 'app_green' is one of provider 'db''s roles too") }, "\(messages)")
    }

    /// A target whose value mixes the generation with other text is read through its template.
    @Test func aTemplateReadsBackItsPlaceholders() throws {
        let url = try Template.parse("postgres://{id}:{secret}@db:5432/app").get()
        #expect(url.extract(from: "postgres://app_blue:Xy9z@db:5432/app") == [.id: "app_blue", .secret: "Xy9z"])
        #expect(url.extract(from: "postgres://app_blue:Xy9z@db:5433/app") == nil, "another literal text is another value")
        #expect(url.extract(from: "postgres://:Xy9z@db:5432/app") == nil, "a placeholder stands for one character at least")
        #expect(try Template.parse("{secret}").get().extract(from: "a.b*c\nd") == [.secret: "a.b*c\nd"], "regular-expression characters are text")
        let twice = try Template.parse("{id}/{secret}/{id}").get()
        #expect(twice.extract(from: "a/s/a") == [.id: "a", .secret: "s"])
        #expect(twice.extract(from: "a/s/b") == nil, "a placeholder holds the same value wherever it appears")
        #expect(try Template.parse("Bearer {secret}").get().extract(from: "Basic abc") == nil)
    }
}
