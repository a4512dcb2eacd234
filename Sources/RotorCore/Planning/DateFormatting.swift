import Foundation

/// Dates and ages as rotor prints them: UTC, ISO 8601, and short ages like `95d` or `3h`.
public enum DateFormatting {
    /// `2026-11-26T19:46:00Z`.
    public static func iso8601(_ date: Date) -> String {
        let t = UTCTime(date)
        return "\(pad(t.year, 4))-\(pad(t.month))-\(pad(t.day))T\(pad(t.hour)):\(pad(t.minute)):\(pad(t.second))Z"
    }

    /// `2026-11-26`, for `{date}`.
    public static func day(_ date: Date) -> String {
        let t = UTCTime(date)
        return "\(pad(t.year, 4))-\(pad(t.month))-\(pad(t.day))"
    }

    /// `20261126T194600Z`, for `{timestamp}`.
    public static func compactTimestamp(_ date: Date) -> String {
        let t = UTCTime(date)
        return "\(pad(t.year, 4))\(pad(t.month))\(pad(t.day))T\(pad(t.hour))\(pad(t.minute))\(pad(t.second))Z"
    }

    private static func pad(_ value: Int, _ width: Int = 2) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// The largest whole unit: `95d`, `3h`, `12m`, `40s`.
    public static func age(_ interval: TimeInterval) -> String {
        let seconds = Int(max(interval, 0))
        if seconds >= 86_400 { return "\(seconds / 86_400)d" }
        if seconds >= 3_600 { return "\(seconds / 3_600)h" }
        if seconds >= 60 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

/// The UTC calendar fields of a date, by arithmetic (the days-to-civil algorithm of
/// Howard Hinnant's date library) instead of ICU: `plan` fills `{date}` for every key, and
/// an `ISO8601DateFormatter` per key was 30% of planning 1,000 keys.
struct UTCTime: Equatable {
    var year, month, day, hour, minute, second: Int

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    init(_ date: Date) {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let (days, secondOfDay) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let (dayCount, daySecond) = secondOfDay < 0 ? (days - 1, secondOfDay + 86_400) : (days, secondOfDay)
        let z = dayCount + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        hour = daySecond / 3_600
        minute = daySecond % 3_600 / 60
        second = daySecond % 60
    }
}
