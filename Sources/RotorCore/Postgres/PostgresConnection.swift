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
    }

    private let connection: UnsafeMutableRawPointer
    private let lock = NSLock()

    /// `url`: a libpq connection URI (`postgres://user@host:port/db?sslmode=…`). The
    /// password comes from `PGPASSWORD` or the password file, as for psql.
    /// The password comes from `PGPASSWORD` (withdrawn from rotor's environment once a
    /// configuration names it, and given to libpq here) or the password file, as for psql.
    convenience init(url: String) throws {
        if PostgresURL(url)?.holdsPassword != true, let password = WithheldEnvironment.withdrawnValue("PGPASSWORD") {
            try self.init(url: url, overriding: ["password": password])
        } else {
            try self.init(rotor_pq_connect(url))
        }
    }

    /// `url` with `parameters` overriding what it says (libpq's `PQconnectdbParams` with
    /// `expand_dbname`): a role's login through the admin URL's host, port and TLS settings,
    /// its password given here and never written into a URL or the environment.
    convenience init(url: String, overriding parameters: KeyValuePairs<String, String>) throws {
        let keywords = ["dbname"] + parameters.map(\.key), values = [url] + parameters.map(\.value)
        let copies = (keywords + values).map { strdup($0) }
        defer { copies.forEach { if let copy = $0 { memset(copy, 0, strlen(copy)); free(copy) } } }
        let keywordPointers = copies[..<keywords.count].map { UnsafePointer<CChar>($0) } + [nil]
        let valuePointers = copies[keywords.count...].map { UnsafePointer<CChar>($0) } + [nil]
        try self.init(keywordPointers.withUnsafeBufferPointer { keys in
            valuePointers.withUnsafeBufferPointer { rotor_pq_connect_params(keys.baseAddress, $0.baseAddress) }
        })
    }

    private init(_ made: UnsafeMutableRawPointer?) throws {
        guard let connection = made else {
            throw Failure(description: rotor_pq_load_error().map { String(cString: $0) } ?? "libpq could not allocate a connection")
        }
        guard rotor_pq_connection_ok(connection) == 1 else {
            let message = String(cString: rotor_pq_error_message(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            rotor_pq_finish(connection)
            throw Failure(description: message)
        }
        self.connection = connection
        _ = try execute("SET client_min_messages = warning")
    }

    deinit { rotor_pq_finish(connection) }

    /// Sets the server-side waits `PostgresURL.timeBounds` on this session, except those the
    /// URI's `options` set.
    func boundWaits(for url: String) throws {
        for (name, value) in PostgresURL.timeBoundsToSet(for: url) {
            try execute("SELECT set_config($1, $2, false)", [name, value])
        }
    }

    /// Why libpq cannot be loaded, or nil (it is loaded by this check).
    static var libraryProblem: String? { rotor_pq_load_error().map { String(cString: $0) } }

    /// Runs one statement with `$1…` parameters; returns its rows (nil for SQL NULL).
    @discardableResult
    func execute(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        try lock.withLock { try unlockedExecute(sql, parameters) }
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
            throw Failure(description: String(cString: rotor_pq_error_message(connection)).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        defer { rotor_pq_clear(result) }
        guard rotor_pq_result_ok(result) == 1 else {
            let message = String(cString: rotor_pq_result_error_message(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = rotor_pq_result_sqlstate(result).map { String(cString: $0) }
            let said = message.isEmpty ? String(cString: rotor_pq_error_message(connection)) : message
            // A wait rotor bounded (lock_not_available, query_canceled): say what blocks it.
            throw Failure(description: ["55P03", "57014"].contains(state) ? PostgresURL.explain(said, url: "") : said, state: state)
        }
        return (0..<rotor_pq_rows(result)).map { row in
            (0..<rotor_pq_columns(result)).map { column in
                rotor_pq_is_null(result, row, column) == 1 ? nil : String(cString: rotor_pq_value(result, row, column))
            }
        }
    }
}
