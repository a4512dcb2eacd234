import Foundation

/// Finds the needles in one file, read through one buffer it reuses, so that memory stays
/// bounded whatever the file (a line of a gigabyte included). One per scanning thread.
///
/// A candidate is a run of bytes of some needle's alphabet, or the start or the end of such
/// a run (`KEY=value` where `=` is part of a base64 alphabet), of some needle's length; it
/// never spans a line ending. Only candidates are compared or hashed: a text of words and
/// short tokens costs one table lookup per byte.
final class CopyFinder {
    /// One copy: which needle, on which line, at which byte of the file (two windows that
    /// are the same bytes — a run's start and end, two alphabets — are one copy).
    struct Match: Hashable {
        var needle: Int
        /// 1-based.
        var line: Int
        var offset: Int
        var length: Int
    }

    enum Outcome {
        /// `omitted`: copies beyond `maxMatches`, counted and not kept.
        case matches([Match], bytes: Int, omitted: Int)
        /// A NUL among the first 8 KiB (as git and ripgrep decide).
        case binary
        case unreadable(String)
        /// A signal asked rotor to stop (`Interruption`).
        case interrupted
    }

    let needles: ScanNeedles
    /// 1 for a byte of the alphabets' union.
    private let table: UnsafeMutablePointer<UInt8>
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    /// At most this much of a line is carried into the next read; a longer run of alphabet
    /// bytes is cut there, and the last two needle lengths before the cut are searched
    /// again after it, so a copy across the cut is still whole in one search.
    private let carryLimit: Int
    /// File offset of `buffer[0]`.
    private var base = 0
    private var found: Set<Match> = []
    private var omitted = 0

    static let chunkSize = 1 << 20
    /// Copies kept per file: a log with the key on every line is reported, not held whole.
    static let maxMatches = 1_000

    init(_ needles: ScanNeedles) {
        self.needles = needles
        table = .allocate(capacity: 256)
        for byte in 0...255 { table[byte] = needles.union.contains(UInt8(byte)) ? 1 : 0 }
        carryLimit = max(64 << 10, 4 * needles.longest)
        capacity = Self.chunkSize + carryLimit
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        table.deallocate()
        buffer.deallocate()
    }

    /// Reads `descriptor` to its end.
    func scan(_ descriptor: Int32) -> Outcome {
        found = []
        omitted = 0
        base = 0
        var line = 1
        var filled = 0
        var total = 0
        var first = true
        while true {
            if Interruption.shared.requested { return .interrupted }
            let count = read(descriptor, buffer + filled, capacity - filled)
            if count < 0 {
                if errno == EINTR { continue }
                return .unreadable(String(cString: strerror(errno)))
            }
            if first, count > 0 {
                first = false
                if memchr(buffer, 0, min(count, 8192)) != nil { return .binary }
            }
            total += count
            if count == 0 {
                search(0..<filled, line: &line)
                return .matches(found.sorted { ($0.line, $0.offset, $0.needle) < ($1.line, $1.offset, $1.needle) }, bytes: total, omitted: omitted)
            }
            filled += count
            guard filled == capacity else { continue }  // fill the buffer before searching it
            // Search up to the last byte no needle can hold; the rest starts the next read.
            var cut = filled
            let floor = filled - carryLimit
            while cut > floor, table[Int(buffer[cut - 1])] != 0 { cut -= 1 }
            var carryFrom = cut
            if cut == floor {
                // No line ending or other break in the last `carryLimit` bytes (so no line is
                // counted twice): the searches overlap by a needle's length.
                let longest = max(needles.longest, 1)
                cut = filled - longest
                carryFrom = filled - 2 * longest
            }
            search(0..<cut, line: &line)
            memmove(buffer, buffer + carryFrom, filled - carryFrom)
            base += carryFrom
            filled -= carryFrom
        }
    }

    /// Every candidate in `range` of the buffer; `line` is the line at its start, then at its end.
    private func search(_ range: Range<Int>, line: inout Int) {
        let shortest = needles.shortest
        var index = range.lowerBound
        let end = range.upperBound
        while index < end {
            while index < end {
                let byte = buffer[index]
                if table[Int(byte)] != 0 { break }
                if byte == 0x0A { line += 1 }
                index += 1
            }
            let start = index
            while index < end, table[Int(buffer[index])] != 0 { index += 1 }
            if index - start >= shortest { candidates(start..<index, line: line) }
        }
    }

    /// The windows of one run of the union's bytes, per alphabet: within each run of that
    /// alphabet's bytes, each length from its start and from its end.
    private func candidates(_ run: Range<Int>, line: Int) {
        for group in needles.groups {
            if group.isUnion {
                windows(run, group, line: line)
                continue
            }
            var index = run.lowerBound
            while index < run.upperBound {
                while index < run.upperBound, !group.alphabet.contains(buffer[index]) { index += 1 }
                let start = index
                while index < run.upperBound, group.alphabet.contains(buffer[index]) { index += 1 }
                if index - start >= group.shortest { windows(start..<index, group, line: line) }
            }
        }
    }

    private func windows(_ run: Range<Int>, _ group: ScanNeedles.AlphabetGroup, line: Int) {
        for (length, byValue, byFingerprint) in group.lengths {
            guard length <= run.count else { break }
            for start in run.count > length ? [run.lowerBound, run.upperBound - length] : [run.lowerBound] {
                let window = UnsafeBufferPointer(start: buffer + start, count: length)
                for needle in needles.matches(window, byValue: byValue, byFingerprint: byFingerprint) {
                    let match = Match(needle: needle, line: line, offset: base + start, length: length)
                    if found.count < Self.maxMatches || found.contains(match) { found.insert(match) } else { omitted += 1 }
                }
            }
        }
    }
}
