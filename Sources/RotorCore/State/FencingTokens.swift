import Foundation

/// The fencing tokens this process holds, by run: each lock acquisition gets a new,
/// larger token from the store, and every later write of that run (journal, run record,
/// key state) is checked against the token the lock row holds now. A runner that was
/// paused past its lease and taken over finds a different token and is refused, so two
/// runners can never both move one key — even when one wakes up late.
final class FencingTokens: @unchecked Sendable {
    private let lock = NSLock()
    private var byRun: [String: (key: String, token: Int64)] = [:]

    func hold(_ token: Int64, key: String, runID: String) { lock.withLock { byRun[runID] = (key, token) } }
    func drop(runID: String) { lock.withLock { _ = byRun.removeValue(forKey: runID) } }
    func token(runID: String) -> (key: String, token: Int64)? { lock.withLock { byRun[runID] } }
    func token(key: String) -> (key: String, token: Int64)? { lock.withLock { byRun.values.first { $0.key == key } } }

    /// The token a write must be checked against: the run's own; else the one this process
    /// holds on the run's key (a recoverer writing into the run it took over: `keyOfRun`
    /// asks the store); else the one it holds on `key`. nil: nothing to check.
    func token(runID: String?, key: String?, keyOfRun: (String) throws -> String?) throws -> (key: String, token: Int64)? {
        if let runID {
            if let own = token(runID: runID) { return own }
            if let runKey = try keyOfRun(runID), let held = token(key: runKey) { return held }
        }
        return key.flatMap { token(key: $0) }
    }
}

/// A write refused because the run's lease on the key was taken over by another runner.
public struct LeaseLost: Error, CustomStringConvertible {
    public var key: String
    public var runID: String
    public var description: String {
        "run \(runID) lost its lease on key '\(key)' to another runner; it stops here and writes nothing more (the other runner recovers the run)"
    }
}
