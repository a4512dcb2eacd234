import Foundation

/// What rotor adds to a libpq connection URI (`postgres://user@host:port/db?…`) before it
/// connects, unless the URI says otherwise itself.
enum PostgresURL {
    /// The URI with bounds on waiting for the network: a partition must end a run with an
    /// error in seconds, not hang it for the kernel's TCP timeout (~15 minutes) while it
    /// holds a lease or a database's role half-rotated.
    static func withNetworkBounds(_ url: String) -> String {
        adding(["connect_timeout": "10", "tcp_user_timeout": "15000", "keepalives_idle": "10",
                "keepalives_interval": "5", "keepalives_count": "3"], to: url)
    }

    /// `sslmode=verify-full` for a server that is not on this machine (a certificate check,
    /// no silent downgrade to plain text: libpq's default, `prefer`, does neither). The URI's
    /// own `sslmode` wins; the CA comes from `sslrootcert` or `PGSSLROOTCERT`, as libpq reads them.
    static func withTLSRule(_ url: String) -> String {
        guard let host = host(of: url), !isLocal(host) else { return url }
        return adding(["sslmode": "verify-full"], to: url)
    }

    /// The host a URI names ("" for the default Unix socket), or nil when it is not a URI.
    static func host(of url: String) -> String? {
        guard let scheme = ["postgresql://", "postgres://"].first(where: { url.hasPrefix($0) }) else { return nil }
        let rest = url.dropFirst(scheme.count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        // A `host=` in the query overrides (a Unix socket folder is often given so).
        if let query = url.split(separator: "?", maxSplits: 1).dropFirst().first,
           let given = query.split(separator: "&").first(where: { $0.hasPrefix("host=") }) {
            return String(given.dropFirst(5)).removingPercentEncoding ?? String(given.dropFirst(5))
        }
        let hostPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        if hostPort.hasPrefix("[") { return String(hostPort.dropFirst().prefix { $0 != "]" }) }
        return String(hostPort.prefix { $0 != ":" }).removingPercentEncoding ?? ""
    }

    /// The names in a URI's query (`sslmode`, `connect_timeout`…).
    static func parameters(of url: String) -> Set<String> {
        Set((url.split(separator: "?", maxSplits: 1).dropFirst().first ?? "").split(separator: "&").map { String($0.split(separator: "=")[0]) })
    }

    /// A query parameter's value (`sslmode`), percent-decoded.
    static func value(of name: String, in url: String) -> String? {
        guard let query = url.split(separator: "?", maxSplits: 1).dropFirst().first,
              let pair = query.split(separator: "&").first(where: { $0.hasPrefix(name + "=") }) else { return nil }
        let raw = String(pair.dropFirst(name.count + 1))
        return raw.removingPercentEncoding ?? raw
    }

    /// Whether the URI's userinfo holds a password (`postgres://user:password@host`).
    static func holdsPassword(_ url: String) -> Bool {
        guard let scheme = ["postgresql://", "postgres://"].first(where: { url.hasPrefix($0) }) else { return false }
        let authority = url.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" }
        guard let at = authority.lastIndex(of: "@") else { return parameters(of: url).contains("password") }
        return authority[..<at].contains(":") || parameters(of: url).contains("password")
    }

    /// This machine: a Unix socket (no host, or a folder), `localhost`, 127.0.0.0/8 or ::1.
    static func isLocal(_ host: String) -> Bool {
        host.isEmpty || host.hasPrefix("/") || host == "localhost" || host == "::1"
            || (host.hasPrefix("127.") && host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil })
    }

    private static func adding(_ defaults: [String: String], to url: String) -> String {
        let present = parameters(of: url)
        let added = defaults.keys.sorted().filter { !present.contains($0) }.map { "\($0)=\(defaults[$0]!)" }
        guard !added.isEmpty else { return url }
        return url + (url.contains("?") ? "&" : "?") + added.joined(separator: "&")
    }
}
