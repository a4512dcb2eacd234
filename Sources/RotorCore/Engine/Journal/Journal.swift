import Foundation

/// Writes a run's journal through the state store and, for tests only, stops the process
/// dead at a named point.
///
/// `ROTOR_TEST_CRASH_AT=STEP.PHASE[#N]` (e.g. `update.done#3`) makes rotor SIGKILL itself
/// right after the Nth journal entry of that step and phase is committed. Inert unless set.
final class Journal: @unchecked Sendable {
    let store: any StateStore
    let runID: String
    private let clock: @Sendable () -> Date
    private let crashPoint: (label: String, occurrence: Int)?
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    private var lostLease = false

    /// True once the store refused a write because another runner took the key's lease
    /// over: from then on the run touches nothing (no write, reload or rollback); the
    /// runner that holds the lease now recovers it.
    var leaseLost: Bool { lock.withLock { lostLease } }

    init(store: any StateStore, runID: String, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.runID = runID
        self.clock = clock
        if let text = ProcessInfo.processInfo.environment["ROTOR_TEST_CRASH_AT"], !text.isEmpty {
            let parts = text.split(separator: "#")
            crashPoint = (String(parts[0]), parts.count > 1 ? Int(parts[1]) ?? 1 : 1)
        } else {
            crashPoint = nil
        }
    }

    /// Commits one entry before the caller goes on. An entry that lacks a fact its step
    /// needs for recovery is refused here, so such a mistake fails every test that reaches it.
    func record(_ step: JournalStep, _ phase: JournalEntry.Phase, consumer: String? = nil, target: String? = nil,
                _ detail: String, facts: JournalFacts = JournalFacts()) throws {
        // A detail quotes providers and commands: never a raw control character (`history`
        // prints it to a terminal), never a value rotor knows.
        let entry = JournalEntry(at: clock(), step: step, phase: phase, consumer: consumer, target: target, detail: Redactor.known(detail), facts: facts)
        let missing = entry.missingFacts
        guard missing.isEmpty else {
            throw JournalCorruption(description: "internal error: journal entry \(step.rawValue).\(phase.rawValue) written without \(missing.joined(separator: ", "))")
        }
        do {
            try store.append(entry, to: runID)
        } catch let error as LeaseLost {
            lock.withLock { lostLease = true }
            throw error
        }
        guard let crashPoint else { return }
        let label = "\(step.rawValue).\(phase.rawValue)"
        lock.lock()
        counts[label, default: 0] += 1
        let count = counts[label] ?? 0
        lock.unlock()
        if label == crashPoint.label, count == crashPoint.occurrence {
            kill(getpid(), SIGKILL)
        }
    }
}
