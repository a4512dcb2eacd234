import Crypto
import Foundation

/// A password as PostgreSQL stores it for SCRAM-SHA-256 (RFC 5802, RFC 7677):
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64. Given to
/// `ALTER ROLE … PASSWORD` instead of the password, the server keeps it as is: the password
/// itself is never in a statement, so neither the server log (`log_statement = all`) nor
/// `pg_stat_activity.query` can hold it. What they hold is what the server keeps anyway.
enum ScramVerifier {
    /// PostgreSQL's own default (`scram_iterations`).
    static let iterations = 4096

    /// `password` must be ASCII printable (SASLprep leaves it as is): rotor's passwords are.
    static func make(password: String, salt: [UInt8] = randomSalt(), iterations: Int = iterations) -> String {
        let salted = pbkdf2SHA256(password: Array(password.utf8), salt: salt, iterations: iterations)
        let key = SymmetricKey(data: salted)
        let clientKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Client Key".utf8), using: key))
        let storedKey = Data(SHA256.hash(data: clientKey))
        let serverKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Server Key".utf8), using: key))
        return "SCRAM-SHA-256$\(iterations):\(Data(salt).base64EncodedString())$\(storedKey.base64EncodedString()):\(serverKey.base64EncodedString())"
    }

    static func randomSalt() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// PBKDF2 (RFC 8018) with HMAC-SHA-256, one 32-byte block: SCRAM's `Hi()`.
    static func pbkdf2SHA256(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: password)
        var block = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = block
        for _ in 1..<max(iterations, 1) {
            block = Array(HMAC<SHA256>.authenticationCode(for: block, using: key))
            for index in result.indices { result[index] ^= block[index] }
        }
        return result
    }
}
