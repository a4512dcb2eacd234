import Foundation

/// A vendor CLI's create that outlived the rotor that started it (rotor was killed; the
/// command runs in a process group of its own, so nothing stops it): it may make a key
/// after `rotor recover` has looked for one and found nothing. Each create command carries
/// `ROTOR_CREATE=<generation name>` in its environment (the name is unique to the attempt,
/// and a process it starts inherits it); recovery stops every process that still carries
/// it — as the dead rotor would have at its deadline — before it looks.
enum OrphanedCreates {
    static let variable = "ROTOR_CREATE"

    /// Stops (TERM, then KILL after `grace`) every process whose environment holds the
    /// marker of `name`; returns how many there were. Processes rotor may not inspect
    /// (another user's, when rotor is not root) are not seen — nor could they be rotor's.
    @discardableResult
    static func stop(name: String, grace: TimeInterval = 2) -> Int {
        let found = processes(holding: "\(variable)=\(name)")
        guard !found.isEmpty else { return 0 }
        for pid in found { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline, found.contains(where: isAlive) { usleep(50_000) }
        for pid in found where isAlive(pid) { kill(pid, SIGKILL) }
        let gone = Date().addingTimeInterval(5)
        while Date() < gone, found.contains(where: isAlive) { usleep(50_000) }
        return found.count
    }

    private static func processes(holding marker: String) -> [pid_t] {
        let own = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), pid != own,
                  let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ")
            else { return nil }
            return environ.split(separator: 0).contains { $0.elementsEqual(marker.utf8) } ? pid : nil
        }
    }

    private static func isAlive(_ pid: pid_t) -> Bool {
        // A zombie is gone for this purpose: it acts no more.
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? false)
    }
}
