import Crypto
import Foundation

/// One entry of the audit log: who (user, host), what, when, with fingerprints only.
/// Entries are hash-chained: each hash covers the entry and the previous hash, so an
/// edited, reordered or deleted entry breaks the chain where it happened.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var sequence: Int
    public var at: Date
    /// The account that ran rotor (its real uid's name): what the system vouches for.
    public var user: String
    /// `SUDO_USER` when rotor ran under sudo: the person the environment names, a claim
    /// anyone who can set variables could make — recorded beside the account, never as it.
    public var sudoUser: String?
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
        self.user = CurrentUser.account
        self.sudoUser = CurrentUser.sudoClaim
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
        case sudoUser = "sudo_user"
        case runID = "run"
        case previousHash = "previous_hash"
    }

    /// SHA-256 over the previous hash and every field but the hash itself, in a fixed order.
    public func computedHash() -> String {
        let fields: [String] = [
            previousHash, String(sequence), String(at.timeIntervalSince1970), user, host, key, action, outcome, String(emergency),
            runID ?? "", detail, data.keys.sorted().map { "\($0)=\(data[$0] ?? "")" }.joined(separator: "\u{1F}"),
        ] + (sudoUser.map { ["sudo_user=" + $0] } ?? [])  // absent from entries written before it existed
        let digest = SHA256.hash(data: Data(fields.joined(separator: "\u{1E}").utf8))
        return digest.withUnsafeBytes { Fingerprint.hex($0) }
    }

    /// This entry chained after `last` (the log's newest entry, nil for the first). A last
    /// sequence rotor could never have written (at the top of its range: found by an
    /// attacker, the increment trapped) is damage, not a crash.
    func chained(after last: AuditEntry?) throws -> AuditEntry {
        let lastSequence = last?.sequence ?? 0
        guard lastSequence >= 0, lastSequence < Int.max else {
            throw AuditLogDamaged(description: "the newest audit entry has sequence \(lastSequence), which rotor never writes: the audit log was edited; 'rotor history --verify' says where")
        }
        var chained = self
        chained.sequence = lastSequence + 1
        chained.previousHash = last?.hash ?? ""
        chained.hash = chained.computedHash()
        return chained
    }

    /// The same event as `other`: every field but the chain's (sequence and hashes). An
    /// append repeated after a lost answer looks for its entry with this.
    func isSameEvent(as other: AuditEntry) -> Bool {
        var chainless = other
        chainless.sequence = sequence
        chainless.previousHash = previousHash
        chainless.hash = hash
        // Compared as stored: a date read back from its JSON may differ in its last bit.
        return (try? StateCoding.encode(chainless)) == (try? StateCoding.encode(self))
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
                return "entry \(entry.sequence) (\(ControlCharacters.escapeLine(entry.action)) of '\(ControlCharacters.escapeLine(entry.key))' at \(DateFormatting.iso8601(entry.at))) was edited after it was written"
            }
            previous = entry.hash
        }
        return nil
    }
}

extension AuditEntry {
    /// The chain's head as it is published (metrics, webhooks, the report page) and checked
    /// (`history --verify --head`): `SEQUENCE:HASH` of the newest entry.
    static func head(of entries: [AuditEntry]) -> String? {
        entries.last.map { "\($0.sequence):\($0.hash)" }
    }

    /// Whether `entries` still hold the head published earlier; nil when they do. A chain
    /// that verifies can still have lost its newest entries, or been rewritten whole.
    static func check(_ entries: [AuditEntry], against head: (sequence: Int, hash: String)) -> String? {
        guard let entry = entries.first(where: { $0.sequence == head.sequence }) else {
            return "the log ends at entry \(entries.last?.sequence ?? 0), before the published head \(head.sequence): its newest entries were deleted"
        }
        guard entry.hash == head.hash else {
            return "entry \(head.sequence) is not the one published (\(head.hash.prefix(12))…): the log was rewritten from there or before"
        }
        return nil
    }

    /// `SEQUENCE:HASH` read strictly, or nil.
    public static func parseHead(_ text: String) -> (sequence: Int, hash: String)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let sequence = Int(parts[0]), sequence > 0, parts[1].count == 64,
              parts[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        return (sequence, String(parts[1]))
    }

    /// What the runs and key states say the log must hold (nil when it does): the chain
    /// alone cannot show a cut tail, a log emptied whole, or one deleted with its runs.
    static func crossCheck(_ entries: [AuditEntry], runs: [RunRecord], states: [String: KeyState]) -> String? {
        missingEntries(entries, runs: runs) ?? unauditedGenerations(entries, states: states)
    }

    /// Every current generation was made by a run whose audit entry names it (`new_id`):
    /// one that none names means entries were deleted with their runs. nil when all are.
    static func unauditedGenerations(_ entries: [AuditEntry], states: [String: KeyState]) -> String? {
        let named = Set(entries.compactMap { $0.data["new_id"] })
        let missing = states.filter { $0.value.current.map { !named.contains($0.id) } ?? false }.keys.sorted()
        guard let first = missing.first, let id = states[first]?.current?.id else { return nil }
        return "the audit log names no rotation to the current generation of \(missing.count) key\(missing.count == 1 ? "" : "s") ('\(first)': \(id)"
            + (missing.count == 1 ? "" : ", and others") + "): entries were deleted"
    }

    /// Every finished run leaves an audit entry naming it (rotate, recover, rollback…): a
    /// finished run with none means entries were deleted — the chain alone cannot show a
    /// cut tail, or a log emptied whole. nil when every finished run has one.
    static func missingEntries(_ entries: [AuditEntry], runs: [RunRecord]) -> String? {
        let audited = Set(entries.compactMap(\.runID))
        let missing = runs.filter { $0.outcome != nil && !audited.contains($0.id) }.sorted { $0.started < $1.started }
        guard let newest = missing.last else { return nil }
        return "the audit log has no entry for \(missing.count) finished run\(missing.count == 1 ? "" : "s") (\(newest.id), of '\(newest.key)'"
            + (missing.count == 1 ? "" : ", the newest") + "): entries were deleted"
    }
}

/// An audit row that is not an entry of the chain: `history --verify` names it as the
/// place the log is broken (a row is never skipped — a garbage last row must not pass).
public struct AuditLogDamaged: Error, CustomStringConvertible, Sendable {
    public var description: String
}

extension AuditEntry {
    /// One stored row, read strictly: its entry must decode and carry the row's sequence.
    static func decodeRow(sequence: Int?, entry text: String?, position: Int, notText: Bool = false) throws(AuditLogDamaged) -> AuditEntry {
        let row = sequence.map { "row \($0)" } ?? "row \(position) (no sequence)"
        guard !notText else { throw AuditLogDamaged(description: "audit \(row) holds something that is not text") }
        guard let text else { throw AuditLogDamaged(description: "audit \(row) has no entry") }
        let decoded: AuditEntry?
        do { decoded = try StateCoding.decode(text, as: AuditEntry.self, what: "audit \(row)") } catch {
            throw AuditLogDamaged(description: "audit \(row) is not an audit entry (\(ControlCharacters.escapeLine(String(text.prefix(60)))))")
        }
        guard let entry = decoded, entry.sequence == sequence else {
            throw AuditLogDamaged(description: "audit \(row) holds entry \(decoded?.sequence ?? 0): rows were edited or moved")
        }
        // Byte for byte as rotor writes entries (sorted members, once each): a member named
        // twice is read differently by different JSON readers, and an unknown or re-formatted
        // one was not written by rotor (found by an attacker).
        guard (try? StateCoding.encode(entry)) == text else {
            throw AuditLogDamaged(description: "audit \(row) is not written as rotor writes entries (a member twice, an unknown member, or re-formatted): it was edited")
        }
        // rotor never wrote a time outside 1970–2286 (and such a time cannot be printed).
        guard StateCoding.isStoredTime(entry.at.timeIntervalSince1970) else {
            throw AuditLogDamaged(description: "audit \(row) has a time rotor never writes (\(entry.at.timeIntervalSince1970) s after 1970): it was edited")
        }
        return entry
    }
}

/// Who is running rotor, for runs and the audit log.
enum CurrentUser {
    /// The real uid's account name (cron has no USER variable, and a variable can say
    /// anything): what the audit log records as the user.
    static var account: String {
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(getuid())"
    }

    /// The person behind sudo, as `SUDO_USER` claims, when it names someone else.
    static var sudoClaim: String? {
        guard let claim = ProcessInfo.processInfo.environment["SUDO_USER"], !claim.isEmpty, claim != account else { return nil }
        return ControlCharacters.escape(claim)
    }

    /// For a run's record: the account, and the sudo claim beside it.
    static var name: String { account + (sudoClaim.map { " (sudo: \($0))" } ?? "") }
}
