import Foundation

/// The failed rotations a key has had in a row, newest last: cron does not retry such a
/// key at every run (each retry creates a key at the vendor and deletes it again, and
/// mails the same failure every 15 minutes). The next scheduled try waits 1 h after the
/// first failure, doubling with each further one, at most 24 h. `rotate` ignores it.
public struct FailureStreak: Sendable, Equatable {
    /// Failed, rolled-back or needs-a-person runs since the key's last run that ended otherwise
    /// (needs-a-person counts: a create whose answer was lost must not be retried every 15
    /// minutes, each retry a possible orphan key at the vendor).
    public var count: Int
    /// When the newest of them ended.
    public var last: Date

    public static let firstPause: TimeInterval = 3600
    public static let longestPause: TimeInterval = 86_400

    /// The first moment a scheduled rotation may try again.
    public var retryAt: Date {
        last.addingTimeInterval(min(Self.firstPause * pow(2, Double(min(count, 20) - 1)), Self.longestPause))
    }

    /// The streak of every key that has one, from the store's runs (any order).
    public static func streaks(in runs: [RunRecord]) -> [String: FailureStreak] {
        var streaks: [String: FailureStreak] = [:]
        var ended = Set<String>()  // keys whose newest run that ended otherwise was seen
        for run in runs.sorted(by: { $0.started > $1.started }) where !ended.contains(run.key) {
            guard let outcome = run.outcome, let finished = run.finished else { continue }  // still going, or interrupted
            guard outcome == .failed || outcome == .rolledBack || outcome == .needsPerson else {
                ended.insert(run.key)
                continue
            }
            if var streak = streaks[run.key] {
                streak.count += 1
                streaks[run.key] = streak
            } else {
                streaks[run.key] = FailureStreak(count: 1, last: finished)
            }
        }
        return streaks
    }

    /// "its last rotation failed (2 in a row, the newest at …); retried from …".
    public var sentence: String {
        "its last rotation failed (\(count == 1 ? "once" : "\(count) in a row"), the newest at \(DateFormatting.iso8601(last))); the next scheduled try is from \(DateFormatting.iso8601(retryAt)) ('rotor rotate' tries at once)"
    }
}
