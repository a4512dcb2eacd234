import Crypto
import Foundation

/// A secret value. Its description is a mask, so printing one by accident shows
/// `sk-…f3a9`, never the value; code that must use the value calls `reveal()`.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    /// Every secret made is known to the redactor from then on (`KnownSecrets`).
    public init(_ value: String) {
        self.value = value
        KnownSecrets.shared.add(value)
    }

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
        var value = value
        return value.withUTF8 { prefixed(SHA256.hash(data: $0), digits: 12) }
    }

    public static func of(bytes: [UInt8]) -> String {
        prefixed(SHA256.hash(data: bytes), digits: 12)
    }

    /// `sha256:` + all 64 hex digits: an integrity digest of public content (configuration
    /// files in a saved plan), never used for secrets.
    public static func digest(_ bytes: [UInt8]) -> String {
        prefixed(SHA256.hash(data: bytes), digits: 64)
    }

    /// `sha256:` and the first `digits` hex digits, written into one buffer (`plan` makes
    /// one per target: concatenating two strings cost as much as the hex).
    private static func prefixed(_ digest: SHA256.Digest, digits: Int) -> String {
        let prefix = "sha256:".utf8
        return digest.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: prefix.count + digits) { text in
                _ = text.initialize(from: prefix)
                writeHex(bytes.prefix(digits / 2), into: UnsafeMutableBufferPointer(rebasing: text[prefix.count...]))
                return prefix.count + digits
            }
        }
    }

    /// Lower-case hex, written into one buffer (Foundation's `String(format:)` cost more
    /// than the hash).
    static func hex(_ bytes: some Collection<UInt8>) -> String {
        String(unsafeUninitializedCapacity: 2 * bytes.count) { text in
            writeHex(bytes, into: text)
            return 2 * bytes.count
        }
    }

    private static func writeHex(_ bytes: some Collection<UInt8>, into text: UnsafeMutableBufferPointer<UInt8>) {
        for (index, byte) in bytes.enumerated() {
            text[2 * index] = hexDigit(byte >> 4)
            text[2 * index + 1] = hexDigit(byte & 0xF)
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// `sk-…f3a9`: up to 3 leading and 4 trailing characters of a long value; short values
    /// show only `…` so that most of a secret is never visible.
    public static func mask(_ value: String) -> String {
        let characters = Array(value)
        guard characters.count >= 16 else { return "…" }
        return String(characters.prefix(3)) + "…" + String(characters.suffix(4))
    }
}
