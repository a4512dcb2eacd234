import Foundation

/// A row as `PostgresConnection` returns it (text, nil for SQL NULL), read strictly: a
/// NULL or a value of the wrong shape where rotor's schema allows none is an error that
/// names the column, never a silent `""` or `0` that a run would then act on.
extension Array where Element == String? {
    func text(_ index: Int, _ column: String) throws -> String {
        guard index < count, let value = self[index] else { throw Self.unexpected(column, "NULL") }
        return value
    }

    func optionalText(_ index: Int) -> String? { index < count ? self[index] : nil }

    func integer(_ index: Int, _ column: String) throws -> Int64 {
        let value = try text(index, column)
        guard let number = Int64(value) else { throw Self.unexpected(column, "'\(ControlCharacters.escapeLine(value))'") }
        return number
    }

    func number(_ index: Int, _ column: String) throws -> Double {
        let value = try text(index, column)
        guard let number = Double(value), number.isFinite else { throw Self.unexpected(column, "'\(ControlCharacters.escapeLine(value))'") }
        return number
    }

    /// Seconds since 1970 as rotor writes them: 1970–2286 (a time outside cannot be printed).
    func time(_ index: Int, _ column: String) throws -> Date {
        let seconds = try number(index, column)
        guard StateCoding.isStoredTime(seconds) else { throw Self.unexpected(column, "\(seconds) s after 1970") }
        return Date(timeIntervalSince1970: seconds)
    }

    func boolean(_ index: Int, _ column: String) throws -> Bool {
        switch try text(index, column) {
        case "t": return true
        case "f": return false
        case let value: throw Self.unexpected(column, "'\(ControlCharacters.escapeLine(value))'")
        }
    }

    private static func unexpected(_ column: String, _ found: String) -> PostgresConnection.Failure {
        PostgresConnection.Failure(description: "the database returned \(found) for \(column), which rotor's schema does not allow: the table was changed by something other than rotor; rotor stops rather than guess")
    }
}
