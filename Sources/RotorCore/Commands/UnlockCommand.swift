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
                console.err("error: the lock of '\(ControlCharacters.escapeLine(key))' changed while unlocking (released or taken over): nothing was changed; look again with 'rotor status'")
                return .failure
            }
        } catch {
            console.err("error: cannot free the lock of '\(ControlCharacters.escapeLine(key))': \(error); nothing was changed")
            return .failure
        }
        let lease = holder.lease(at: now)
        let unfinished = (try? store.run(owner.runID))??.finished == nil
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
}
