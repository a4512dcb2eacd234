import Foundation

/// For tests only: `ROTOR_TEST_STOP_AT=NAME` makes rotor stop itself (SIGSTOP) the first
/// time it reaches the point named NAME, so a test can show what a runner frozen there
/// (a stopped process, a paused VM) does to the others. Inert unless set.
enum TestStopPoint {
    private static let name = ProcessInfo.processInfo.environment["ROTOR_TEST_STOP_AT"]
    private static let reached = OnceEach()

    static func reached(_ point: String) {
        if name == point, reached.first(point) { raise(SIGSTOP) }
    }
}

/// For tests only: `ROTOR_TEST_LOSE_ANSWER=NAME[,NAME…]` makes the state database end
/// rotor's session right after the write NAME (`journal`, `audit`, `run`) committed, the
/// first time: the write happened, its answer is lost — what a failover or a proxy restart
/// does at the worst moment. Inert unless set.
enum TestLostAnswer {
    private static let names = Set((ProcessInfo.processInfo.environment["ROTOR_TEST_LOSE_ANSWER"] ?? "").split(separator: ",").map(String.init))
    private static let lost = OnceEach()

    static func after(_ point: String, on connection: PostgresConnection) throws {
        guard names.contains(point), lost.first(point) else { return }
        try connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    }
}

/// Says true once per name.
private final class OnceEach: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Set<String> = []
    func first(_ name: String) -> Bool { lock.withLock { seen.insert(name).inserted } }
}
