import Foundation

/// How both stores keep structured values in a text column: JSON, sorted keys, dates as
/// seconds since 1970. A value that does not decode is an error, never "nothing recorded":
/// a key whose state cannot be read must not look never-rotated (and so due).
enum StateCoding {
    /// Whether `seconds` since 1970 is a time rotor writes: 1970–2286. One outside was put
    /// there by an edit (and cannot even be printed as a date).
    static func isStoredTime(_ seconds: Double) -> Bool { seconds.isFinite && seconds >= 0 && seconds < 10_000_000_000 }

    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    static func encode<T: Encodable>(_ value: T?) throws -> String? {
        guard let value else { return nil }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// nil only for a NULL column; `what` names the value in the error.
    static func decode<T: Decodable>(_ text: String?, as type: T.Type = T.self, what: @autoclosure () -> String) throws -> T? {
        guard let text else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        do {
            return try decoder.decode(T.self, from: Data(text.utf8))
        } catch {
            throw Unreadable(description: "the state store's \(what()) cannot be read (\(error)); rotor will not guess it — restore the state from a backup or repair it by hand")
        }
    }
}
