import Foundation

/// What `rotor state check` says about a PostgreSQL session: the server, how the session
/// is protected (TLS protocol and cipher, the `sslmode` in effect and who chose it, the
/// certificate the server showed), and the waits rotor bounds on it.
struct PostgresSessionReport {
    let connection: PostgresConnection
    /// The URI as written (`--state`), and as libpq was given it (rotor's rules applied).
    let url: String, effectiveURL: String

    var lines: [String] {
        var lines = ["server: PostgreSQL \(serverVersion ?? "?") (session pid \(connection.backendPID))", tls]
        if let certificate = connection.serverCertificate {
            lines.append("certificate: subject \(ControlCharacters.escapeLine(certificate.subject)), issuer \(ControlCharacters.escapeLine(certificate.issuer)), sha256 \(certificate.sha256)")
        }
        lines.append("waits: " + waits)
        return lines
    }

    private var serverVersion: String? { try? connection.execute("SHOW server_version").first?.optionalText(0) }

    private var tls: String {
        let environment = ProcessInfo.processInfo.environment["PGSSLMODE"].map { "sslmode=\($0) (PGSSLMODE; the server is on this machine)" }
        let mode = PostgresURL(url)?.values("sslmode").last.map { "sslmode=\($0) (given in the URL)" }
            ?? PostgresURL(effectiveURL)?.values("sslmode").last.map { "sslmode=\($0) (rotor's rule for a server off this machine)" }
            ?? environment ?? "sslmode=prefer (libpq's default; the server is on this machine)"
        guard let tls = connection.tls else { return "tls: none, the session is not encrypted; \(mode)" }
        return "tls: \(tls.protocol) \(tls.cipher); \(mode)"
    }

    private var waits: String {
        PostgresURL.timeBounds.map { name, _ in
            let value = (try? connection.execute("SELECT current_setting($1)", [name]).first?.optionalText(0)) ?? "?"
            return "\(name)=\(value)" + (value == "0" ? " (no bound: rotor may wait forever)" : "")
        }.joined(separator: ", ")
    }
}
