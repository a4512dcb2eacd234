import Crypto

/// One generation of a managed key that `scan` looks for: by its value when rotor can read
/// it from the key's targets (the current generation), else by its fingerprint (every
/// earlier generation: rotor keeps no value).
public struct ScanNeedle: Sendable {
    public enum Generation: String, Sendable, Codable {
        case current, previous
    }

    public var key: String
    public var generation: Generation
    /// The provider's id for it, when rotor recorded one.
    public var generationID: String?
    public var fingerprint: String
    /// The value itself, when known; nil: matched by fingerprint.
    var value: [UInt8]?
    /// The lengths and characters a value of this generation can have (its own when the
    /// value is known; otherwise those of the key's other generations).
    var shapes: [ValueShape]

    public init(key: String, generation: Generation, generationID: String?, value: Secret) {
        self.key = key
        self.generation = generation
        self.generationID = generationID
        self.fingerprint = value.fingerprint
        self.value = Array(value.reveal().utf8)
        self.shapes = [ValueShape(of: self.value!)]
    }

    public init(key: String, generation: Generation, generationID: String?, fingerprint: String, shapes: [ValueShape]) {
        self.key = key
        self.generation = generation
        self.generationID = generationID
        self.fingerprint = fingerprint
        self.value = nil
        self.shapes = shapes
    }
}

/// A value's length and the characters it is made of, by class: any lower-case letter
/// when it has one, any upper-case letter, any digit, and each other byte it holds. A copy
/// is a run of these characters (or the start or end of one) of this length.
public struct ValueShape: Sendable, Hashable {
    public var length: Int
    /// 256 bits: which bytes may be part of a value of this shape.
    var alphabet: ByteSet

    public init(of value: [UInt8]) {
        length = value.count
        var alphabet = ByteSet()
        for byte in value {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): alphabet.insert(UInt8(ascii: "a")...UInt8(ascii: "z"))
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): alphabet.insert(UInt8(ascii: "A")...UInt8(ascii: "Z"))
            case UInt8(ascii: "0")...UInt8(ascii: "9"): alphabet.insert(UInt8(ascii: "0")...UInt8(ascii: "9"))
            default: alphabet.insert(byte)
            }
        }
        // A line ending is never part of a copy: a value split across lines is not one.
        alphabet.remove(UInt8(ascii: "\n"))
        alphabet.remove(UInt8(ascii: "\r"))
        self.alphabet = alphabet
    }
}

extension ValueShape {
    /// How the audit log records it (`new_shape`, `old_shape`), so that an earlier generation
    /// is looked for with its own shape: `40:0Aa+2d5f` — the length, `0`, `A`, `a` for the
    /// classes, then `+` and each other byte in hex. Says no more of a value than its
    /// length and which characters it draws from.
    public var recorded: String {
        var classes = ""
        var others: [UInt8] = []
        for byte in 0...255 where alphabet.contains(UInt8(byte)) {
            switch UInt8(byte) {
            case UInt8(ascii: "a"): classes += "a"
            case UInt8(ascii: "A"): classes += "A"
            case UInt8(ascii: "0"): classes += "0"
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): break
            default: others.append(UInt8(byte))
            }
        }
        return "\(length):\(classes)" + (others.isEmpty ? "" : "+" + Fingerprint.hex(others))
    }

    /// A shape as `recorded` writes it; nil for anything else (an edited audit log).
    public init?(recorded text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let length = Int(parts[0]), (1...4096).contains(length) else { return nil }
        let pieces = parts[1].split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)
        var alphabet = ByteSet()
        for character in pieces[0] {
            switch character {
            case "a": alphabet.insert(UInt8(ascii: "a")...UInt8(ascii: "z"))
            case "A": alphabet.insert(UInt8(ascii: "A")...UInt8(ascii: "Z"))
            case "0": alphabet.insert(UInt8(ascii: "0")...UInt8(ascii: "9"))
            default: return nil
            }
        }
        if pieces.count == 2 {
            let hex = Array(pieces[1].utf8)
            guard !hex.isEmpty, hex.count % 2 == 0 else { return nil }
            for index in stride(from: 0, to: hex.count, by: 2) {
                guard let byte = UInt8(String(decoding: hex[index..<index + 2], as: UTF8.self), radix: 16),
                      byte != 0x0A, byte != 0x0D else { return nil }
                alphabet.insert(byte)
            }
        }
        self.length = length
        self.alphabet = alphabet
    }
}

extension ValueShape {
    /// The same length, with `bytes` among its characters too.
    func widened(by bytes: String) -> ValueShape {
        var shape = self
        for byte in bytes.utf8 { shape.alphabet.insert(byte) }
        return shape
    }
}

/// A set of bytes, four words wide.
struct ByteSet: Sendable, Hashable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    func contains(_ byte: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(byte & 63)
        switch byte >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    mutating func insert(_ byte: UInt8) {
        let bit = UInt64(1) << UInt64(byte & 63)
        switch byte >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    mutating func insert(_ bytes: ClosedRange<UInt8>) { bytes.forEach { insert($0) } }

    mutating func remove(_ byte: UInt8) {
        let bit = ~(UInt64(1) << UInt64(byte & 63))
        switch byte >> 6 {
        case 0: words.0 &= bit
        case 1: words.1 &= bit
        case 2: words.2 &= bit
        default: words.3 &= bit
        }
    }

    func union(_ other: ByteSet) -> ByteSet {
        var result = self
        result.words = (words.0 | other.words.0, words.1 | other.words.1, words.2 | other.words.2, words.3 | other.words.3)
        return result
    }

    static func == (lhs: ByteSet, rhs: ByteSet) -> Bool {
        lhs.words == rhs.words
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// Every needle of a scan, arranged for `CopyFinder`: candidate windows are narrowed by the
/// needles' alphabets and lengths, then compared byte for byte (values) or hashed with
/// SHA-256 (fingerprints). A window is reported only when it is exactly a needle's value,
/// or hashes to a needle's fingerprint: no pattern, no guess.
public struct ScanNeedles: Sendable {
    public let needles: [ScanNeedle]

    /// The needles that share one alphabet, with the lengths to try.
    struct AlphabetGroup: Sendable {
        var alphabet: ByteSet
        var isUnion: Bool
        var shortest: Int
        /// Each length to try, and whether any value (`byValue`) or fingerprint
        /// (`byFingerprint`) needle of the group has it.
        var lengths: [(length: Int, byValue: Bool, byFingerprint: Bool)]
    }

    let groups: [AlphabetGroup]
    /// Bytes of any group's alphabet: a byte outside it always ends a candidate.
    let union: ByteSet
    /// The shortest length of any needle: shorter runs are skipped at once.
    let shortest: Int
    let longest: Int
    /// Value needles by length and FNV-1a hash of their bytes.
    let values: [Int: [UInt64: [Int]]]
    /// Fingerprint needles by the 48 bits their fingerprint shows.
    let fingerprints: [UInt64: [Int]]

    public init(_ needles: [ScanNeedle]) {
        self.needles = needles
        var byAlphabet: [ByteSet: [Int: (Bool, Bool)]] = [:]
        var values: [Int: [UInt64: [Int]]] = [:]
        var fingerprints: [UInt64: [Int]] = [:]
        for (index, needle) in needles.enumerated() {
            if let value = needle.value {
                values[value.count, default: [:]][Self.hash(value[...]), default: []].append(index)
            } else if let bits = Self.fingerprintBits(needle.fingerprint) {
                fingerprints[bits, default: []].append(index)
            } else {
                continue
            }
            for shape in needle.shapes where shape.length > 0 {
                var entry = byAlphabet[shape.alphabet, default: [:]][shape.length] ?? (false, false)
                if needle.value != nil { entry.0 = true } else { entry.1 = true }
                byAlphabet[shape.alphabet, default: [:]][shape.length] = entry
            }
        }
        let union = byAlphabet.keys.reduce(ByteSet()) { $0.union($1) }
        groups = byAlphabet.map { alphabet, lengths in
            let sorted = lengths.keys.sorted()
            return AlphabetGroup(alphabet: alphabet, isUnion: alphabet == union, shortest: sorted.first ?? 0,
                                 lengths: sorted.map { ($0, lengths[$0]!.0, lengths[$0]!.1) })
        }
        self.union = union
        self.values = values
        self.fingerprints = fingerprints
        shortest = groups.map(\.shortest).min() ?? 0
        longest = groups.flatMap { $0.lengths.map(\.length) }.max() ?? 0
    }

    public var isEmpty: Bool { groups.isEmpty }

    /// FNV-1a, 64 bits: a first sieve before comparing bytes.
    static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    /// The 48 bits `sha256:` + 12 hex digits stand for; nil for anything else.
    static func fingerprintBits(_ fingerprint: String) -> UInt64? {
        guard fingerprint.hasPrefix("sha256:") else { return nil }
        let digits = fingerprint.dropFirst(7)
        guard digits.count == 12 else { return nil }
        return UInt64(digits, radix: 16)
    }

    /// The needles `window` is: the value needles whose bytes it equals, or the fingerprint
    /// needles its SHA-256 starts with.
    func matches(_ window: UnsafeBufferPointer<UInt8>, byValue: Bool, byFingerprint: Bool) -> [Int] {
        var found: [Int] = []
        if byValue, let candidates = values[window.count]?[Self.hash(window)] {
            found += candidates.filter { needles[$0].value!.elementsEqual(window) }
        }
        if byFingerprint {
            var sha = SHA256()
            sha.update(bufferPointer: UnsafeRawBufferPointer(window))
            let bits = sha.finalize().withUnsafeBytes { digest in
                digest.prefix(6).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            }
            if let candidates = fingerprints[bits] { found += candidates }
        }
        return found
    }
}
