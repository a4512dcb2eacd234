import Foundation

/// Which process holds a lease, beyond its pid and host name: the machine id, the kernel's
/// boot id, its pid namespace and its start time. A pid alone is reused (after a crash,
/// after a reboot) and a host name alone is shared (cloned machines, containers named
/// alike): found by reviewers, a runner elsewhere named like this host took over a live
/// lease, and `unlock` took an unrelated process for the holder.
enum ProcessIdentity {
    /// This process's identity ("" where /proc cannot tell: then only the pid is checked).
    static let current: String = identity(of: getpid()) ?? ""

    /// What can be said of a lease holder named like this host.
    enum Liveness: Equatable {
        /// Its process still runs (the same process: same boot, namespace and start).
        case alive
        /// Its process is gone: this machine rebooted since, or the pid now belongs to
        /// another process, or no process has it.
        case gone
        /// It ran on another machine, or in another pid namespace (a container), that has
        /// this host's name: only its lease, or a person, decides.
        case elsewhere
    }

    static func liveness(of owner: LockOwner) -> Liveness {
        guard !owner.process.isEmpty else {
            // A lease written by a rotor that did not record its identity.
            return kill(owner.pid, 0) != 0 && errno == ESRCH ? .gone : .alive
        }
        let parts = owner.process.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4 else { return .elsewhere }
        let (machine, boot, namespace, start) = (parts[0], parts[1], parts[2], parts[3])
        if machine != (machineID ?? "") { return .elsewhere }
        if boot != bootID {
            // The same machine, booted again: every process of that boot is gone. Without a
            // machine id (some containers), another boot cannot be told from another machine.
            return machine.isEmpty ? .elsewhere : .gone
        }
        guard namespace == pidNamespace else { return .elsewhere }
        guard let started = startTime(of: owner.pid) else { return .gone }
        return started == start ? .alive : .gone
    }

    private static func identity(of pid: Int32) -> String? {
        guard let boot = bootID, let namespace = pidNamespace, let start = startTime(of: pid) else { return nil }
        return [machineID ?? "", boot, namespace, start].joined(separator: " ")
    }

    private static func firstLine(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static let machineID: String? = firstLine("/etc/machine-id").flatMap { $0.isEmpty || $0.contains(" ") ? nil : $0 }
    private static let bootID: String? = firstLine("/proc/sys/kernel/random/boot_id")
    private static let pidNamespace: String? = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")

    /// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
    private static func startTime(of pid: Int32) -> String? {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }
}
