import Foundation

/// Which step of a workflow a journal entry belongs to. The raw values are the strings
/// stored in the `step` column since the first schema, so older journals stay readable.
/// A step that is not one of these is an error when read, never guessed at.
public enum JournalStep: String, Sendable, Codable, CaseIterable {
    /// A rotation began; its facts hold the old generation and whether it is an emergency.
    case start
    case preflight
    /// An inactive generation deleted to make room at a provider with a limit.
    case makeRoom = "make-room"
    /// A generation two rotations back, still pending deletion, deleted before a new one.
    case retire
    /// `--revoke-first`: the old generation deleted before any consumer changed.
    case revoke
    case create
    case verifyKey = "verify-key"
    /// One target written (intent carries its backup), per consumer and target.
    case update
    case reload
    case health
    /// One target put back from its backup.
    case restore
    /// The rollback of a whole run (`rotor rollback RUN`, or after a failed update).
    case rollback
    /// Every consumer runs on the new generation: the point of no return.
    case verify
    /// The key's state now names the new generation.
    case commit
    /// The old generation deleted (at once, after its grace period, or by recovery).
    case delete
    /// The new generation deleted because no consumer kept it.
    case deleteNew = "delete-new"
    /// The deleted old generation's secret tried against the key's verify checks: it must be
    /// rejected. Journalled for people; recovery decides nothing on it.
    case confirmRevoked = "confirm-revoked"
    /// A recovery took over an interrupted run.
    case recover
    /// `rotor sync` wrote the current generation into drifted targets.
    case sync
}

/// One line of a run's write-ahead journal. The intent of a side effect is committed
/// before it happens and its result after, so that after a crash at any instant rotor
/// knows what may have happened. Never holds a secret: ids, fingerprints, paths.
public struct JournalEntry: Sendable, Equatable {
    public enum Phase: String, Sendable, Codable, CaseIterable {
        case intent, done, failed, info
    }

    public var sequence: Int
    public var at: Date
    public var step: JournalStep
    public var phase: Phase
    public var consumer: String?
    public var target: String?
    /// One line for a person reading the journal; nothing decides on it.
    public var detail: String
    /// What recovery needs to know, typed.
    public var facts: JournalFacts

    public init(sequence: Int = 0, at: Date, step: JournalStep, phase: Phase, consumer: String? = nil, target: String? = nil,
                detail: String, facts: JournalFacts = JournalFacts()) {
        self.sequence = sequence
        self.at = at
        self.step = step
        self.phase = phase
        self.consumer = consumer
        self.target = target
        self.detail = detail
        self.facts = facts
    }
}

/// The facts a journal entry carries for recovery, each with its type. Which ones an
/// entry must have depends on its step and phase (`JournalEntry.missingFacts`).
public struct JournalFacts: Sendable, Equatable {
    public var emergency: Bool?
    /// The generation in use before the run (`start`), or the one a delete removes.
    public var old: GenerationRecord?
    /// The generation the run created (`create` done), or the one `sync` writes.
    public var new: GenerationRecord?
    /// A generation two rotations back that `retire` deletes.
    public var retiring: GenerationRecord?
    /// The id of a generation known only by id: what `delete-new` or `make-room` deletes,
    /// or an unrecorded generation found by name.
    public var generationID: String?
    /// The name a `create` asked the provider for.
    public var name: String?
    /// For a failed `create`: whether the provider may have created it anyway.
    public var mayHaveCreated: Bool?
    /// For a `create` intent at a vendor: when rotor stops waiting for its answer. Recovery
    /// of a run that died during the create waits until then before it looks for the key.
    public var answerBy: Date?
    /// The index of the target in its consumer's list.
    public var targetIndex: Int?
    /// The file holding the target's backup, when one could be made.
    public var backup: String?
    /// The target's file, for files (restored by path even if the configuration changed).
    public var path: String?

    public init(emergency: Bool? = nil, old: GenerationRecord? = nil, new: GenerationRecord? = nil, retiring: GenerationRecord? = nil,
                generationID: String? = nil, name: String? = nil, mayHaveCreated: Bool? = nil, answerBy: Date? = nil,
                targetIndex: Int? = nil, backup: String? = nil, path: String? = nil) {
        self.emergency = emergency
        self.old = old
        self.new = new
        self.retiring = retiring
        self.generationID = generationID
        self.name = name
        self.mayHaveCreated = mayHaveCreated
        self.answerBy = answerBy
        self.targetIndex = targetIndex
        self.backup = backup
        self.path = path
    }
}

/// Why a stored journal cannot be trusted: recovery stops rather than guess.
public struct JournalCorruption: Error, CustomStringConvertible, Sendable {
    public var description: String
}

extension JournalEntry {
    /// The facts this entry's step and phase require that it lacks (empty when complete).
    /// Recovery decides on these facts, so an entry without them is refused when written
    /// and when read.
    public var missingFacts: [String] {
        var missing: [String] = []
        func need(_ present: Bool, _ name: String) { if !present { missing.append(name) } }
        switch (step, phase) {
        case (.start, _): need(facts.emergency != nil, "emergency")
        case (.create, .intent): need(facts.name != nil, "name")
        case (.create, .done): need(facts.new != nil, "new generation"); need(facts.name != nil, "name")
        case (.create, .failed): need(facts.name != nil, "name"); need(facts.mayHaveCreated != nil, "may_have_created")
        case (.create, .info): need(facts.generationID != nil, "generation id")
        case (.update, .intent):
            need(facts.targetIndex != nil, "target index"); need(consumer != nil, "consumer"); need(target != nil, "target")
        case (.update, .done): need(facts.targetIndex != nil, "target index")
        case (.restore, .intent): need(facts.backup != nil, "backup"); need(target != nil, "target")
        case (.restore, .done): need(target != nil, "target")
        case (.retire, .intent): need(facts.retiring != nil, "retiring generation")
        case (.revoke, .intent), (.delete, .intent): need(facts.old != nil, "old generation")
        case (.deleteNew, .intent), (.makeRoom, .intent): need(facts.generationID != nil, "generation id")
        case (.sync, .intent): need(facts.new != nil, "current generation")
        case (.preflight, _), (.create, _), (.verifyKey, _), (.update, _), (.reload, _), (.health, _), (.restore, _),
             (.rollback, _), (.verify, _), (.commit, _), (.delete, _), (.deleteNew, _), (.recover, _), (.sync, _),
             (.retire, _), (.revoke, _), (.makeRoom, _), (.confirmRevoked, _):
            break
        }
        return missing
    }
}

// MARK: Stored form

extension JournalEntry {
    /// The entry as the stores keep it: step and phase as text, facts as a flat JSON object
    /// of strings whose keys (`old_id`, `new_fingerprint`, `backup`, …) are those of every
    /// earlier rotor, so that a journal written before the facts were typed still recovers.
    public struct Stored: Sendable, Equatable {
        public var sequence: Int
        public var at: Date
        public var step: String
        public var phase: String
        public var consumer: String?
        public var target: String?
        public var detail: String
        public var data: [String: String]

        public init(sequence: Int, at: Date, step: String, phase: String, consumer: String?, target: String?, detail: String, data: [String: String]) {
            self.sequence = sequence
            self.at = at
            self.step = step
            self.phase = phase
            self.consumer = consumer
            self.target = target
            self.detail = detail
            self.data = data
        }
    }

    public var stored: Stored {
        Stored(sequence: sequence, at: at, step: step.rawValue, phase: phase.rawValue, consumer: consumer, target: target,
               detail: detail, data: facts.storedData(for: step, phase: phase))
    }

    /// Reads a stored entry back; an unknown step or phase, an unknown or malformed fact,
    /// or a missing one is an error that names the run and the entry.
    public init(stored: Stored, runID: String) throws(JournalCorruption) {
        func corrupt(_ what: String) -> JournalCorruption {
            JournalCorruption(description: "journal entry \(stored.sequence) of run \(runID) \(what); rotor will not guess what happened — check the run by hand ('rotor history')")
        }
        guard let step = JournalStep(rawValue: stored.step) else { throw corrupt("has an unknown step '\(stored.step)'") }
        guard let phase = Phase(rawValue: stored.phase) else { throw corrupt("has an unknown phase '\(stored.phase)'") }
        let facts: JournalFacts
        do { facts = try JournalFacts(storedData: stored.data, step: step) } catch { throw corrupt(error.description) }
        self.init(sequence: stored.sequence, at: stored.at, step: step, phase: phase, consumer: stored.consumer, target: stored.target,
                  detail: stored.detail, facts: facts)
        let missing = missingFacts
        if !missing.isEmpty { throw corrupt("(\(step.rawValue).\(phase.rawValue)) lacks \(missing.joined(separator: ", "))") }
    }
}

extension JournalFacts {
    /// The legacy flat keys. A generation known only by id is `spare_id` for make-room and
    /// `new_id` elsewhere; a whole generation record is `PREFIX_id`, `_fingerprint`, `_created`.
    func storedData(for step: JournalStep, phase: JournalEntry.Phase) -> [String: String] {
        var data: [String: String] = [:]
        func put(_ record: GenerationRecord?, _ prefix: String) {
            guard let record else { return }
            data["\(prefix)_id"] = record.id
            data["\(prefix)_fingerprint"] = record.fingerprint
            data["\(prefix)_created"] = String(record.created.timeIntervalSince1970)
        }
        if let emergency { data["emergency"] = String(emergency) }
        put(old, "old")
        put(new, "new")
        put(retiring, "retiring")
        if let generationID { data[step == .makeRoom ? "spare_id" : "new_id"] = generationID }
        if let name { data["name"] = name }
        if let mayHaveCreated { data["may_have_created"] = String(mayHaveCreated) }
        if let answerBy { data["answer_by"] = String(answerBy.timeIntervalSince1970) }
        if let targetIndex { data["index"] = String(targetIndex) }
        // An update's intent says "no backup" with an empty string, as it always has.
        if let backup { data["backup"] = backup } else if step == .update, phase == .intent { data["backup"] = "" }
        if let path { data["path"] = path }
        return data
    }

    init(storedData data: [String: String], step: JournalStep) throws(JournalCorruption) {
        self.init()
        var unread = Set(data.keys)
        func take(_ key: String) -> String? {
            unread.remove(key)
            return data[key]
        }
        func bool(_ key: String) throws(JournalCorruption) -> Bool? {
            guard let text = take(key) else { return nil }
            guard let value = Bool(text) else { throw JournalCorruption(description: "has '\(key)' = '\(text)', not true or false") }
            return value
        }
        func record(_ prefix: String) throws(JournalCorruption) -> GenerationRecord? {
            let id = take("\(prefix)_id"), fingerprint = take("\(prefix)_fingerprint"), created = take("\(prefix)_created")
            guard let id else {
                if fingerprint != nil || created != nil { throw JournalCorruption(description: "has a \(prefix) generation without an id") }
                return nil
            }
            guard let fingerprint else {
                // A generation known only by its id (delete-new, an orphan found by name).
                unread.insert("\(prefix)_id")
                return nil
            }
            guard let created, let seconds = Double(created) else { throw JournalCorruption(description: "has no readable \(prefix)_created") }
            let record = GenerationRecord(id: id, fingerprint: fingerprint, created: Date(timeIntervalSince1970: seconds))
            if let problem = record.problem { throw JournalCorruption(description: "has \(problem) as its \(prefix) generation") }
            return record
        }
        emergency = try bool("emergency")
        old = try record("old")
        new = try record("new")
        retiring = try record("retiring")
        if unread.contains("new_id") { generationID = take("new_id") }
        if let spare = take("spare_id") { generationID = spare }
        if generationID?.isEmpty == true { throw JournalCorruption(description: "names a generation with an empty id") }
        name = take("name")
        mayHaveCreated = try bool("may_have_created")
        if let text = take("answer_by") {
            guard let seconds = Double(text) else { throw JournalCorruption(description: "has a malformed answer_by '\(text)'") }
            answerBy = Date(timeIntervalSince1970: seconds)
        }
        if let index = take("index") {
            guard let value = Int(index) else { throw JournalCorruption(description: "has a malformed target index '\(index)'") }
            targetIndex = value
        }
        if let text = take("backup"), !text.isEmpty { backup = text }
        path = take("path")
        if let unknown = unread.sorted().first { throw JournalCorruption(description: "has an unknown fact '\(unknown)'") }
    }
}
