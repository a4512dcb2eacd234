import Foundation

/// Something a person must still do after an operation (outcome `needs-person`): one
/// sentence for the report, and a kind that code branches on instead of the sentence.
public struct PendingAction: Sendable, Equatable, Encodable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A target could not be put back: it may hold a generation that is gone.
        case restoreTarget
        /// A generation is still at the provider and must be deleted there.
        case deleteGeneration
        /// A generation may exist at the provider (a create whose answer was lost).
        case checkProvider
        /// A consumer did not come back healthy after its targets were restored.
        case checkConsumer
        /// An interrupted run waits for `rotor recover`.
        case recoverRun
        /// The state store or the audit log needs a look.
        case checkState
        /// A due `manual` key: only a person can give its new secret (`rotor rotate KEY`).
        case rotateByHand
        /// A person deletes an old `manual` key in the console, then runs `rotor confirm KEY`.
        case confirmDeletion
    }

    public var kind: Kind
    public var text: String

    public init(_ kind: Kind, _ text: String) {
        self.kind = kind
        self.text = text
    }

    public var description: String { text }

    /// In JSON a pending action is its sentence, as it always was.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}
