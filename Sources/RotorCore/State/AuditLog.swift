import Crypto
import Foundation

/// One entry of the audit log: who (user, host), what, when, with fingerprints only.
/// Entries are hash-chained: each hash covers the entry and the previous hash, so an
/// edited, reordered or deleted entry breaks the chain where it happened.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var sequence: Int
    public var at: Date
    public var user: String
    public var host: String
    public var key: String
    /// rotate, recover, rollback, delete-pending, sync, break-glass…
    public var action: String
    public var outcome: String
    public var emergency: Bool
    public var runID: String?
    public var detail: String
    /// Fingerprints and ids: `new_fingerprint`, `old_id`…
    public var data: [String: String]
    public var previousHash: String
    public var hash: String

    public init(at: Date, key: String, action: String, outcome: String, emergency: Bool = false, runID: String? = nil,
                detail: String, data: [String: String] = [:]) {
        self.sequence = 0
        self.at = at
        self.user = CurrentUser.name
        self.host = ProcessInfo.processInfo.hostName
        self.key = key
        self.action = action
        self.outcome = outcome
        self.emergency = emergency
        self.runID = runID
        // The chain cannot be scrubbed afterwards without breaking it: redacted going in.
        self.detail = Redactor.known(detail)
        self.data = data
        self.previousHash = ""
        self.hash = ""
    }

    enum CodingKeys: String, CodingKey {
        case sequence, at, user, host, key, action, outcome, emergency, detail, data, hash
        case runID = "run"
        case previousHash = "previous_hash"
    }

    /// SHA-256 over the previous hash and every field but the hash itself, in a fixed order.
    public func computedHash() -> String {
        let fields: [String] = [
            previousHash, String(sequence), String(at.timeIntervalSince1970), user, host, key, action, outcome, String(emergency),
            runID ?? "", detail, data.keys.sorted().map { "\($0)=\(data[$0] ?? "")" }.joined(separator: "\u{1F}"),
        ]
        let digest = SHA256.hash(data: Data(fields.joined(separator: "\u{1E}").utf8))
        return digest.withUnsafeBytes { Fingerprint.hex($0) }
    }

    /// Where the chain breaks, or nil when every entry is intact and in order.
    public static func verify(_ entries: [AuditEntry]) -> String? {
        var previous = ""
        for (position, entry) in entries.enumerated() {
            if entry.sequence != position + 1 {
                return "entry \(position + 1) is missing or out of order (found entry \(entry.sequence) in its place): entries were deleted or reordered"
            }
            if entry.previousHash != previous {
                return "entry \(entry.sequence) does not follow entry \(entry.sequence - 1): the chain was cut or reordered there"
            }
            if entry.computedHash() != entry.hash {
                return "entry \(entry.sequence) (\(entry.action) of '\(entry.key)' at \(DateFormatting.iso8601(entry.at))) was edited after it was written"
            }
            previous = entry.hash
        }
        return nil
    }
}

/// Who is running rotor, for runs and the audit log: the person behind sudo if any,
/// else the account (cron has no USER variable, so it is looked up).
enum CurrentUser {
    static var name: String {
        ProcessInfo.processInfo.environment["SUDO_USER"] ?? NSUserName()
    }
}
