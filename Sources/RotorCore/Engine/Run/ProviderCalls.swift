import Foundation

/// A key's provider, ready to call: its definition, its implementation and the template
/// values its requests are filled with.
struct ResolvedProvider: Sendable {
    let spec: ProviderSpec
    let implementation: any KeyProvider
    let key: String

    var name: String { spec.name.value }
    var directory: String { spec.directory }

    func values(at date: Date) -> [Placeholder: String] { TemplateValues.context(key: key, now: date) }
}

/// Which generation a journalled deletion removes, and why: its journal step, and the
/// facts its intent records so that recovery knows what may have happened.
struct Deletion: Sendable {
    let step: JournalStep
    let id: String
    let facts: JournalFacts
    /// The intent's line in the journal.
    let intent: String

    static func old(_ record: GenerationRecord, step: JournalStep = .delete, because reason: String) -> Deletion {
        Deletion(step: step, id: record.id, facts: JournalFacts(old: record), intent: reason)
    }

    static func retiring(_ record: GenerationRecord) -> Deletion {
        Deletion(step: .retire, id: record.id, facts: JournalFacts(retiring: record),
                 intent: "delete generation \(record.id), still pending from an earlier run")
    }

    static func new(id: String, because reason: String = "delete the new generation") -> Deletion {
        Deletion(step: .deleteNew, id: id, facts: JournalFacts(generationID: id), intent: "\(reason) \(id)")
    }

    static func spare(id: String) -> Deletion {
        Deletion(step: .makeRoom, id: id, facts: JournalFacts(generationID: id), intent: "delete inactive generation \(id) to make room")
    }
}

extension ResolvedProvider {
    /// Deletes one generation with its intent journalled first and its result after:
    /// the one way rotor deletes at a provider. Returns the provider's error (already
    /// recorded), or nil once the generation is gone. Throws only when the journal fails.
    func delete(_ deletion: Deletion, journal: Journal, at date: Date) async throws -> ProviderError? {
        try journal.record(deletion.step, .intent, deletion.intent, facts: deletion.facts)
        do throws(ProviderError) {
            try await implementation.delete(id: deletion.id, values: values(at: date), directory: directory)
        } catch {
            try journal.record(deletion.step, .failed, error.message)
            return error
        }
        try journal.record(deletion.step, .done, "generation \(deletion.id) deleted")
        return nil
    }

    /// The generations named `name` that rotor does not know (`known`): what a create whose
    /// answer was lost may have left. nil when the provider cannot list, or lists no names.
    func unrecorded(named name: String, known: Set<String>, at date: Date) async throws(ProviderError) -> [ListedGeneration]? {
        guard spec.listsNames, let listed = try await implementation.list(values: values(at: date), directory: directory) else { return nil }
        // An item without a name could be the one: nothing can be said (found by an attacker).
        guard listed.allSatisfy({ $0.name != nil }) else { return nil }
        return listed.filter { $0.name == name && !known.contains($0.id) }
    }
}
