import Foundation

/// Database passwords with zero downtime: two PostgreSQL roles with the same grants take
/// turns (AWS Secrets Manager's "alternating users"). A generation's id is the role, its
/// secret the role's password.
///
/// - create: a new random password on the role consumers do not use, sent as a
///   SCRAM-SHA-256 verifier (`ScramVerifier`), so no statement, server log or
///   `pg_stat_activity.query` ever holds the password.
/// - verify: a real login as that role (`tryUsing`), before consumers move and, once the
///   old role is retired, with its old password (which must be refused).
/// - delete: the role's password replaced by an unknown random one and its sessions ended.
///   Idempotent, and never touches a role the provider does not name.
///
/// The admin login comes from `url` (its password from `password_env`, else `PGPASSWORD`
/// or `~/.pgpass`); a server off this machine is reached with `sslmode=verify-full` unless
/// the URL says otherwise (`PostgresURL.withTLSRule`).
struct PostgresProvider: SelfCheckingProvider {
    var spec: PostgresProviderSpec

    /// Length of a new password: 40 letters and digits (~238 bits), safe unencoded in an
    /// env file, a connection URI (`postgres://{id}:{secret}@…`) and a shell.
    static let passwordLength = 40

    /// A role name rotor can put in a statement without quoting surprises.
    static func isPlainRoleName(_ name: String) -> Bool {
        guard (1...63).contains(name.utf8.count), !name.hasPrefix("pg_"), let first = name.utf8.first,
              first == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// The login and server a URL names, for plans and messages (no query; the policy's
    /// URL holds no password).
    static func describe(_ url: String) -> String {
        let withoutQuery = url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
        guard let scheme = withoutQuery.range(of: "://") else { return withoutQuery }
        return "postgres://" + withoutQuery[scheme.upperBound...]
    }

    // MARK: KeyProvider

    func preflight(directory: String) -> [String] {
        var problems: [String] = []
        if let name = spec.passwordVariable, WithheldEnvironment.value(name)?.isEmpty != false {
            problems.append("the provider's password variable \(name) is not set")
        }
        if let error = PostgresConnection.libraryProblem { problems.append(error) }
        return problems
    }

    func readiness(directory: String) async -> [String] {
        let problems: [String]
        do {
            let connection = try adminConnection()
            problems = try RoleComparison(connection: connection, roles: spec.roles).problems()
        } catch {
            return ["cannot reach the database at \(Self.describe(spec.url)) as its admin login: \(explained(Self.message(error)))"]
        }
        guard problems.isEmpty else { return problems.map { Redactor.redact($0) } }
        // A role that logs in whatever its password (pg_hba `trust`, `peer`…): rotating its
        // password protects nothing, and no login could prove a generation dead.
        var open: [String] = []
        for role in spec.roles {
            let wrong = Self.randomPassword()
            if await tryUsing(id: role, secret: wrong) == nil { open.append(role) }
        }
        return open.map { "role \($0) logs in with any password (the server's pg_hba.conf trusts it from here): its password protects nothing; make it use scram-sha-256" }
    }

    /// A libpq error with what to do about the usual causes.
    private func explained(_ message: String) -> String {
        PostgresURL.explain(message, url: spec.url, passwordFrom: spec.passwordVariable.map { "the variable \($0) (password_env)" } ?? "PGPASSWORD, ~/.pgpass or a variable named by password_env")
    }

    func create(name: String, values: [Placeholder: String], directory: String) async throws(ProviderError) -> NewGeneration {
        try await create(name: name, values: values, directory: directory, inUse: nil)
    }

    func create(name: String, values: [Placeholder: String], directory: String, inUse: String?) async throws(ProviderError) -> NewGeneration {
        let connection = try connect()
        let role = try unusedRole(inUse: inUse, connection: connection)
        let password = Self.randomPassword()
        try setPassword(of: role, to: password, connection: connection)
        return NewGeneration(id: role, name: name, secret: password)
    }

    func delete(id: String, values: [Placeholder: String], directory: String) async throws(ProviderError) {
        guard spec.roles.contains(id) else {
            throw ProviderError("'\(ControlCharacters.escapeLine(id))' is not one of the provider's roles (\(spec.roles.joined(separator: ", "))): rotor alters no other role")
        }
        let connection = try connect()
        // Sessions are ended before the password changes, so that a login that may not end
        // them fails with nothing changed (found by an attacker: a half-done deletion left
        // revoke-first's consumers locked out and the intruder's session open), and again
        // after, for one opened meanwhile with the old password.
        try endSessions(of: id, connection: connection, after: "nothing was changed")
        // A password nobody knows: the role stays (its grants, what it owns) but no one logs in.
        try setPassword(of: id, to: Self.randomPassword(), connection: connection)
        try endSessions(of: id, connection: connection, after: "its password was replaced")
    }

    private func endSessions(of role: String, connection: PostgresConnection, after done: String) throws(ProviderError) {
        do {
            try connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()", [role])
        } catch {
            throw ProviderError("ending the open sessions of \(role) failed (\(done)): \(Self.message(error))")
        }
    }

    /// Both roles; one with open sessions is in use now (PostgreSQL keeps no record of past
    /// logins, so a role without sessions reports no last use).
    func list(values: [Placeholder: String], directory: String) async throws(ProviderError) -> [ListedGeneration]? {
        let connection = try connect()
        let rows: [[String?]]
        do {
            rows = try connection.execute("SELECT usename, count(*) FROM pg_stat_activity WHERE usename = ANY($1::text[]) GROUP BY usename", [Self.arrayLiteral(spec.roles)])
        } catch {
            throw ProviderError("cannot read the sessions of \(spec.roles.joined(separator: ", ")): \(Self.message(error))")
        }
        let withSessions = Set(rows.compactMap { $0.first ?? nil })
        return spec.roles.map { role in
            var listed = ListedGeneration(id: role)
            listed.inUseNow = withSessions.contains(role)
            return listed
        }
    }

    // MARK: SelfCheckingProvider

    /// A login as `id` with `secret`, through the admin URL's host, port, database and TLS
    /// settings. Only the server's refusal of the password (SQLSTATE 28P01) is evidence.
    func tryUsing(id: String, secret: Secret) async -> CheckRunner.Failure? {
        do {
            let connection = try PostgresConnection(url: boundedURL, overriding: ["user": id, "password": secret.reveal()])
            try connection.execute("SELECT 1")
            return nil
        } catch {
            let message = Self.message(error)
            if message.contains("password authentication failed") || (error as? PostgresConnection.Failure)?.state == "28P01" {
                return CheckRunner.Failure(message: "the server refused the password for a login as \(id)")
            }
            return CheckRunner.Failure(message: "login as \(id) at \(Self.describe(spec.url)): \(message)", inconclusive: true)
        }
    }

    // MARK: The database

    private var boundedURL: String { PostgresURL.withTLSRule(PostgresURL.withNetworkBounds(spec.url)) }

    /// The admin login, with bounds on every statement and lock it waits for.
    private func adminConnection() throws -> PostgresConnection {
        let connection: PostgresConnection
        if let name = spec.passwordVariable, let password = WithheldEnvironment.value(name) {
            connection = try PostgresConnection(url: boundedURL, overriding: ["password": password])
        } else {
            connection = try PostgresConnection(url: boundedURL)  // PGPASSWORD (withdrawn, given back here) or ~/.pgpass
        }
        try connection.boundWaits(for: spec.url)
        return connection
    }

    private func connect() throws(ProviderError) -> PostgresConnection {
        do { return try adminConnection() } catch {
            throw ProviderError("cannot reach the database at \(Self.describe(spec.url)) as its admin login: \(explained(Self.message(error)))")
        }
    }

    /// The role to give a new password: the one consumers do not use. With neither known to
    /// be in use, the one without open sessions (the first when both have none); with both
    /// in use, rotor cannot tell and refuses.
    private func unusedRole(inUse: String?, connection: PostgresConnection) throws(ProviderError) -> String {
        if let inUse {
            guard spec.roles.contains(inUse) else {
                throw ProviderError("the generation in use, '\(ControlCharacters.escapeLine(inUse))', is not one of the provider's roles (\(spec.roles.joined(separator: ", "))): adopt the key with --id ROLE")
            }
            return spec.roles.first { $0 != inUse }!
        }
        let sessions: Set<String>
        do {
            sessions = Set(try connection.execute("SELECT DISTINCT usename FROM pg_stat_activity WHERE usename = ANY($1::text[])", [Self.arrayLiteral(spec.roles)]).compactMap { $0.first ?? nil })
        } catch {
            throw ProviderError("cannot read the sessions of \(spec.roles.joined(separator: ", ")): \(Self.message(error))")
        }
        guard let free = spec.roles.first(where: { !sessions.contains($0) }) else {
            throw ProviderError("both \(spec.roles.joined(separator: " and ")) have open sessions and rotor has not recorded which one consumers use: run 'rotor adopt KEY --id ROLE' first")
        }
        return free
    }

    /// `ALTER ROLE … PASSWORD` with the SCRAM verifier, never the password: a statement
    /// cannot take parameters, and the verifier holds only base64, digits, `$` and `:`.
    ///
    /// The role is checked in the same transaction, after the change has locked its row: one
    /// made a superuser (or given REPLICATION) since preflight — or since the rotation whose
    /// grace period ends now — is not altered (found by an attacker: a race with preflight
    /// handed consumers a superuser's credentials).
    private func setPassword(of role: String, to password: Secret, connection: PostgresConnection) throws(ProviderError) {
        let verifier = ScramVerifier.make(password: password.reveal())
        do {
            try connection.transaction { transaction in
                // A superuser admin keeps the statement out of the server's logs and statistics
                // (others may not change these settings); the verifier is as sensitive as pg_authid.
                for setting in Self.quietSettings {
                    _ = try? transaction.execute("SAVEPOINT quiet")
                    if (try? transaction.execute("SET LOCAL \(setting)")) == nil { _ = try? transaction.execute("ROLLBACK TO SAVEPOINT quiet") }
                }
                // A verifier is stored as given, whatever `password_encryption` says.
                try transaction.execute("ALTER ROLE \"\(role)\" PASSWORD '\(verifier.replacingOccurrences(of: "'", with: "''"))'")
                if let power = try RoleComparison.power(of: role, in: transaction.execute) {
                    throw PostgresConnection.Failure(description: "role \(role) \(power) now: rotor alters only plain roles (nothing was changed)")
                }
            }
        } catch {
            throw ProviderError("setting the password of role \(role) failed: \(Self.message(error))")
        }
    }

    /// What a superuser admin turns off around a password change: every way the server
    /// would log the statement (or keep its text in pg_stat_statements).
    static let quietSettings = ["log_statement = 'none'", "log_min_duration_statement = -1", "log_min_duration_sample = -1",
                                "log_transaction_sample_rate = 0", "log_min_error_statement = panic", "pg_stat_statements.track_utility = off"]

    /// `passwordLength` letters and digits from the system's random source.
    static func randomPassword() -> Secret {
        var generator = SystemRandomNumberGenerator()
        return Secret(GenerateProvider.encode((0..<passwordLength).map { _ in UInt8.random(in: 0...255, using: &generator) }, as: .alphanumeric))
    }

    /// `{a,b}`: role names are plain (`isPlainRoleName`), so nothing needs quoting.
    static func arrayLiteral(_ roles: [String]) -> String { "{" + roles.joined(separator: ",") + "}" }

    /// A server's error on one line (a server must not forge lines of rotor's output),
    /// redacted.
    static func message(_ error: any Error) -> String {
        let lines = String(describing: error).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return Redactor.redact(ControlCharacters.escapeLine(lines.joined(separator: " — ")))
    }
}

/// Preflight's look at the two roles: they exist, may log in, are not superusers, the
/// admin may alter them, and they have the same attributes, memberships, settings,
/// privileges and owned objects in the URL's database (a drift is named, not guessed at).
struct RoleComparison {
    let connection: PostgresConnection
    let roles: [String]

    func problems() throws -> [String] {
        var problems: [String] = []
        let admin = try connection.execute("""
            SELECT current_user, rolsuper, rolcreaterole, pg_has_role(current_user, 'pg_signal_backend', 'USAGE')
            FROM pg_roles WHERE rolname = current_user
            """).first ?? []
        let adminName = admin.first.flatMap { $0 } ?? "the admin login"
        if admin.count == 4, admin[1] != "t", admin[2] != "t" {
            problems.append("the admin login \(adminName) may not alter roles (it needs CREATEROLE, or to be a superuser)")
        }
        if admin.count == 4, admin[1] != "t", admin[3] != "t" {
            problems.append("the admin login \(adminName) may not end the retired role's sessions: GRANT pg_signal_backend TO \(adminName)")
        }
        let attributes = try connection.execute("""
            SELECT rolname, rolsuper, rolcanlogin, 'inherit=' || rolinherit || ' createrole=' || rolcreaterole || ' createdb=' || rolcreatedb
                || ' replication=' || rolreplication || ' bypassrls=' || rolbypassrls || ' connection limit=' || rolconnlimit
                || ' valid until=' || coalesce(rolvaliduntil::text, 'always')
            FROM pg_roles WHERE rolname = ANY($1::text[])
            """, [PostgresProvider.arrayLiteral(roles)])
        let found = Dictionary(attributes.compactMap { row in row[0].map { ($0, row) } }, uniquingKeysWith: { first, _ in first })
        let missing = roles.filter { found[$0] == nil }
        if !missing.isEmpty {
            problems.append("role\(missing.count == 1 ? "" : "s") \(missing.joined(separator: " and ")) \(missing.count == 1 ? "does" : "do") not exist: create \(missing.count == 1 ? "it" : "them") with the same grants as \(roles.count == 2 && missing.count == 1 ? roles.first { $0 != missing[0] }! : "each other")")
            return problems
        }
        for role in roles {
            if let power = try Self.power(of: role, in: connection.execute) {
                problems.append("role \(role) \(power): rotor rotates only plain roles")
            }
            if found[role]?[2] != "t" { problems.append("role \(role) may not log in (ALTER ROLE \(role) LOGIN)") }
        }
        if roles.contains(adminName) {
            problems.append("the admin login is \(adminName), one of the roles it rotates: use another login")
        }
        var grants: [String: Set<String>] = [:]
        for role in roles {
            grants[role] = Set(try connection.execute(Self.grantsQuery, [role]).compactMap { $0.first ?? nil })
                .union([found[role]?[3] ?? nil].compactMap { $0.map { "attributes " + $0 } })
        }
        let (a, b) = (roles[0], roles[1])
        let onlyA = grants[a]!.subtracting(grants[b]!).sorted(), onlyB = grants[b]!.subtracting(grants[a]!).sorted()
        if !onlyA.isEmpty || !onlyB.isEmpty {
            let differences = onlyA.map { "\(a) has '\($0)', \(b) not" } + onlyB.map { "\(b) has '\($0)', \(a) not" }
            let shown = differences.prefix(10).joined(separator: "; ") + (differences.count > 10 ? "; and \(differences.count - 10) more" : "")
            problems.append("roles \(a) and \(b) differ (consumers moved to the other would lose or gain access): \(shown); grant both the same (a group role both are members of)")
        }
        return problems
    }

    /// Why a role is not a plain one, or nil: a superuser, REPLICATION, or a member of a
    /// superuser role (found by an attacker: `SET ROLE` made the new credentials a superuser's).
    static func power(of role: String, in execute: (String, [String?]) throws -> [[String?]]) throws -> String? {
        let row = try execute("""
            SELECT r.rolsuper, r.rolreplication,
                   (SELECT string_agg(s.rolname, ', ' ORDER BY s.rolname) FROM pg_roles s WHERE s.rolsuper AND s.oid <> r.oid AND pg_has_role(r.oid, s.oid, 'MEMBER'))
            FROM pg_roles r WHERE r.rolname = $1
            """, [role]).first ?? []
        guard row.count == 3 else { return nil }
        if row[0] == "t" { return "is a superuser" }
        if row[1] == "t" { return "has REPLICATION (ALTER ROLE \(role) NOREPLICATION)" }
        if let superusers = row[2] { return "is a member of the superuser role \(superusers) (SET ROLE makes it one)" }
        return nil
    }

    /// One line per grant a role holds: memberships, privileges on the databases and, in
    /// the connected database, on schemas, tables, sequences, columns and functions; objects
    /// it owns; its per-database settings.
    static let grantsQuery = """
        WITH r AS (SELECT oid FROM pg_roles WHERE rolname = $1)
        SELECT 'member of ' || g.rolname || CASE WHEN m.admin_option THEN ' with admin option' ELSE '' END
            FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || CASE WHEN a.is_grantable THEN ' (grantable)' ELSE '' END || ' on database ' || d.datname
            FROM pg_database d, aclexplode(d.datacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || CASE WHEN a.is_grantable THEN ' (grantable)' ELSE '' END || ' on schema ' || n.nspname
            FROM pg_namespace n, aclexplode(n.nspacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || CASE WHEN a.is_grantable THEN ' (grantable)' ELSE '' END
                || CASE c.relkind WHEN 'S' THEN ' on sequence ' ELSE ' on table ' END || c.oid::regclass::text
            FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || ' on column ' || c.oid::regclass::text || '.' || quote_ident(att.attname)
            FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid, aclexplode(att.attacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || ' on function ' || p.oid::regprocedure::text
            FROM pg_proc p, aclexplode(p.proacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT CASE d.deptype WHEN 'o' THEN 'owner of ' WHEN 'r' THEN 'row-level ' WHEN 'a' THEN 'privileges on ' ELSE 'named in ' END
                || CASE WHEN d.dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
                        THEN pg_describe_object(d.classid, d.objid, d.objsubid)
                        ELSE d.classid::regclass::text || ' object ' || d.objid || ' in database ' || coalesce((SELECT datname FROM pg_database WHERE oid = d.dbid), d.dbid::text) END
            FROM pg_shdepend d WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = (SELECT oid FROM r)
                AND (d.deptype IN ('o', 'r') OR d.dbid NOT IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())))
        UNION ALL SELECT 'setting ' || s || coalesce(' in database ' || (SELECT datname FROM pg_database WHERE oid = st.setdatabase), '')
            FROM pg_db_role_setting st, unnest(st.setconfig) s WHERE st.setrole = (SELECT oid FROM r)
        UNION ALL SELECT 'default privileges it sets for ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END || CASE WHEN d.defaclnamespace = 0 THEN '' ELSE ' in schema ' || d.defaclnamespace::regnamespace::text END
                || ': ' || replace(array_to_string(d.defaclacl, ','), $1, '(itself)')
            FROM pg_default_acl d WHERE d.defaclrole = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || ' on tablespace ' || t.spcname FROM pg_tablespace t, aclexplode(t.spcacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || ' on language ' || l.lanname FROM pg_language l, aclexplode(l.lanacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || ' on type ' || ty.oid::regtype::text FROM pg_type ty, aclexplode(ty.typacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || ' on foreign-data wrapper ' || w.fdwname FROM pg_foreign_data_wrapper w, aclexplode(w.fdwacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || ' on foreign server ' || f.srvname FROM pg_foreign_server f, aclexplode(f.srvacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT 'user mapping for server ' || m.srvname FROM pg_user_mappings m WHERE m.umuser = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || ' on parameter ' || p.parname FROM pg_parameter_acl p, aclexplode(p.paracl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT a.privilege_type || ' on large object ' || lo.oid FROM pg_largeobject_metadata lo, aclexplode(lo.lomacl) a WHERE a.grantee = (SELECT oid FROM r)
        UNION ALL SELECT 'default ' || a.privilege_type || ' on new ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END || ' of ' || d.defaclrole::regrole::text
            FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE a.grantee = (SELECT oid FROM r) AND d.defaclrole <> (SELECT oid FROM r)
        """
}
