import Foundation
@testable import RotorCore

/// A state store in memory, for in-process engine tests. It keeps journal entries in
/// their stored form, so reading them back decodes and checks them as the real stores do.
///
/// `dieAfter` makes the store "go away" right after the entry it matches is committed:
/// every later write fails, as if rotor had been killed at that point or the database
/// had vanished. `heal()` brings it back, for recovery to take over.
final class InMemoryStateStore: StateStore, @unchecked Sendable {
    struct StoreDown: Error, CustomStringConvertible {
        var description: String { "the test store is down" }
    }

    private let lock = NSLock()
    private var states: [String: KeyState] = [:]
    private var runRecords: [RunRecord] = []
    private var journals: [String: [JournalEntry.Stored]] = [:]
    private var locks: [String: LockHolder] = [:]
    private var audit: [AuditEntry] = []
    private var down = false
    private var dieAfter: (@Sendable (JournalEntry) -> Bool)?

    /// The store fails every write after the first entry `condition` matches.
    func die(after condition: @escaping @Sendable (JournalEntry) -> Bool) { lock.withLock { dieAfter = condition } }

    func heal() { lock.withLock { down = false; dieAfter = nil } }

    var isDown: Bool { lock.withLock { down } }

    private func write<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            guard !down else { throw StoreDown() }
            return try body()
        }
    }

    /// Reads of every key's state, and of one key's (issue 20: a key's steps read its own).
    private(set) var wholeReads = 0
    private(set) var singleReads = 0

    func keyStates() throws -> [String: KeyState] { lock.withLock { wholeReads += 1; return states } }

    func keyState(_ key: String) throws -> KeyState? { lock.withLock { singleReads += 1; return states[key] } }
    func keyStates(holding id: String) throws -> [String: KeyState] {
        lock.withLock { GenerationIDSearch.exact(states, id) }
    }

    func saveKeyState(_ state: KeyState, for key: String) throws { try write { states[key] = state } }

    /// Makes taking a lock fail, as a busy or vanished database would.
    var locksUnavailable = false

    func acquireLock(key: String, owner: LockOwner, lease: TimeInterval, now: Date, canTakeOver: (LockHolder) -> Bool,
                     replaced: (LockHolder) -> Void) throws -> LockAttempt {
        try lock.withLock {
            if locksUnavailable { throw StoreDown() }
            if let holder = locks[key], holder.owner != owner, holder.expires > now, !canTakeOver(holder) { return .heldBy(holder) }
            if let holder = locks[key], holder.owner != owner { replaced(holder) }
            guard !down else { throw StoreDown() }
            locks[key] = LockHolder(owner: owner, expires: now.addingTimeInterval(lease))
            return .acquired
        }
    }

    func releaseLock(key: String, owner: LockOwner) throws {
        try write { if locks[key]?.owner == owner { locks[key] = nil } }
    }

    func lockHolder(key: String) throws -> LockHolder? { lock.withLock { locks[key] } }

    func breakLock(key: String, held holder: LockHolder) throws -> Bool {
        try write {
            guard locks[key] == holder else { return false }
            locks[key]?.expires = .distantPast
            return true
        }
    }

    func createRun(_ run: RunRecord) throws { try write { runRecords.append(run) } }

    func append(_ entry: JournalEntry, to runID: String) throws {
        try write {
            var stored = entry.stored
            stored.sequence = (journals[runID]?.count ?? 0) + 1
            journals[runID, default: []].append(stored)
            if dieAfter?(entry) == true { down = true }
        }
    }

    /// Puts an entry in as a store would hold it, unchecked (a journal written by another
    /// version, or tampered with).
    func appendStored(_ stored: JournalEntry.Stored, to runID: String) {
        lock.withLock { journals[runID, default: []].append(stored) }
    }

    /// Changes a run's stored journal in place, as someone editing the database would.
    func editJournal(of runID: String, _ edit: (inout [JournalEntry.Stored]) -> Void) {
        lock.withLock { edit(&journals[runID, default: []]) }
    }

    func journal(of runID: String) throws -> [JournalEntry] {
        let stored = lock.withLock { journals[runID] ?? [] }
        return try stored.map { try JournalEntry(stored: $0, runID: runID) }
    }

    func finishRun(_ runID: String, outcome: RunOutcome, at date: Date) throws {
        try write {
            guard let index = runRecords.firstIndex(where: { $0.id == runID }) else { return }
            runRecords[index].finished = date
            runRecords[index].outcome = outcome
        }
    }

    func reopenRun(_ runID: String) throws {
        try write {
            guard let index = runRecords.firstIndex(where: { $0.id == runID }) else { return }
            runRecords[index].finished = nil
            runRecords[index].outcome = nil
        }
    }

    func run(_ id: String) throws -> RunRecord? { lock.withLock { runRecords.first { $0.id == id } } }

    /// Makes `runs()` fail, as an unreadable store would.
    var runsUnreadable = false

    func runs() throws -> [RunRecord] {
        try lock.withLock {
            if runsUnreadable { throw StoreDown() }
            return runRecords
        }
    }

    func appendAudit(_ entry: AuditEntry) throws { try write { audit.append(entry) } }

    func auditLog() throws -> [AuditEntry] { lock.withLock { audit } }

    /// Every run's journal, as step.phase labels (for assertions).
    func labels(of runID: String) throws -> [String] {
        try journal(of: runID).map { "\($0.step.rawValue).\($0.phase.rawValue)" }
    }
}
