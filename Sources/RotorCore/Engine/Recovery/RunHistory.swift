import Foundation

/// What a run's journal says happened, folded from its typed entries: the facts recovery
/// and `rotor rollback` decide on. Every step is handled by name in one `switch`, so a
/// new step cannot be added without saying what it means here.
struct RunHistory: Equatable {
    /// How far the create got.
    enum Creation: Equatable {
        /// No create was attempted.
        case notAttempted
        /// rotor died (or the answer was lost) before the provider's answer was journalled:
        /// a generation of this name may exist — or may still come to exist until `answerBy`,
        /// when the create rotor was waiting for ends.
        case unknown(name: String, answerBy: Date?)
        /// The provider said no and created nothing.
        case refused
        case created(GenerationRecord)
    }

    /// One target write that may need undoing, latest first when read from `writes`.
    struct Write: Equatable {
        var consumer: String
        var target: String
        var index: Int
        var backup: String?
        var path: String?
    }

    /// A rotation journals `start` first; a grace-period deletion does not.
    var began = false
    var emergency = false
    var old: GenerationRecord?
    /// A generation the run set out to delete as old (`delete` intent).
    var deleting: GenerationRecord?
    /// A generation two rotations back that the run set out to retire, and whether the
    /// provider said it was gone.
    var retiring: GenerationRecord?
    var retired = false
    var creation = Creation.notAttempted
    /// Unrecorded generations a run found by name (a lost create) and did not delete yet.
    var foundByName: [String] = []
    /// Generations this run deleted as "new" (its own, or ones found by name).
    var deletedNew: Set<String> = []
    var verified = false
    /// `rotor rollback RUN` began undoing this (completed) run: recovery finishes the undo.
    var undoRequested = false
    var committed = false
    var oldDeleted = false
    var revoked = false
    /// Every target write begun, in journal order.
    var writes: [Write] = []
    /// Targets already restored.
    var restored: Set<String> = []
    /// Targets whose write was read back (`update.done`).
    var written: Set<String> = []

    init(_ entries: [JournalEntry]) {
        for entry in entries { apply(entry) }
    }

    /// The history of a journal read from the store, refused when it does not add up: a
    /// gap in its sequence (an entry removed), or a verification that does not follow a
    /// read-back of every write. Recovery acts on none of it then.
    static func checked(_ entries: [JournalEntry], runID: String) throws(JournalCorruption) -> RunHistory {
        for (index, entry) in entries.enumerated() where entry.sequence != index + 1 {
            throw JournalCorruption(description: "the journal of run \(runID) has entry \(entry.sequence) where \(index + 1) should be: entries are missing; rotor will not guess what happened — check the run by hand")
        }
        let history = RunHistory(entries)
        if history.verified, let unverified = history.writes.first(where: { !history.written.contains($0.target) }) {
            throw JournalCorruption(description: "the journal of run \(runID) says every consumer verified, but the write of \(unverified.target) has no result; rotor will not guess what happened — check the run by hand")
        }
        return history
    }

    private mutating func apply(_ entry: JournalEntry) {
        let facts = entry.facts
        switch entry.step {
        case .start:
            began = true
            emergency = facts.emergency ?? false
            old = facts.old
        case .create:
            switch entry.phase {
            case .intent: creation = .unknown(name: facts.name ?? "", answerBy: facts.answerBy)
            case .done: if let new = facts.new { creation = .created(new) }
            case .failed: if facts.mayHaveCreated == false { creation = .refused }
            case .info: if let id = facts.generationID { foundByName.append(id) }
            }
        case .update:
            if entry.phase == .intent, let consumer = entry.consumer, let target = entry.target, let index = facts.targetIndex {
                writes.append(Write(consumer: consumer, target: target, index: index, backup: facts.backup, path: facts.path))
            }
            if entry.phase == .done, let target = entry.target { written.insert(target) }
        case .restore:
            if entry.phase == .done, let target = entry.target { restored.insert(target) }
        case .verify:
            if entry.phase == .done { verified = true }
        case .commit:
            committed = true
        case .delete:
            if entry.phase == .intent { deleting = facts.old }
            if entry.phase == .done { oldDeleted = true }
        case .retire:
            if entry.phase == .intent { retiring = facts.retiring }
            if entry.phase == .done { retired = true }
        case .revoke:
            if entry.phase == .done { revoked = true }
        case .deleteNew:
            if entry.phase == .intent, let id = facts.generationID { pendingDeletion = id }
            if entry.phase == .done, let id = pendingDeletion { deletedNew.insert(id) }
        case .sync:
            // A sync writes the current generation: its "new" is not a new generation.
            break
        case .rollback:
            // Only `rotor rollback RUN` journals an intent; a rotation's own rollback records its result.
            if entry.phase == .intent { undoRequested = true }
        case .preflight, .makeRoom, .verifyKey, .reload, .health, .recover, .confirmRevoked:
            // Journalled for people; recovery decides nothing on them. (A make-room deletes
            // an inactive generation no consumer uses: done or not, nothing to undo.)
            break
        }
    }

    /// The id of the generation a `delete-new` intent named, until its result.
    private var pendingDeletion: String?

    /// The new generation, when the journal recorded it.
    var new: GenerationRecord? {
        if case .created(let record) = creation { return record }
        return nil
    }

    /// The writes that still need undoing, latest first.
    var writesToUndo: [Write] {
        writes.reversed().filter { !restored.contains($0.target) }
    }

    /// What recovery must do with an interrupted run.
    enum Decision: Equatable {
        /// Every consumer verified the new generation: record it, delete the old if due.
        case rollForward(new: GenerationRecord)
        /// Verified, but the journal has no new generation: only a person can tell.
        case inconsistent
        /// A grace-period deletion (no rotation): delete the old generation, if it is not
        /// gone yet, and take it off the state.
        case finishDeletion(GenerationRecord)
        /// Not every consumer verified, or a person asked to undo the run: restore what was
        /// written, delete what was created.
        case rollBack
    }

    var decision: Decision {
        if !began, let deleting { return .finishDeletion(deleting) }
        guard verified, !undoRequested else { return .rollBack }
        guard let new else { return .inconsistent }
        return .rollForward(new: new)
    }
}
