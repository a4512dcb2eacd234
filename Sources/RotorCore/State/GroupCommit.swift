import Foundation

/// Group commit: callers that want an entry committed at the same time share one
/// transaction, and so one sync of the write-ahead log, instead of one each. Each caller
/// still returns only once its own entry is durable (or with its own error), so the rule
/// "no side effect before its intent is durable" holds for every caller.
///
/// The first caller to find no commit under way leads: it takes every entry waiting
/// (its own included) and commits them together; callers that arrive meanwhile wait and
/// go in the next batch. With 16 consumers of four keys written at once (issue 20), a
/// batch holds the intents or results of many targets; alone, a caller commits alone.
final class GroupCommit<Entry>: @unchecked Sendable {
    private let condition = NSCondition()
    private var waiting: [(ticket: Int, entry: Entry)] = []
    private var outcomes: [Int: Result<Void, any Error>] = [:]
    private var committing = false
    private var nextTicket = 0

    /// Commits `entry` with whatever other entries wait. `commit` is given a batch and
    /// returns one outcome per entry, in order (an entry refused alone — a lost lease —
    /// fails alone); if it throws, every entry of the batch fails with that error.
    func commit(_ entry: Entry, _ commit: ([Entry]) throws -> [Result<Void, any Error>]) throws {
        condition.lock()
        let ticket = nextTicket
        nextTicket += 1
        waiting.append((ticket, entry))
        while committing, outcomes[ticket] == nil { condition.wait() }
        if let outcome = outcomes.removeValue(forKey: ticket) {
            condition.unlock()
            return try outcome.get()
        }
        committing = true
        let batch = waiting
        waiting.removeAll()
        condition.unlock()

        var results: [Result<Void, any Error>]
        do {
            results = try commit(batch.map(\.entry))
            precondition(results.count == batch.count, "GroupCommit: one outcome per entry")
        } catch {
            results = Array(repeating: .failure(error), count: batch.count)
        }
        condition.lock()
        for (index, waiter) in batch.enumerated() where waiter.ticket != ticket {
            outcomes[waiter.ticket] = results[index]
        }
        committing = false
        condition.broadcast()
        condition.unlock()
        try results[batch.firstIndex { $0.ticket == ticket }!].get()
    }
}
