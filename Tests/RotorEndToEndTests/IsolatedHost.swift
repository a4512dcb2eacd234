import Foundation
import Testing

/// A host of its own for a server (a database off "this machine"): a network namespace
/// joined to the test's by a veth pair, `address` on its side. Needs root. Removed when released.
final class IsolatedHost {
    let namespace: String
    /// The test's end of the link (`cut` and `heal` take it down and up).
    let hostSide: String
    /// The namespace's address, as a server there listens on it.
    let address: String

    init() throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased(), subnet = "10.213.\(Int.random(in: 1...250))"
        (namespace, hostSide, address) = ("rotor-db-\(tag)", "vh\(tag)", "\(subnet).2")
        let dbSide = "vd\(tag)"
        try Self.ip("netns add \(namespace)")
        try Self.ip("link add \(hostSide) type veth peer name \(dbSide)")
        try Self.ip("link set \(dbSide) netns \(namespace)")
        try Self.ip("addr add \(subnet).1/24 dev \(hostSide)")
        try Self.ip("link set \(hostSide) up")
        try Self.ip("netns exec \(namespace) ip addr add \(address)/24 dev \(dbSide)")
        try Self.ip("netns exec \(namespace) ip link set \(dbSide) up")
        try Self.ip("netns exec \(namespace) ip link set lo up")
    }

    deinit {
        _ = try? RotorProcess.spawn(["ip", "link", "del", hostSide])
        _ = try? RotorProcess.spawn(["ip", "netns", "del", namespace])
    }

    func cut() throws { try Self.ip("link set \(hostSide) down") }
    func heal() throws { try Self.ip("link set \(hostSide) up") }

    /// A throwaway PostgreSQL server on this host (`scripts/postgres-test-server start NETNS
    /// ADDRESS`; with a certificate for `address` from a throwaway CA when `tls`): its
    /// exported variables (ROTOR_TEST_POSTGRES, ROTOR_TEST_POSTGRES_DIR, ROTOR_TEST_POSTGRES_CA).
    func startPostgres(tls: Bool = false) throws -> [String: String] {
        let script = RotorProcess.packageRoot.appendingPathComponent("scripts/postgres-test-server").path
        let result = try RotorProcess.spawn(["env"] + (tls ? ["POSTGRES_TEST_TLS=1"] : []) + [script, "start", namespace, address])
        try #require(result.status == 0, "postgres-test-server start \(namespace) \(address) failed")
        var exports: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") where line.hasPrefix("export ") {
            let pair = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { exports[String(pair[0])] = String(pair[1]) }
        }
        return exports
    }

    /// `ip ARGUMENTS` that must succeed.
    static func ip(_ arguments: String) throws {
        let result = try RotorProcess.spawn(["ip"] + arguments.split(separator: " ").map(String.init))
        try #require(result.status == 0, "ip \(arguments)")
    }
}
