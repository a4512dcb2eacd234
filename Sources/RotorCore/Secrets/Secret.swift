import Crypto
import Foundation

/// A secret value. Its description is a mask, so printing one by accident shows
/// `sk-…f3a9`, never the value; code that must use the value calls `reveal()`.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The value itself, for the few places that deliver it (a target, a command's stdin).
    public func reveal() -> String { value }

    public var fingerprint: String { Fingerprint.of(value) }
    public var mask: String { Fingerprint.mask(value) }
    public var description: String { mask }
    public var debugDescription: String { "Secret(\(mask), \(fingerprint))" }
}

/// The only forms in which rotor shows, logs or stores a secret.
public enum Fingerprint {
    /// `sha256:` + the first 12 hex digits of the SHA-256 of the value's UTF-8 bytes.
    public static func of(_ value: String) -> String {
        of(bytes: Array(value.utf8))
    }

    public static func of(bytes: [UInt8]) -> String {
        "sha256:" + hex(SHA256.hash(data: bytes).prefix(6))
    }

    /// `sha256:` + all 64 hex digits: an integrity digest of public content (configuration
    /// files in a saved plan), never used for secrets.
    public static func digest(_ bytes: [UInt8]) -> String {
        "sha256:" + hex(SHA256.hash(data: bytes))
    }

    /// Lower-case hex without Foundation's `String(format:)` (which cost more than the hash).
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]] }
        return String(decoding: text, as: UTF8.self)
    }

    /// `sk-…f3a9`: up to 3 leading and 4 trailing characters of a long value; short values
    /// show only `…` so that most of a secret is never visible.
    public static func mask(_ value: String) -> String {
        let characters = Array(value)
        guard characters.count >= 16 else { return "…" }
        return String(characters.prefix(3)) + "…" + String(characters.suffix(4))
    }
}
