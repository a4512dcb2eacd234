import Foundation
import GRDB

/// A row of the SQLite state read strictly: SQLite stores whatever a hand edit puts in a
/// column, and GRDB's plain subscripts stop the process on a value of the wrong type
/// (found by an attacker: a lock row with pid 'abc' crashed every command). A value rotor
/// never writes stops rotor naming the column, as for PostgreSQL (`PostgresRow`).
extension Row {
    func text(_ column: String) throws -> String {
        guard let text = try optionalText(column) else { throw Self.unexpected(column, "NULL") }
        return text
    }

    func optionalText(_ column: String) throws -> String? {
        let value: DatabaseValue = self[column]
        switch value.storage {
        case .null: return nil
        case .string(let text): return text
        default: throw Self.unexpected(column, "a value that is not text")
        }
    }

    func integer(_ column: String) throws -> Int64 {
        let value: DatabaseValue = self[column]
        guard case .int64(let number) = value.storage else { throw Self.unexpected(column, "a value that is not an integer") }
        return number
    }

    func number(_ column: String) throws -> Double {
        let value: DatabaseValue = self[column]
        switch value.storage {
        case .int64(let number): return Double(number)
        case .double(let number) where number.isFinite: return number
        default: throw Self.unexpected(column, "a value that is not a number")
        }
    }

    /// Seconds since 1970 as rotor writes them: 1970–2286 (a time outside cannot be printed).
    func time(_ column: String) throws -> Date {
        let seconds = try number(column)
        guard StateCoding.isStoredTime(seconds) else { throw Self.unexpected(column, "\(seconds) s after 1970") }
        return Date(timeIntervalSince1970: seconds)
    }

    func optionalTime(_ column: String) throws -> Date? {
        let value: DatabaseValue = self[column]
        return value.isNull ? nil : try time(column)
    }

    func boolean(_ column: String) throws -> Bool {
        switch try integer(column) {
        case 0: return false
        case 1: return true
        case let other: throw Self.unexpected(column, "\(other)")
        }
    }

    private static func unexpected(_ column: String, _ found: String) -> StateCoding.Unreadable {
        StateCoding.Unreadable(description: "the state file holds \(found) in \(column), which rotor never writes: it was edited; rotor stops rather than guess")
    }
}
