import Foundation

/// Which process holds a lease, beyond its pid and host name: the kernel's boot id, its pid
/// namespace and its start time. A pid alone is reused (after a crash, after a reboot) and
/// a host name alone is shared (cloned machines, containers named alike): found by
/// reviewers, a runner elsewhere named like this host took over a live lease, and
/// `unlock` took an unrelated process for the holder.
enum ProcessIdentity {
    /// This process's identity ("" where /proc cannot tell: then only the pid is checked).
    static let current: String = identity(of: getpid()) ?? ""

    /// What can be said of a lease holder named like this host.
    enum Liveness: Equatable {
        /// Its process still runs (the same process: same boot, namespace and start).
        case alive
        /// Its process is gone (or the pid now belongs to another process).
        case gone
        /// It ran under another boot or pid namespace: another machine or container of
        /// the same name, or this one before a reboot. Only its lease, or a person, decides.
        case cannotTell
    }

    static func liveness(of owner: LockOwner) -> Liveness {
        guard !owner.process.isEmpty else {
            // A lease written by a rotor that did not record its identity.
            return kill(owner.pid, 0) != 0 && errno == ESRCH ? .gone : .alive
        }
        let parts = owner.process.split(separator: " ").map(String.init)
        guard parts.count == 3, parts[0] == bootID, parts[1] == pidNamespace else { return .cannotTell }
        guard let started = startTime(of: owner.pid) else { return .gone }
        return started == parts[2] ? .alive : .gone
    }

    private static func identity(of pid: Int32) -> String? {
        guard let boot = bootID, let namespace = pidNamespace, let start = startTime(of: pid) else { return nil }
        return "\(boot) \(namespace) \(start)"
    }

    private static let bootID: String? = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines)

    private static let pidNamespace: String? = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")

    /// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
    private static func startTime(of pid: Int32) -> String? {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }
}
