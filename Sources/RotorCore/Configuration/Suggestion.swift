/// "Did you mean …?" for misspelled names.
enum Suggestion {
    /// The candidate closest to `word`, if it is close enough to be a likely typo.
    static func closest(to word: String, in candidates: some Collection<String>) -> String? {
        let lowered = word.lowercased()
        let allowed = max(1, min(3, word.count / 3))
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            // Edit distance is at least the difference in length: most candidates stop here.
            guard abs(candidate.count - word.count) <= allowed else { continue }
            let distance = editDistance(lowered, candidate.lowercased())
            if distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        guard let best else { return nil }
        return best.distance <= allowed ? best.name : nil
    }

    /// " (did you mean 'x'?)" or "".
    static func didYouMean(_ word: String, in candidates: some Collection<String>, quote: (String) -> String = { "'\($0)'" }) -> String {
        closest(to: word, in: candidates).map { " (did you mean \(quote($0))?)" } ?? ""
    }

    /// Levenshtein distance, with a transposition counted as one edit.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previousPrevious[j - 2] + 1)
                }
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}

/// "Did you mean" for references between files (a consumer's key, a key's provider): many
/// errors may name the same unknown, and a mass rename makes thousands of distinct ones,
/// each compared with every declared name — 80 s for 8,000 errors (#18). So answers are
/// kept per name, and the comparisons one load spends on them are bounded; beyond that,
/// errors come without a suggestion and validation stays linear in the number of errors.
struct ReferenceSuggestions {
    private var answers: [String: String] = [:]
    private var comparisonsLeft: Int

    init(comparisons: Int = 100_000) { comparisonsLeft = comparisons }

    mutating func didYouMean(_ word: String, in candidates: some Collection<String>) -> String {
        if let known = answers[word] { return known }
        guard comparisonsLeft >= candidates.count else { return "" }
        comparisonsLeft -= candidates.count
        let answer = Suggestion.didYouMean(word, in: candidates)
        answers[word] = answer
        return answer
    }
}
