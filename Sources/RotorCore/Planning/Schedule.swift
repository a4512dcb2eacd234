import Foundation

/// Whether a key is due, and why.
enum Schedule {
    struct Evaluation {
        var due: Bool
        var reason: String
        var nextDue: Date?
    }

    /// `streak`: the key's failed rotations in a row. With `backoffHolds` (`rotor run`) a
    /// scheduled rotation waits out its backoff (`FailureStreak.retryAt`); otherwise (`plan`,
    /// whose saved plan `apply` rotates at once) the key stays due and the reason says when
    /// `run` would try. A forced or emergency rotation is never held.
    static func evaluate(_ key: KeyPolicy, state: KeyState, now: Date, force: Bool, emergency: Bool,
                         streak: FailureStreak? = nil, backoffHolds: Bool = false) -> Evaluation {
        var evaluation = evaluate(key, state: state, now: now, force: force, emergency: emergency)
        // A failure stamped after `now` (a clock set forward, then back) holds nothing back:
        // it would otherwise hold the key until that time, however overdue.
        guard evaluation.due, !force, !emergency, let streak, streak.last <= now, streak.retryAt > now else { return evaluation }
        guard backoffHolds else {
            evaluation.reason += "; \(streak.sentence)"
            return evaluation
        }
        return Evaluation(due: false, reason: "\(evaluation.reason), but \(streak.sentence)", nextDue: streak.retryAt)
    }

    private static func evaluate(_ key: KeyPolicy, state: KeyState, now: Date, force: Bool, emergency: Bool) -> Evaluation {
        if emergency { return Evaluation(due: true, reason: "emergency rotation requested", nextDue: nil) }
        guard let current = state.current else {
            // The window holds for a key's first scheduled rotation too: the first cron run
            // must not rotate every key at once, outside every window (issue 19).
            return outsideWindow(key, reason: "never rotated by rotor", now: now, force: force) ?? Evaluation(due: true, reason: "never rotated by rotor", nextDue: nil)
        }
        let age = now.timeIntervalSince(current.created)
        let ageText = DateFormatting.age(age)
        guard let every = key.every else {
            return force
                ? Evaluation(due: true, reason: "rotation requested (current generation is \(ageText) old; no schedule)", nextDue: nil)
                : Evaluation(due: false, reason: "rotated on demand only (no 'every'); current generation is \(ageText) old", nextDue: nil)
        }
        let nextDue = current.created.addingTimeInterval(every.timeInterval)
        if nextDue <= now {
            let reason = "current generation is \(ageText) old (every \(every))"
            return outsideWindow(key, reason: reason, now: now, force: force) ?? Evaluation(due: true, reason: reason, nextDue: nextDue)
        }
        if force {
            return Evaluation(due: true, reason: "rotation requested (current generation is \(ageText) old; due \(DateFormatting.day(nextDue)))", nextDue: nextDue)
        }
        return Evaluation(due: false, reason: "current generation is \(ageText) old; due in \(DateFormatting.age(nextDue.timeIntervalSince(now))) (\(DateFormatting.day(nextDue)))", nextDue: nextDue)
    }
}

extension Schedule {
    /// Not due yet when a scheduled rotation falls outside the key's window (a person's
    /// `rotate` is not held); nil when it may go now.
    private static func outsideWindow(_ key: KeyPolicy, reason: String, now: Date, force: Bool) -> Evaluation? {
        guard !force, let window = key.window, !window.contains(now) else { return nil }
        let opens = window.nextOpening(after: now)
        return Evaluation(due: false, reason: "\(reason), but outside its window '\(window)'; waits until \(opens.map(DateFormatting.iso8601) ?? "the window opens")", nextDue: opens)
    }
}

extension RotationWindow {
    /// The first minute at or after `date` inside the window (within 8 days).
    func nextOpening(after date: Date) -> Date? {
        let start = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.up) * 60)
        for minute in 0..<(8 * 24 * 60) {
            let candidate = start.addingTimeInterval(Double(minute) * 60)
            if contains(candidate) { return candidate }
        }
        return nil
    }
}
