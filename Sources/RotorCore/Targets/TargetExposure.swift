import Foundation

/// Target files that every user on the machine can read although they hold a secret:
/// `plan` and `status` warn about them (rotor keeps a target's own mode when it writes,
/// so it never fixes this by itself).
public enum TargetExposure {
    /// One warning per world-readable file target of the selected keys, in configuration order.
    /// `mode` answers for one path (default: a `stat`); `plan` passes what its inspection saw.
    public static func warnings(_ configuration: Configuration, keys: [String], displayPath: (String) -> String,
                                mode: ((String) -> Int?)? = nil) -> [String] {
        let worldReadableMode = mode ?? Self.worldReadableMode
        var seen = Set<String>()
        var warnings: [String] = []
        for consumer in configuration.consumers where keys.isEmpty || keys.contains(consumer.uses.value) {
            for target in consumer.targets {
                guard let path = target.filePath, seen.insert(path).inserted, let mode = worldReadableMode(path) else { continue }
                let shown = displayPath(path)
                warnings.append(
                    "\(shown) holds key '\(consumer.uses.value)' and every user on this machine can read it (mode \(String(mode, radix: 8))); run: chmod o-rwx \(shown)")
            }
        }
        return warnings
    }

    /// The file's permission bits when others may read it (symlinks followed, as writes follow them).
    static func worldReadableMode(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let mode = Int(info.st_mode & 0o7777)
        return mode & 0o004 != 0 ? mode : nil
    }
}
