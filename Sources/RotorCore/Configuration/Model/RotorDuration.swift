/// A duration written as `2w`, `90d`, `12h`, `30m`, `45s`, `0s` or a sum of them
/// (`1h30m`), largest unit first; printed back without weeks (`14d`).
public struct RotorDuration: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var seconds: Int64

    public init(seconds: Int64) { self.seconds = seconds }

    private static let units: [(suffix: Character, seconds: Int64)] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]
    private static let parsedUnits = [(suffix: Character("w"), seconds: Int64(604_800))] + units

    /// Parses the text; nil when it is not a duration.
    public init?(parsing text: String) {
        var total: Int64 = 0
        var digits = ""
        var sawUnit = false
        var lastUnitRank = -1
        for character in text {
            if character.isASCII, character.isNumber {
                digits.append(character)
                guard digits.count <= 9 else { return nil }
                continue
            }
            guard let rank = Self.parsedUnits.firstIndex(where: { $0.suffix == character }),
                  !digits.isEmpty, rank > lastUnitRank, let value = Int64(digits)
            else { return nil }
            total += value * Self.parsedUnits[rank].seconds
            digits = ""
            sawUnit = true
            lastUnitRank = rank
        }
        // What prints back must parse again: its days, the largest unit printed, fit in the
        // 9 digits a number may have (found by the fuzzer: "981703445w" printed as
        // "6871924115d", which is refused).
        guard sawUnit, digits.isEmpty, total / 86_400 <= 999_999_999 else { return nil }
        self.seconds = total
    }

    public var timeInterval: Double { Double(seconds) }

    public var description: String {
        guard seconds > 0 else { return "0s" }
        var rest = seconds
        var text = ""
        for unit in Self.units where rest >= unit.seconds {
            text += "\(rest / unit.seconds)\(unit.suffix)"
            rest %= unit.seconds
        }
        return text
    }

    public static func < (lhs: RotorDuration, rhs: RotorDuration) -> Bool { lhs.seconds < rhs.seconds }

    public static let zero = RotorDuration(seconds: 0)
}
