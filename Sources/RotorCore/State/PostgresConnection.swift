internal import CLibPQ
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

    private let connection: OpaquePointer
    private let lock = NSLock()

    /// `url`: a libpq connection URI (`postgres://user@host:port/db?sslmode=…`). The
    /// password comes from `PGPASSWORD` or the password file, as for psql.
    init(url: String) throws {
        guard let connection = PQconnectdb(url) else { throw Failure(description: "libpq could not allocate a connection") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(connection)
            throw Failure(description: message)
        }
        self.connection = connection
        _ = try execute("SET client_min_messages = warning")
    }

    deinit { PQfinish(connection) }

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
        guard let result = pointers.withUnsafeBufferPointer({ PQexecParams(connection, sql, Int32(parameters.count), nil, $0.baseAddress, nil, nil, 0) }) else {
            throw Failure(description: String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            throw Failure(description: message.isEmpty ? String(cString: PQerrorMessage(connection)) : message, state: state)
        }
        return (0..<PQntuples(result)).map { row in
            (0..<PQnfields(result)).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
    }
}
