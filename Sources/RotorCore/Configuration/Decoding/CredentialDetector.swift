import Foundation

/// Spots credentials written literally into configuration, which rotor refuses: secrets
/// and tokens come from the environment or from files.
///
/// Heuristics, tuned to stay quiet on paths, URLs, ARNs and names: well-known vendor
/// token prefixes, `Bearer`/`Basic`/`Token` headers with a literal value, passwords in
/// URLs, secret-looking query parameters, and long random-looking tokens.
enum CredentialDetector {
    private static let vendorPrefixes = [
        "sk-", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "pk_live_", "AKIA", "ASIA", "ghp_", "gho_", "ghs_", "ghu_",
        "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "xapp-", "SG.", "AIza", "whsec_", "npm_", "pypi-",
    ]
    private static let secretQueryNames: Set<String> = [
        "key", "api_key", "apikey", "token", "access_token", "secret", "password", "client_secret", "sig", "signature",
    ]

    /// Why `text` looks like a literal credential, or nil.
    static func reason(_ text: String) -> String? {
        // Fast path (this runs on every template): the shortest credential these rules
        // recognise is a 15-character `Bearer x…`; URLs are checked whatever their length.
        if text.utf8.count < 15, !hasSchemeSeparator(text) { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for scheme in ["Bearer ", "Basic ", "Token ", "token "] where trimmed.hasPrefix(scheme) {
            let value = trimmed.dropFirst(scheme.count).trimmingCharacters(in: .whitespaces)
            if value.count >= 8, !value.contains("{") { return "a '\(scheme.trimmingCharacters(in: .whitespaces))' credential is written out literally" }
        }
        if let schemeEnd = trimmed.range(of: "://") {
            let afterScheme = trimmed[schemeEnd.upperBound...]
            let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") {
                return "the URL carries a password"
            }
            if let query = trimmed.split(separator: "?", maxSplits: 1).dropFirst().first {
                for pair in query.split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    if parts.count == 2, secretQueryNames.contains(parts[0].lowercased()), !parts[1].contains("{") {
                        return "the URL's query parameter '\(parts[0])' carries a literal secret"
                    }
                }
            }
            return nil
        }
        for token in trimmed.split(separator: " ") {
            if let reason = tokenReason(String(token)) { return reason }
        }
        return nil
    }

    /// Whether `text` contains `://`, scanned as bytes (Foundation's search is slow here).
    private static func hasSchemeSeparator(_ text: String) -> Bool {
        var matched = 0
        for byte in text.utf8 {
            switch (matched, byte) {
            case (0, UInt8(ascii: ":")): matched = 1
            case (1, UInt8(ascii: "/")): matched = 2
            case (2, UInt8(ascii: "/")): return true
            case (_, UInt8(ascii: ":")): matched = 1
            default: matched = 0
            }
        }
        return false
    }

    private static func tokenReason(_ token: String) -> String? {
        guard token.utf8.count >= 16 else { return nil }
        for prefix in vendorPrefixes where token.hasPrefix(prefix) {
            let rest = token.dropFirst(prefix.count)
            if rest.count >= 16, rest.allSatisfy(isTokenCharacter) { return "it starts with '\(prefix)', a known API key or token prefix" }
        }
        guard token.utf8.count >= 32, token.allSatisfy(isTokenCharacter) else { return nil }
        let hasDigit = token.contains(where: \.isNumber)
        let hasUpper = token.contains(where: \.isUppercase)
        let hasLower = token.contains(where: \.isLowercase)
        guard hasDigit, hasLower || hasUpper, entropy(token) >= 4.0 else { return nil }
        return "it looks like a random token"
    }

    private static func isTokenCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "_-+/=".contains(character))
    }

    /// Shannon entropy in bits per character.
    private static func entropy(_ text: String) -> Double {
        var counts: [Character: Int] = [:]
        for character in text { counts[character, default: 0] += 1 }
        let total = Double(text.count)
        return counts.values.reduce(0) { sum, count in
            let p = Double(count) / total
            return sum - p * Foundation.log2(p)
        }
    }
}
