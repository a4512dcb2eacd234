import Foundation

/// One generation of a key as the state store records it: public id and fingerprint only.
public struct GenerationRecord: Sendable, Equatable, Codable {
    public var id: String
    public var fingerprint: String
    public var created: Date
    /// For a previous generation kept through its grace period: when it may be deleted.
    public var pendingDeletionAt: Date?
    /// For a previous generation: the last time a run saw it in use (a database role with
    /// open sessions), for `delete_when_unused_for` with providers that keep no record.
    public var lastSeenInUse: Date?

    public init(id: String, fingerprint: String, created: Date, pendingDeletionAt: Date? = nil, lastSeenInUse: Date? = nil) {
        self.id = id
        self.fingerprint = fingerprint
        self.created = created
        self.pendingDeletionAt = pendingDeletionAt
        self.lastSeenInUse = lastSeenInUse
    }

    /// `snake_case` like every JSON key rotor writes (issue 19); stores and journals written
    /// before still say `pendingDeletionAt`, which is read too.
    enum CodingKeys: String, CodingKey {
        case id, fingerprint, created
        case pendingDeletionAt = "pending_deletion_at"
        case legacyPendingDeletionAt = "pendingDeletionAt"
        case lastSeenInUse = "last_seen_in_use"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(fingerprint, forKey: .fingerprint)
        try container.encode(created, forKey: .created)
        try container.encodeIfPresent(pendingDeletionAt, forKey: .pendingDeletionAt)
        try container.encodeIfPresent(lastSeenInUse, forKey: .lastSeenInUse)
    }

    /// Read back from the state store: a record that could not have been written (no id,
    /// not a fingerprint, a time outside 1970–2286) is an error, never a value to act on.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try container.decode(String.self, forKey: .id), fingerprint: try container.decode(String.self, forKey: .fingerprint),
                  created: try container.decode(Date.self, forKey: .created),
                  pendingDeletionAt: try container.decodeIfPresent(Date.self, forKey: .pendingDeletionAt)
                    ?? container.decodeIfPresent(Date.self, forKey: .legacyPendingDeletionAt),
                  lastSeenInUse: try container.decodeIfPresent(Date.self, forKey: .lastSeenInUse))
        if let problem {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath, debugDescription: problem))
        }
    }

    /// Why this record cannot be one rotor wrote, or nil.
    var problem: String? {
        if id.isEmpty { return "a generation without an id" }
        if !Self.isFingerprint(fingerprint) { return "'\(ControlCharacters.escapeLine(fingerprint))' is not a fingerprint" }
        for date in [created, pendingDeletionAt, lastSeenInUse].compactMap({ $0 }) where !(0...1e10).contains(date.timeIntervalSince1970) {
            return "a time outside 1970–2286"
        }
        return nil
    }

    /// `sha256:` and 12 lowercase hex digits, as `Fingerprint.of` writes.
    static func isFingerprint(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == 19 && text.hasPrefix("sha256:") && bytes[7...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// What the state store knows about one key. A key with no state has never been
/// rotated by rotor, and is due.
public struct KeyState: Sendable, Equatable {
    public var current: GenerationRecord?
    public var previous: GenerationRecord?

    public init(current: GenerationRecord? = nil, previous: GenerationRecord? = nil) {
        self.current = current
        self.previous = previous
    }
}
