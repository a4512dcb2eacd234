import Foundation

extension Template {
    /// The placeholders' values in `value` when it reads as this template filled in
    /// (`postgres://{id}:{secret}@db/app` against `postgres://app_blue:Xy…@db/app` gives
    /// `id` and `secret`), else nil. Each placeholder stands for one or more characters,
    /// the same ones wherever it appears again; the shortest reading wins where several fit.
    /// Lets rotor compare, adopt and read back a target whose value mixes a generation with
    /// other text, as it does one that holds only `{secret}` or `{id}`.
    public func extract(from value: String) -> [Placeholder: String]? {
        var pattern = "^"
        var groups: [Placeholder: Int] = [:]
        for part in parts {
            switch part {
            case .literal(let text): pattern += NSRegularExpression.escapedPattern(for: text)
            case .placeholder(let placeholder):
                if let group = groups[placeholder] {
                    pattern += "\\\(group)"
                } else {
                    groups[placeholder] = groups.count + 1
                    pattern += "(.+?)"
                }
            }
        }
        pattern += "$"
        guard let expression = try? NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators]) else { return nil }
        let range = NSRange(value.startIndex..., in: value)
        guard let match = expression.firstMatch(in: value, options: [.anchored], range: range) else { return nil }
        var values: [Placeholder: String] = [:]
        for (placeholder, group) in groups {
            guard let captured = Range(match.range(at: group), in: value) else { return nil }
            values[placeholder] = String(value[captured])
        }
        return values
    }
}
