import Foundation

/// Runs the state store holds with no outcome: interrupted (a crash, `kill -9`, a power
/// loss) or still going in another process. `status`, `plan` and `sync` name each, with
/// the command that finishes it, instead of leaving it to whoever thinks of `recover`.
enum InterruptedRuns {
    /// The unfinished runs of `keys` (every key when empty), oldest first.
    static func of(_ keys: [String], in runs: [RunRecord]) -> [RunRecord] {
        runs.filter { $0.finished == nil && (keys.isEmpty || keys.contains($0.key)) }.sorted { $0.started < $1.started }
    }

    static func describe(_ run: RunRecord) -> String {
        "run \(run.id) of '\(ControlCharacters.escapeLine(run.key))' (started \(DateFormatting.iso8601(run.started))) has no outcome: "
            + "it was interrupted, or is still going — 'rotor recover' finishes or undoes an interrupted run"
    }
}

extension ConfigurationStep {
    /// The existing store's key states and unfinished runs (none yet is fine); nil, after
    /// saying why, when it cannot be read.
    /// `streaks`: each key's failed rotations in a row (the scheduled retry's backoff).
    func existingStatesAndInterruptedRuns(keys: [String]) -> (states: [String: KeyState], interrupted: [RunRecord], streaks: [String: FailureStreak])? {
        guard let store = existingStore() else { return nil }
        do {
            let runs = try store?.runs() ?? []
            return (try store?.keyStates() ?? [:], InterruptedRuns.of(keys, in: runs), FailureStreak.streaks(in: runs))
        } catch {
            console.err("error: cannot read the state store: \(error)")
            return nil
        }
    }
}
