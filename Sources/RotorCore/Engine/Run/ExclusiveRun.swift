import Foundation

extension RotationEngine {
    /// The one way an operation works on a key: take the key's lock (waiting briefly for a
    /// live holder), optionally record a new run, hand `body` the run's journal, then
    /// finish the run, audit it, say how it ended and let the lock go.
    ///
    /// `body` returns the report; an error it throws is the state store failing, which
    /// ends the operation as "needs a person" with the way on (`rotor recover`). A lock
    /// that cannot be had ends it with `refused(why)` (by default `report`, unchanged but
    /// for the message). `skip`, asked
    /// once the lock is held and before anything is recorded, may end it there (a
    /// scheduled rotation that another run did meanwhile): that report is returned as is.
    func exclusiveRun(of key: String, runID: String, action: AuditAction, report: RotationReport,
                      options: RotationOptions = RotationOptions(), record run: RunRecord?,
                      skip: () throws -> RotationReport? = { nil },
                      refused: ((LockRefusal) -> RotationReport)? = nil,
                      _ body: (Journal) async throws -> RotationReport) async -> RotationReport {
        let owner = LockOwner.current(runID: runID)
        // Nothing done to a key beside a run left to its machine — not a new run, an adopt, a
        // rollback, a grace deletion, nor the recovery of another of its runs — checked
        // before the lock, whose takeover and release would erase that run's lease (found
        // by attackers, twice).
        if let refused = unfinishedRunElsewhere(of: key, except: runID, report: report) { return refused }
        var recovered: Set<String> = []
        while true {
            let replaced: LockHolder?
            switch await acquireLock(key, owner: owner, options: options) {
            case .failure(let refusal):
                if let refused { return refused(refusal) }
                var unchanged = report
                unchanged.message = refusal.message
                if case .storeFailed = refusal { unchanged.outcome = .needsPerson }
                return unchanged
            case .success(let holder): replaced = holder
            }
            // The lease was taken over from a runner that died mid-run (or whose lease ran
            // out): its run is recovered first, as `recover` would, before this operation
            // touches the key. Found by an attacker: a run that waited for the lock rotated
            // the key, then recovery put the dead run's backups back over the new generation.
            guard let previous = replaced, previous.owner.runID != runID, !recovered.contains(previous.owner.runID),
                  let interrupted = (try? store.run(previous.owner.runID)) ?? nil, interrupted.key == key, interrupted.finished == nil else { break }
            recovered.insert(interrupted.id)
            do { try store.releaseLock(key: key, owner: owner) } catch {}
            progress("\(key): run \(interrupted.id) was interrupted (its runner is gone); recovering it before going on")
            _ = await recover(interrupted)
            if (try? store.run(interrupted.id))??.finished == nil {
                var refusedReport = report
                refusedReport.outcome = .needsPerson
                refusedReport.message = "run \(interrupted.id) of '\(key)' was interrupted and could not be recovered: nothing was done"
                refusedReport.left.append(PendingAction(.recoverRun, "'rotor recover' finishes or undoes run \(interrupted.id) (see its report); then rotate again"))
                return refusedReport
            }
        }
        defer {
            do { try store.releaseLock(key: key, owner: owner) } catch {
                progress("\(key): warning: cannot release the lock (\(error)); it expires with its lease")
            }
        }
        var finished: RotationReport
        do {
            if let skipped = try skip() { return skipped }
            if let run { try store.createRun(run) }
            let journal = Journal(store: store, runID: runID, clock: clock)
            finished = try await body(journal)
            // A run that lost its lease (the body stopped on it) writes nothing more.
            if journal.leaseLost { throw LeaseLost(key: key, runID: runID) }
            if run != nil { try store.finishRun(runID, outcome: finished.outcome, at: clock()) }
        } catch is LeaseLost {
            // Fenced out: not even the audit log hears from this run (the runner that took
            // the lease over, or the person who ran `rotor unlock`, is on record instead).
            finished = report
            finished.outcome = .needsPerson
            finished.message = "this run lost its lease on '\(key)' to another runner (a takeover, or 'rotor unlock') and stopped without touching anything further, the audit log included"
            finished.left.append(PendingAction(.recoverRun, "'rotor recover' finishes or undoes run \(runID) unless a runner already did (check 'rotor history \(key)')"))
            finished = finished.redacted()
            progress("\(key): \(finished.message)")
            return finished
        } catch let error as JournalCorruption {
            finished = untrusted(report, error)
        } catch let error as StateCoding.Unreadable {
            finished = untrusted(report, error)
        } catch {
            finished = report
            finished.outcome = .needsPerson
            finished.message = "the state store failed during the run (\(error)); nothing more was done"
            finished.left.append(PendingAction(.recoverRun, "run 'rotor recover' once it is back: it finishes or undoes run \(runID)"))
        }
        // Whatever path a message took, no value rotor knows leaves in it.
        finished = finished.redacted()
        // The body found nothing to do (an adoption with nothing to adopt) and recorded nothing.
        if run == nil, finished.notDue != nil { return finished }
        do {
            try audit(finished, action: action)
        } catch {
            finished.left.append(PendingAction(.checkState, "the audit log could not record this \(action.rawValue) (\(error)): note it by hand"))
            if finished.outcome != .failed { finished.outcome = .needsPerson }
        }
        progress("\(key): \(finished.message)")
        return finished
    }

    /// A refusal when this process's recovery left a run of the key to another machine, or
    /// the key's lease names such a run (one indexed read per operation).
    private func unfinishedRunElsewhere(of key: String, except runID: String, report: RotationReport) -> RotationReport? {
        func leasedElsewhere() -> RunRecord? {
            guard let holder = (try? store.lockHolder(key: key)) ?? nil, holder.owner.runID != runID,
                  let unfinished = (try? store.run(holder.owner.runID)) ?? nil, unfinished.finished == nil,
                  leftToItsHost(unfinished, report: report)?.outcome == .needsPerson else { return nil }
            return unfinished
        }
        guard let unfinished = leftElsewhere.run(of: key).flatMap({ $0.id == runID ? nil : $0 }) ?? leasedElsewhere() else { return nil }
        let host = ControlCharacters.escapeLine(unfinished.host)
        var refused = report
        refused.outcome = .needsPerson
        refused.message = "run \(unfinished.id) of '\(key)' (started on \(host)) is unfinished: nothing was done"
        refused.left.append(PendingAction(.recoverRun, "'rotor recover' on \(host) finishes or undoes it (or, if that machine is gone for good, 'rotor unlock \(key)' and 'rotor recover' here); then rotate again"))
        return refused
    }

    /// Why a key's lock could not be had.
    enum LockRefusal: Error {
        /// Another live run holds it.
        case heldBy(LockHolder, key: String)
        /// The state store could not be asked (busy, gone, unreadable).
        case storeFailed(any Error, key: String)

        var message: String {
            switch self {
            case .heldBy(let holder, let key):
                "key '\(key)' is being rotated by run \(ControlCharacters.escapeLine(holder.owner.runID)) (pid \(holder.owner.pid) on \(ControlCharacters.escapeLine(holder.owner.host))); try again when it has finished"
            case .storeFailed(let error, let key):
                "cannot take the lock of '\(key)' in the state store (\(error)); nothing was done — run again once the store answers"
            }
        }
    }

    /// The report of an operation stopped because the store holds something rotor cannot trust.
    private func untrusted(_ report: RotationReport, _ error: any Error) -> RotationReport {
        var stopped = report
        stopped.outcome = .needsPerson
        stopped.message = "rotor cannot trust what the state store holds: \(error)"
        stopped.left.append(PendingAction(.checkState, "repair or restore the state store (rotor acted on none of it), then run 'rotor recover'"))
        return stopped
    }

    /// The lock is ours, with the lease it replaced when it was taken over (expired, or its
    /// owner gone); else why not. A live holder is waited for up to `options.lockWait`.
    func acquireLock(_ key: String, owner: LockOwner, options: RotationOptions) async -> Result<LockHolder?, LockRefusal> {
        let deadline = Date().addingTimeInterval(options.lockWait)
        while true {
            let attempt: LockAttempt
            var replaced: LockHolder?
            do {
                attempt = try store.acquireLock(key: key, owner: owner, lease: options.lease, now: clock(), canTakeOver: Self.ownerIsGone,
                                                replaced: { replaced = $0 })
            } catch {
                return .failure(.storeFailed(error, key: key))
            }
            guard case .heldBy(let holder) = attempt else { return .success(replaced) }
            if Date() >= deadline { return .failure(.heldBy(holder, key: key)) }
            try? await Task.sleep(nanoseconds: 200_000_000)  // cancellation only ends the wait early
        }
    }

    /// A lock's owner is gone when it ran on this host — this boot and pid namespace, not
    /// merely a machine of the same name — and its process no longer runs (its pid gone or
    /// reused). Otherwise its lease decides, or a person with `rotor unlock`.
    @Sendable static func ownerIsGone(_ holder: LockHolder) -> Bool {
        holder.owner.host == ProcessInfo.processInfo.hostName && ProcessIdentity.liveness(of: holder.owner) == .gone
    }
}
