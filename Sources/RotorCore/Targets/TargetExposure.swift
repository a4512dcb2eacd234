import Foundation

/// Target files that every user on the machine can read although they hold a secret:
/// `plan` and `status` warn about them (rotor keeps a target's own mode when it writes,
/// so it never fixes this by itself).
public enum TargetExposure {
    /// One warning per world-readable file target of the selected keys, in configuration
    /// order (each file once), its mode from a `stat`. (`plan` makes them from the look it
    /// takes at every target anyway: `PlanCommand`.)
    public static func warnings(_ configuration: Configuration, keys: [String], displayPath: (String) -> String) -> [String] {
        var seen = Set<String>()
        var warnings: [String] = []
        for consumer in configuration.consumers where keys.isEmpty || keys.contains(consumer.uses.value) {
            for target in consumer.targets {
                guard let path = target.filePath, seen.insert(path).inserted, let mode = worldReadableMode(path) else { continue }
                warnings.append(warning(shownPath: displayPath(path), key: consumer.uses.value, mode: mode))
            }
        }
        return warnings
    }

    /// The warning for one world-readable file, with what to run.
    static func warning(shownPath: String, key: String, mode: Int) -> String {
        // Concatenated, not interpolated: `plan` may make one per target (10,000 at fleet scale).
        String(concatenating: shownPath, " holds key '", key, "' and every user on this machine can read it (mode ",
               String(mode, radix: 8), "); run: chmod o-rwx ", shownPath)
    }

    /// The file's permission bits when others may read it (symlinks followed, as writes follow them).
    static func worldReadableMode(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let mode = Int(info.st_mode & 0o7777)
        return mode & 0o004 != 0 ? mode : nil
    }
}
