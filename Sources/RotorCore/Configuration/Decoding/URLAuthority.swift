import Foundation

/// The scheme and authority of a URL as written in the configuration: userinfo is
/// skipped (`http://127.0.0.1@evil/` goes to `evil`), and the host is a name, an IPv4
/// address (four decimal parts, as `inet_pton` reads them) or a bracketed IPv6 address.
struct URLAuthority {
    let scheme: String
    /// Everything between `://` and the path, as written.
    let authority: String
    let isTemplated: Bool
    let host: Host?

    enum Host {
        case name(String)
        case ipv4([UInt8])
        case ipv6(in6_addr)

        /// Exactly loopback: `localhost`, 127.0.0.0/8, `::1`.
        var isLoopback: Bool {
            switch self {
            case .name(let name): return name == "localhost"
            case .ipv4(let bytes): return bytes.first == 127
            case .ipv6(var address):
                var loopback = in6addr_loopback
                return memcmp(&address, &loopback, MemoryLayout<in6_addr>.size) == 0
            }
        }
    }

    init?(_ text: String) {
        guard let separator = text.range(of: "://") else { return nil }
        let scheme = text[..<separator.lowerBound].lowercased()
        let authority = text[separator.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        self.authority = String(authority)
        isTemplated = scheme.contains("{") || authority.contains("{")
        guard isTemplated || scheme == "http" || scheme == "https" else { return nil }
        self.scheme = scheme
        let hostAndPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        host = Self.parse(hostAndPort)
    }

    private static func parse(_ hostAndPort: Substring) -> Host? {
        func validPort(_ rest: Substring) -> Bool {
            rest.isEmpty || (rest.first == ":" && rest.count > 1 && rest.count <= 6 && rest.dropFirst().allSatisfy { $0.isASCII && $0.isNumber })
        }
        if hostAndPort.hasPrefix("[") {
            guard let close = hostAndPort.firstIndex(of: "]"), validPort(hostAndPort[hostAndPort.index(after: close)...]) else { return nil }
            var address = in6_addr()
            guard inet_pton(AF_INET6, String(hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]), &address) == 1 else { return nil }
            return .ipv6(address)
        }
        let name = hostAndPort.prefix { $0 != ":" }
        guard !name.isEmpty, validPort(hostAndPort[name.endIndex...]) else { return nil }
        var address = in_addr()
        if inet_pton(AF_INET, String(name), &address) == 1 {
            return .ipv4(withUnsafeBytes(of: address.s_addr) { Array($0) })
        }
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }) else { return nil }
        // A dotted-number name that is not a full IPv4 address ("127.1") is refused: resolvers
        // read it as an address, rotor would not.
        if name.allSatisfy({ $0.isNumber || $0 == "." }) { return nil }
        return .name(name.lowercased())
    }
}
