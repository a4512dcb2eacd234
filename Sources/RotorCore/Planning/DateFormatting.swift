import Foundation

/// Dates and ages as rotor prints them: UTC, ISO 8601, and short ages like `95d` or `3h`.
public enum DateFormatting {
    public static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// `2026-11-26`, for `{date}`.
    public static func day(_ date: Date) -> String {
        String(iso8601(date).prefix(10))
    }

    /// `20261126T194600Z`, for `{timestamp}`.
    public static func compactTimestamp(_ date: Date) -> String {
        iso8601(date).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
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
