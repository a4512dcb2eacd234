import Foundation

/// One generation of a key as the state store records it: public id and fingerprint only.
public struct GenerationRecord: Sendable, Equatable, Codable {
    public var id: String
    public var fingerprint: String
    public var created: Date
    /// For a previous generation kept through its grace period: when it may be deleted.
    public var pendingDeletionAt: Date?

    public init(id: String, fingerprint: String, created: Date, pendingDeletionAt: Date? = nil) {
        self.id = id
        self.fingerprint = fingerprint
        self.created = created
        self.pendingDeletionAt = pendingDeletionAt
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
