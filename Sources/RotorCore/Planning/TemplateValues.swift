import Foundation

/// The values templates are filled with that do not depend on the new generation.
enum TemplateValues {
    static func context(key: String, now: Date) -> [Placeholder: String] {
        context(key: key, dated: dated(now))
    }

    /// `context` with the date placeholders made once, for many keys planned at one time.
    static func context(key: String, dated: [Placeholder: String]) -> [Placeholder: String] {
        var values = dated
        values[.key] = key
        return values
    }

    static func dated(_ now: Date) -> [Placeholder: String] {
        [.date: DateFormatting.day(now), .timestamp: DateFormatting.compactTimestamp(now)]
    }
}
