import Foundation

/// rotor mints the secret itself (webhook secrets, shared HMAC keys). There is nothing to
/// delete at a provider: an old generation is simply forgotten.
struct GenerateProvider: KeyProvider {
    var format: GenerateProviderSpec

    func preflight(directory: String) -> [String] { [] }

    func create(name: String, values: [Placeholder: String], directory: String) async throws(ProviderError) -> NewGeneration {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<format.bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let secret = Secret(format.prefix + Self.encode(bytes, as: format.encoding))
        // Always 8 hex digits (a leading zero was dropped: ids of 7 digits, issue #19).
        let suffix = String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 16).leftPadded(to: 8, with: "0")
        return NewGeneration(id: "gen-\(values[.timestamp] ?? "")-\(suffix)", name: name, secret: secret)
    }

    func delete(id: String, values: [Placeholder: String], directory: String) async throws(ProviderError) {}

    func list(values: [Placeholder: String], directory: String) async throws(ProviderError) -> [ListedGeneration]? { nil }

    static func encode(_ bytes: [UInt8], as encoding: GenerateProviderSpec.Encoding) -> String {
        switch encoding {
        case .base64: return Data(bytes).base64EncodedString()
        case .base64url:
            return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        case .hex: return bytes.map { String($0, radix: 16).leftPadded(to: 2, with: "0") }.joined()
        case .alphanumeric:
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            // 62 letters: reject bytes ≥ 248 so every letter is equally likely.
            var generator = SystemRandomNumberGenerator()
            var letters: [Character] = []
            var pool = bytes
            while letters.count < bytes.count {
                if pool.isEmpty { pool = (0..<bytes.count).map { _ in UInt8.random(in: 0...255, using: &generator) } }
                let byte = pool.removeLast()
                if byte < 248 { letters.append(alphabet[Int(byte) % 62]) }
            }
            return String(letters)
        }
    }
}
