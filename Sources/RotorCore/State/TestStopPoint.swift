import Foundation

/// For tests only: `ROTOR_TEST_STOP_AT=NAME` makes rotor stop itself (SIGSTOP) the first
/// time it reaches the point named NAME, so a test can show what a runner frozen there
/// (a stopped process, a paused VM) does to the others. Inert unless set.
enum TestStopPoint {
    private static let name = ProcessInfo.processInfo.environment["ROTOR_TEST_STOP_AT"]
    nonisolated(unsafe) private static var stopped = false
    private static let lock = NSLock()

    static func reached(_ point: String) {
        guard let name, name == point else { return }
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { raise(SIGSTOP) }
    }
}
