import Foundation

/// "Did you mean …?" for misspelled names.
enum Suggestion {
    /// The candidate closest to `word`, if it is close enough to be a likely typo.
    ///
    /// Each call compares `word` with every candidate; a mass rename (thousands of
    /// consumers naming thousands of keys that do not exist) made that quadratic — 80 s
    /// for 8,000 errors (#18). So suggestions draw on one budget of comparisons per
    /// process: once it is spent, errors come without "did you mean", and validation
    /// stays linear in the number of errors.
    static func closest(to word: String, in candidates: some Collection<String>) -> String? {
        guard Budget.take(candidates.count) else { return nil }
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

    /// Comparisons left for suggestions in this process.
    private enum Budget {
        private static let lock = NSLock()
        nonisolated(unsafe) private static var left = 100_000

        static func take(_ count: Int) -> Bool {
            lock.withLock {
                guard left >= count else { return false }
                left -= count
                return true
            }
        }
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
