import Foundation

/// `rotor unlock KEY`: a person who knows a lease's holder is gone (its host died, its VM
/// was frozen and will not come back) frees the key without waiting out the lease — the
/// `terraform force-unlock` of rotor. The holder's fencing token is replaced, so should it
/// wake up it can write nothing more; the act is audited. A holder on this host that is
/// still running is never unlocked: stop it, and it releases the lock itself.
public enum UnlockCommand {
    public static func run(key: String, global: GlobalOptions, console: Console) -> ExitStatus {
        guard let opened = ConfigurationStep(options: global, console: console).existingStore() else { return .failure }
        guard let store = opened else {
            console.out("'\(ControlCharacters.escapeLine(key))' is not locked: there is no rotor state here yet")
            return .success
        }
        let holder: LockHolder?
        do { holder = try store.lockHolder(key: key) } catch {
            console.err("error: cannot read the lock of '\(ControlCharacters.escapeLine(key))': \(error); nothing was changed")
            return .failure
        }
        guard let holder else {
            if let released = releaseWithoutLease(key: key, store: store, now: global.clock(), console: console) { return released }
            // A typo in an incident must not read as "all clear".
            guard HistoryCommand.isConfigured(key, global: global) else {
                console.err("error: unknown key '\(ControlCharacters.escapeLine(key))': it is neither configured nor locked")
                return .usage
            }
            console.out("'\(ControlCharacters.escapeLine(key))' is not locked; nothing to do")
            return .success
        }
        let owner = holder.owner
        let who = "run \(ControlCharacters.escapeLine(owner.runID)) (pid \(owner.pid) on \(ControlCharacters.escapeLine(owner.host)))"
        if holder.freedByPerson {
            console.out("'\(ControlCharacters.escapeLine(key))' was already unlocked: \(who) is fenced out; nothing to do")
            return .success
        }
        // A lease without the holder's identity (written before schema 2, or by hand) names
        // only a pid, which any process may have by now: a person decides (found by an
        // attacker: pid 1 blocked the key until 2286).
        if owner.host == ProcessInfo.processInfo.hostName, !owner.process.isEmpty, ProcessIdentity.liveness(of: owner) == .alive {
            console.err("error: '\(ControlCharacters.escapeLine(key))' is held by \(who), which is still running on this host: "
                        + "stop it (kill -TERM \(owner.pid): it rolls back and releases the lock) or let it finish; "
                        + "'rotor unlock' frees only a lock whose holder is gone. Nothing was changed")
            return .failure
        }
        let now = global.clock()
        do {
            guard try store.breakLock(key: key, held: holder) else {
                console.err("error: the lock of '\(ControlCharacters.escapeLine(key))' changed while unlocking (released or taken over): nothing was changed; look again with 'rotor state check'")
                return .failure
            }
        } catch {
            console.err("error: cannot free the lock of '\(ControlCharacters.escapeLine(key))': \(error); nothing was changed")
            return .failure
        }
        let lease = holder.lease(at: now)
        // Only a run the store has (a lease may name one that is not there: found by an attacker).
        let unfinished = ((try? store.run(owner.runID)) ?? nil).map { $0.finished == nil } ?? false
        do {
            try store.appendAudit(AuditEntry(at: now, key: key, action: "unlock", outcome: "completed", runID: owner.runID,
                                             detail: "a person freed the lock of \(who), \(lease); that runner can write nothing more",
                                             data: ["holder_host": owner.host, "holder_pid": String(owner.pid)]))
        } catch {
            console.err("error: the lock of '\(ControlCharacters.escapeLine(key))' was freed, but the audit log could not record it (\(error)): note it by hand")
            return .needsPerson
        }
        console.out("unlocked '\(ControlCharacters.escapeLine(key))': \(who) is fenced out and can write nothing more to the state"
                    + (unfinished ? "; its run is unfinished: 'rotor recover' finishes or undoes it" : ""))
        return .success
    }

    /// A run interrupted on another host whose lease is gone (released when its store
    /// failed, or written by an older rotor) is left to that host by recovery, and there is
    /// no lease to break: the person's word is recorded as a lease of that run, freed, so
    /// that recovery here may proceed. nil when the key has no such run.
    private static func releaseWithoutLease(key: String, store: any StateStore, now: Date, console: Console) -> ExitStatus? {
        guard let run = ((try? store.runs()) ?? []).last(where: { $0.key == key && $0.finished == nil && $0.host != ProcessInfo.processInfo.hostName })
        else { return nil }
        let who = "run \(ControlCharacters.escapeLine(run.id)) (started on \(ControlCharacters.escapeLine(run.host)), its lease already gone)"
        do {
            let standIn = LockOwner(host: run.host, pid: 1, runID: run.id)
            guard try store.acquireLock(key: key, owner: standIn, lease: 0, now: now, canTakeOver: { _ in false }) == .acquired,
                  let held = try store.lockHolder(key: key), try store.breakLock(key: key, held: held) else {
                console.err("error: the lock of '\(ControlCharacters.escapeLine(key))' changed while unlocking: nothing was changed; look again with 'rotor state check'")
                return .failure
            }
            try store.appendAudit(AuditEntry(at: now, key: key, action: "unlock", outcome: "completed", runID: run.id,
                                             detail: "a person released \(who) to be recovered elsewhere", data: ["holder_host": run.host]))
        } catch {
            console.err("error: cannot release \(who): \(error)")
            return .needsPerson
        }
        console.out("unlocked '\(ControlCharacters.escapeLine(key))': \(who) may now be recovered here: 'rotor recover' finishes or undoes it")
        return .success
    }
}
