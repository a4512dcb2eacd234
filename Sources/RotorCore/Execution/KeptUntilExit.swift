import Foundation

/// Values a command has finished with when the process ends right after it. Freeing a
/// fleet-sized configuration and plan (millions of objects) took ~11 ms of `plan`'s
/// ~200 ms at 10,000 targets, for memory the kernel takes back whole at exit.
///
/// Only the `rotor` executable turns this on (`enable()`); where commands run one after
/// another in one process (the tests), values are freed as usual.
public enum KeptUntilExit {
    private nonisolated(unsafe) static var enabled = false
    private nonisolated(unsafe) static var kept: [Any] = []
    private static let lock = NSLock()

    /// For a process that exits when its one command returns.
    public static func enable() {
        lock.withLock { enabled = true }
    }

    /// Keeps `values` referenced until the process exits, when enabled; else does nothing.
    static func keep(_ values: Any...) {
        lock.withLock { if enabled { kept.append(values) } }
    }
}
