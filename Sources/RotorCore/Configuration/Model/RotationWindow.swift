import Foundation

/// When scheduled rotation may happen, e.g. `Mon-Fri 09:00-17:00 UTC`.
///
/// Forms: `[DAYS] HH:MM-HH:MM [ZONE]`, where DAYS is `Mon-Fri`, `Sat,Sun`, `Mon` or
/// omitted (every day) and ZONE is `UTC` (the default) or an IANA name such as
/// `Europe/Berlin`. A range that ends before it starts runs past midnight.
public struct RotationWindow: Hashable, Sendable, CustomStringConvertible {
    /// Weekdays as Calendar numbers: 1 = Sunday … 7 = Saturday.
    public var weekdays: Set<Int>
    /// Minutes after midnight.
    public var startMinute: Int
    public var endMinute: Int
    public var timeZoneIdentifier: String
    public var source: String

    public var description: String { source }

    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    /// Parses the text, or returns a message that says what is wrong.
    public static func parse(_ text: String) -> Result<RotationWindow, WindowError> {
        var words = text.split(separator: " ").map(String.init)
        guard !words.isEmpty else { return .failure(WindowError("a window needs a time range such as 'Mon-Fri 09:00-17:00 UTC'")) }
        var zone = "UTC"
        if let last = words.last, TimeZone(identifier: last) != nil, !last.contains(":") {
            zone = last
            words.removeLast()
        }
        var weekdays = Set(1...7)
        if words.count == 2 {
            switch parseDays(words[0]) {
            case .success(let days): weekdays = days
            case .failure(let error): return .failure(error)
            }
            words.removeFirst()
        }
        guard words.count == 1 else {
            return .failure(WindowError("cannot read window '\(text)'; expected e.g. 'Mon-Fri 09:00-17:00 UTC'"))
        }
        let range = words[0].split(separator: "-", omittingEmptySubsequences: false)
        guard range.count == 2, let start = minutes(range[0]), let end = minutes(range[1]) else {
            return .failure(WindowError("cannot read time range '\(words[0])'; expected HH:MM-HH:MM, e.g. 09:00-17:00"))
        }
        guard start != end else { return .failure(WindowError("window '\(words[0])' is empty: it starts and ends at the same time")) }
        return .success(RotationWindow(weekdays: weekdays, startMinute: start, endMinute: end, timeZoneIdentifier: zone, source: text))
    }

    public struct WindowError: Error, Equatable {
        public var message: String
        init(_ message: String) { self.message = message }
    }

    private static func parseDays(_ text: String) -> Result<Set<Int>, WindowError> {
        var days = Set<Int>()
        for item in text.split(separator: ",") {
            let bounds = item.split(separator: "-").map { $0.lowercased() }
            let numbers = bounds.compactMap { name in dayNames.firstIndex(of: String(name.prefix(3))).map { $0 + 1 } }
            guard numbers.count == bounds.count, (1...2).contains(numbers.count),
                  bounds.allSatisfy({ $0.count >= 3 && dayNames.contains(String($0.prefix(3))) })
            else {
                return .failure(WindowError("unknown day '\(item)'; use Mon, Tue, Wed, Thu, Fri, Sat, Sun or a range like Mon-Fri"))
            }
            if numbers.count == 1 {
                days.insert(numbers[0])
            } else {
                var day = numbers[0]
                while true {
                    days.insert(day)
                    if day == numbers[1] { break }
                    day = day % 7 + 1
                }
            }
        }
        return .success(days)
    }

    private static func minutes(_ text: Substring) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              let hour = Int(parts[0]), let minute = Int(parts[1]),
              (0...24).contains(hour), (0..<60).contains(minute), hour * 60 + minute <= 24 * 60
        else { return nil }
        return hour * 60 + minute
    }

    /// Whether `date` falls inside the window.
    public func contains(_ date: Date) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZoneIdentifier) ?? TimeZone(secondsFromGMT: 0)!
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let weekday = parts.weekday ?? 1
        if startMinute < endMinute {
            return weekdays.contains(weekday) && minute >= startMinute && minute < endMinute
        }
        // Past midnight: the evening part belongs to the listed day, the morning part to the day before.
        let previous = (weekday + 5) % 7 + 1
        return (weekdays.contains(weekday) && minute >= startMinute) || (weekdays.contains(previous) && minute < endMinute)
    }
}
