internal import CPostgres
import Foundation

/// One libpq connection, used by one process for its whole life. libpq connections are not
/// safe to share between threads, and rotor writes its journal from parallel consumer
/// updates, so every call holds a lock. Parameters and results travel as text.
final class PostgresConnection: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// The SQLSTATE code, when the server sent one (`40001`, `23505`…).
        var state: String?
        /// The session is gone (the server ended it, a failover, a proxy restart): what the
        /// statement did is unknown, and only a new connection can go on (`reconnect`).
        var connectionLost = false
    }

    private var connection: UnsafeMutableRawPointer
    /// Opens a new session with the same parameters (`reconnect`).
    private let open: () throws -> UnsafeMutableRawPointer
    /// Settings made on the session, made again on a new one.
    private var sessionSettings: [(String, String)] = []
    private let lock = NSLock()

    /// `url`: a libpq connection URI (`postgres://user@host:port/db?sslmode=…`). The
    /// password comes from `PGPASSWORD` (withdrawn from rotor's environment once a
    /// configuration names it, and given to libpq here) or the password file, as for psql.
    convenience init(url: String) throws {
        if PostgresURL(url)?.holdsPassword != true, let password = WithheldEnvironment.withdrawnValue("PGPASSWORD") {
            try self.init(url: url, overriding: ["password": password])
        } else {
            try self.init(url: url, overriding: [:])
        }
    }

    /// `url` with `parameters` overriding what it says (libpq's `PQconnectdbParams` with
    /// `expand_dbname`): a role's login through the admin URL's host, port and TLS settings,
    /// its password given here and never written into a URL or the environment. The session
    /// is named `rotor` in `pg_stat_activity` unless the URL names it.
    convenience init(url: String, overriding parameters: KeyValuePairs<String, String>) throws {
        let keywords = ["fallback_application_name", "dbname"] + parameters.map(\.key)
        let values = ["rotor", url] + parameters.map(\.value)
        try self.init {
            let copies = (keywords + values).map { strdup($0) }
            defer { copies.forEach { if let copy = $0 { memset(copy, 0, strlen(copy)); free(copy) } } }
            let keywordPointers = copies[..<keywords.count].map { UnsafePointer<CChar>($0) } + [nil]
            let valuePointers = copies[keywords.count...].map { UnsafePointer<CChar>($0) } + [nil]
            return try Self.connected(keywordPointers.withUnsafeBufferPointer { keys in
                valuePointers.withUnsafeBufferPointer { rotor_pq_connect_params(keys.baseAddress, $0.baseAddress) }
            })
        }
    }

    private init(open: @escaping () throws -> UnsafeMutableRawPointer) throws {
        self.open = open
        connection = try open()
        try setting("client_min_messages", "warning")
    }

    /// A session libpq made, or why there is none.
    private static func connected(_ made: UnsafeMutableRawPointer?) throws -> UnsafeMutableRawPointer {
        guard let connection = made else {
            throw Failure(description: rotor_pq_load_error().map { String(cString: $0) } ?? "libpq could not allocate a connection")
        }
        guard rotor_pq_connection_ok(connection) == 1 else {
            let message = String(cString: rotor_pq_error_message(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            rotor_pq_finish(connection)
            throw Failure(description: message, connectionLost: true)
        }
        return connection
    }

    /// Sets a session setting, now and on every session `reconnect` opens.
    func setting(_ name: String, _ value: String) throws {
        try execute("SELECT set_config($1, $2, false)", [name, value])
        lock.withLock { sessionSettings.append((name, value)) }
    }

    /// Replaces a lost session with a new one made as the first was, with the same settings.
    /// Throws, keeping the old (dead) session, when the server cannot be reached.
    func reconnect() throws {
        try lock.withLock {
            let fresh = try open()  // the old session is kept until there is a new one
            rotor_pq_finish(connection)
            connection = fresh
            for (name, value) in sessionSettings {
                try unlockedExecute("SELECT set_config($1, $2, false)", [name, value])
            }
        }
    }

    /// The server process of this session (`pg_stat_activity.pid`).
    var backendPID: Int32 { lock.withLock { rotor_pq_backend_pid(connection) } }

    /// The TLS protocol and cipher of this session, nil when it is not encrypted.
    var tls: (protocol: String, cipher: String)? {
        lock.withLock {
            guard let version = rotor_pq_ssl_attribute(connection, "protocol") else { return nil }
            return (String(cString: version), rotor_pq_ssl_attribute(connection, "cipher").map { String(cString: $0) } ?? "?")
        }
    }

    /// The certificate the server showed: its subject, issuer and SHA-256 (hex, colon-less).
    var serverCertificate: (subject: String, issuer: String, sha256: String)? {
        lock.withLock {
            var subject = [CChar](repeating: 0, count: 512), issuer = [CChar](repeating: 0, count: 512)
            var digest = [UInt8](repeating: 0, count: 64)
            var size: UInt32 = 0
            guard rotor_pq_peer_certificate(connection, &subject, 512, &issuer, 512, &digest, &size) == 1 else { return nil }
            func text(_ characters: [CChar]) -> String {
                String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            return (text(subject), text(issuer), digest.prefix(Int(size)).map { String(format: "%02x", $0) }.joined())
        }
    }

    deinit { rotor_pq_finish(connection) }

    /// Sets the server-side waits `PostgresURL.timeBounds` on this session, except those the
    /// URI's `options` set.
    func boundWaits(for url: String) throws {
        for (name, value) in PostgresURL.timeBoundsToSet(for: url) {
            try setting(name, value)
        }
    }

    /// Whether this build checked its copies of libpq's constants against libpq-fe.h.
    static var constantsCheckedAgainstHeaders: Bool { rotor_pq_checked_against_headers() == 1 }

    /// Why libpq cannot be loaded, or nil (it is loaded by this check).
    static var libraryProblem: String? { rotor_pq_load_error().map { String(cString: $0) } }

    /// Runs one statement with `$1…` parameters; returns its rows (nil for SQL NULL).
    @discardableResult
    func execute(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        try lock.withLock {
            do { return try unlockedExecute(sql, parameters) } catch let failure as Failure { throw namingBlockers(failure) }
        }
    }

    /// A lock wait that ran out, with who holds locks on rotor's tables and advisory locks
    /// now: pid, user, application and state (never their statements, which may hold
    /// secrets). Asked once the failed statement is over (outside any transaction).
    private func namingBlockers(_ failure: Failure) -> Failure {
        guard failure.state == "55P03" else { return failure }
        let holders = (try? unlockedExecute("""
            SELECT DISTINCT a.pid, a.usename, a.application_name, a.state, extract(epoch FROM now() - a.state_change)::bigint
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.granted AND a.pid <> pg_backend_pid()
              AND (l.locktype = 'advisory' OR l.relation IN (SELECT oid FROM pg_class WHERE relname IN ('keys', 'runs', 'journal', 'locks', 'audit', 'rotor_schema') AND relnamespace = current_schema()::regnamespace))
            ORDER BY 1 LIMIT 5
            """, [])) ?? []
        guard !holders.isEmpty else { return failure }
        let named = holders.map { row in
            let field = { (index: Int) in ControlCharacters.escapeLine(row.optionalText(index) ?? "?") }
            return "pid \(field(0)) (user \(field(1)), application '\(field(2))', \(field(3)) for \(field(4)) s)"
        }
        var withHolders = failure
        withHolders.description += "; holding locks now: " + named.joined(separator: ", ") + " — end it with SELECT pg_terminate_backend(PID) if it is stuck"
        return withHolders
    }

    /// Runs `body` in one transaction (`BEGIN` … `COMMIT`, rolled back when it throws),
    /// holding the connection for the whole of it.
    func transaction<T>(_ body: (Transaction) throws -> T) throws -> T {
        try lock.withLock {
            try unlockedExecute("BEGIN", [])
            do {
                let result = try body(Transaction(connection: self))
                try unlockedExecute("COMMIT", [])
                return result
            } catch let failure as Failure {
                _ = try? unlockedExecute("ROLLBACK", [])
                throw namingBlockers(failure)
            } catch {
                _ = try? unlockedExecute("ROLLBACK", [])
                throw error
            }
        }
    }

    struct Transaction {
        fileprivate let connection: PostgresConnection
        @discardableResult
        func execute(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
            try connection.unlockedExecute(sql, parameters)
        }
    }

    @discardableResult
    fileprivate func unlockedExecute(_ sql: String, _ parameters: [String?]) throws -> [[String?]] {
        let copies = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer<CChar>($0) }
        guard let result = pointers.withUnsafeBufferPointer({ rotor_pq_exec(connection, sql, Int32(parameters.count), $0.baseAddress) }) else {
            throw Failure(description: String(cString: rotor_pq_error_message(connection)).trimmingCharacters(in: .whitespacesAndNewlines),
                          connectionLost: rotor_pq_connection_ok(connection) != 1)
        }
        defer { rotor_pq_clear(result) }
        guard rotor_pq_result_ok(result) == 1 else {
            let message = String(cString: rotor_pq_result_error_message(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = rotor_pq_result_sqlstate(result).map { String(cString: $0) }
            let said = message.isEmpty ? String(cString: rotor_pq_error_message(connection)) : message
            // A wait rotor bounded (lock_not_available, query_canceled): say what blocks it.
            throw Failure(description: ["55P03", "57014"].contains(state) ? PostgresURL.explain(said, url: "") : said, state: state,
                          connectionLost: rotor_pq_connection_ok(connection) != 1)
        }
        return (0..<rotor_pq_rows(result)).map { row in
            (0..<rotor_pq_columns(result)).map { column in
                rotor_pq_is_null(result, row, column) == 1 ? nil : String(cString: rotor_pq_value(result, row, column))
            }
        }
    }
}
