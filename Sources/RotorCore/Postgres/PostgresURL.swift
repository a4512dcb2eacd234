import Foundation

/// A libpq connection URI (`postgres://user@host:port/db?…`) as libpq will read it, and what
/// rotor adds to it before it connects, unless the URI says otherwise itself.
struct PostgresURL {
    /// The hosts of the authority (`host1:5432,host2`), percent-decoded, without ports; ""
    /// for none (libpq's default: `PGHOST`, else the Unix socket).
    let authorityHosts: [String]
    /// Whether the authority's userinfo holds a password (`user:password@`).
    let userinfoHoldsPassword: Bool
    /// The query's parameters in order, keys and values percent-decoded (libpq decodes both).
    let parameters: [(key: String, value: String)]
    /// Whether the URI has a query (`?`) at all, where parameters are added.
    let hasQuery: Bool

    /// Split as libpq splits it (`conninfo_uri_parse_options`): the user information ends at
    /// the first `@` before the first `/` — whatever it holds, `?` included (found by an
    /// attacker: `postgres://localhost?@remote/db` reaches `remote`) — the hosts at the next
    /// `/` or `?`, and the query follows the first `?` after them.
    init?(_ url: String) {
        guard let scheme = ["postgresql://", "postgres://"].first(where: { url.hasPrefix($0) }) else { return nil }
        let rest = url.dropFirst(scheme.count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let at = rest[..<slash].firstIndex(of: "@")
        userinfoHoldsPassword = at.map { rest[..<$0].contains(":") } ?? false
        let afterUser = at.map { rest[rest.index(after: $0)...] } ?? rest
        let hostList = afterUser.prefix { $0 != "/" && $0 != "?" }
        authorityHosts = hostList.split(separator: ",", omittingEmptySubsequences: false).map { entry in
            let host = entry.hasPrefix("[") ? String(entry.dropFirst().prefix { $0 != "]" }) : String(entry.prefix { $0 != ":" })
            return host.removingPercentEncoding ?? host
        }
        let afterHosts = afterUser[hostList.endIndex...]
        let query = afterHosts.firstIndex(of: "?").map { afterHosts[afterHosts.index(after: $0)...] } ?? ""
        hasQuery = afterHosts.contains("?")
        parameters = query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { String($0).removingPercentEncoding ?? String($0) }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
    }

    /// Every value the query gives `key` (libpq takes the last; rotor checks all).
    func values(_ key: String) -> [String] { parameters.filter { $0.key == key }.map(\.value) }

    var holdsPassword: Bool { userinfoHoldsPassword || !values("password").isEmpty }

    /// Whether every server libpq may reach with this URI in `environment` is on this
    /// machine: a Unix socket, `localhost`, 127.0.0.0/8 or ::1 — for each host of a list, a
    /// `host=` or `hostaddr=` in the query (which win over the authority), `PGHOST` and
    /// `PGHOSTADDR` where the URI names none. A service (`service=`, `PGSERVICE`) may name
    /// any host: not on this machine.
    func isOnThisMachine(environment: [String: String]) -> Bool {
        if !values("service").isEmpty || environment["PGSERVICE"]?.isEmpty == false { return false }
        let addresses = values("hostaddr") + (values("hostaddr").isEmpty ? [environment["PGHOSTADDR"]].compactMap { $0 } : [])
        let hosts = !values("host").isEmpty ? values("host")
            : authorityHosts.allSatisfy(\.isEmpty) ? [environment["PGHOST"] ?? ""] : authorityHosts
        let everyHost = (addresses + hosts).flatMap { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        return everyHost.allSatisfy { Self.isLocal($0) } && addresses.allSatisfy { !$0.isEmpty }
    }

    // MARK: What rotor adds

    /// The URI with bounds on waiting for the network: a partition must end a run with an
    /// error in seconds, not hang it for the kernel's TCP timeout (~15 minutes) while it
    /// holds a lease or a database's role half-rotated.
    static func withNetworkBounds(_ url: String) -> String {
        adding(["connect_timeout": "10", "tcp_user_timeout": "15000", "keepalives_idle": "10",
                "keepalives_interval": "5", "keepalives_count": "3"], to: url)
    }

    /// `sslmode=verify-full` unless every server the URI may reach is on this machine (a
    /// certificate check, no silent downgrade to plain text: libpq's default, `prefer`, does
    /// neither). The URI's own `sslmode` wins; the CA comes from `sslrootcert` or
    /// `PGSSLROOTCERT`, as libpq reads them. Not a URI: verify-full too.
    static func withTLSRule(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        guard let parsed = PostgresURL(url) else { return url }
        guard parsed.values("sslmode").isEmpty, !parsed.isOnThisMachine(environment: environment) else { return url }
        return adding(["sslmode": "verify-full"], to: url)
    }

    static func isURI(_ url: String) -> Bool { PostgresURL(url) != nil }

    /// How long rotor's sessions wait, unless the URI's `options` set it (`?options=-c
    /// lock_timeout=2s`): a session holding a lock on what rotor needs, or a runner stopped
    /// inside a transaction (SIGSTOP, a frozen VM), must not block every runner for ever.
    static let timeBounds = [("lock_timeout", "10s"), ("statement_timeout", "60s"), ("idle_in_transaction_session_timeout", "60s")]

    /// The `timeBounds` the URI (or `PGOPTIONS`, as libpq reads it) leaves to rotor.
    static func timeBoundsToSet(for url: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> [(String, String)] {
        let options = (PostgresURL(url)?.values("options") ?? []).joined(separator: " ") + " " + (environment["PGOPTIONS"] ?? "")
        return timeBounds.filter { !options.contains($0.0) }
    }

    /// A libpq or server error with what to do about the usual causes: no password, a
    /// certificate rotor asked to check, a wait rotor bounded.
    static func explain(_ message: String, url: String, passwordFrom: String = "PGPASSWORD or ~/.pgpass") -> String {
        if message.contains("no password supplied") || message.contains("password authentication failed") {
            return message + " — give the login's password through \(passwordFrom)"
        }
        if message.contains("SSL") || message.contains("certificate"), PostgresURL(url)?.values("sslmode").isEmpty != false,
           PostgresURL(url)?.isOnThisMachine(environment: ProcessInfo.processInfo.environment) != true {
            return message + " — rotor asks for sslmode=verify-full for a server off this machine: give the server's CA with sslrootcert= (or PGSSLROOTCERT), or set sslmode in the URL yourself"
        }
        if message.contains("lock timeout") || message.contains("statement timeout") || message.contains("idle-in-transaction timeout") {
            let bounds = timeBounds.map { "\($0.0)=\($0.1)" }.joined(separator: ", ")
            return message + " — another session holds what rotor needs (see pg_locks); rotor waits at most \(bounds) (set others in the URL, encoded: ?options=-c%20lock_timeout%3D30s) and changed nothing with this statement"
        }
        return message
    }

    /// This machine: a Unix socket (no host, or a folder), `localhost`, 127.0.0.0/8 or ::1.
    static func isLocal(_ host: String) -> Bool {
        host.isEmpty || host.hasPrefix("/") || host == "localhost" || host == "::1"
            || (host.hasPrefix("127.") && host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil })
    }

    private static func adding(_ defaults: [String: String], to url: String) -> String {
        let parsed = PostgresURL(url)
        let present = Set(parsed?.parameters.map(\.key) ?? [])
        let added = defaults.keys.sorted().filter { !present.contains($0) }.map { "\($0)=\(defaults[$0]!)" }
        guard !added.isEmpty else { return url }
        let hasQuery = parsed?.hasQuery ?? url.contains("?")
        // A query that is only "?" (or ends with "&") takes the parameters as they are.
        let joiner = !hasQuery ? "?" : (url.hasSuffix("?") || url.hasSuffix("&") ? "" : "&")
        return url + joiner + added.joined(separator: "&")
    }
}
