import Foundation

/// `rotor history [KEY] [--json] [--verify [--head SEQ:HASH]]`: the audit log — who, what,
/// when, fingerprints only; `--verify` checks the hash chain, cross-checks it with the runs
/// and key states (a cut tail, a log emptied or deleted with its runs), and with `--head`
/// against a head published earlier (metrics, webhooks, the report page).
public enum HistoryCommand {
    public static func run(key: String?, json: Bool, verify: Bool, head: String? = nil, global: GlobalOptions, console: Console) -> ExitStatus {
        var published: (sequence: Int, hash: String)?
        if let head {
            guard let parsed = AuditEntry.parseHead(head) else {
                console.err("error: --head '\(ControlCharacters.escape(head))' is not SEQUENCE:HASH (a number, a colon and 64 lowercase hex digits, as the metrics file and webhooks publish it)")
                return .usage
            }
            published = parsed
        }
        let verify = verify || published != nil
        guard let store = ConfigurationStep(options: global, console: console).existingStore() else { return .failure }
        let entries: [AuditEntry]
        do {
            entries = try store?.auditLog() ?? []
        } catch let damage as AuditLogDamaged where verify {
            console.out("audit log BROKEN: \(damage)")
            return .failure
        } catch {
            console.err("error: cannot read the audit log: \(error); 'rotor history --verify' names where it is damaged")
            return .failure
        }
        if verify {
            let runs: [RunRecord], states: [String: KeyState]
            do {
                (runs, states) = (try store?.runs() ?? [], try store?.keyStates() ?? [:])
            } catch {
                console.err("error: cannot read the runs and key states to cross-check the audit log: \(error)")
                return .failure
            }
            if let problem = AuditEntry.verify(entries) ?? published.flatMap({ AuditEntry.check(entries, against: $0) })
                ?? AuditEntry.crossCheck(entries, runs: runs, states: states) {
                console.out("audit log BROKEN: \(problem)")
                return .failure
            }
            console.out("audit log intact: \(entries.count) entr\(entries.count == 1 ? "y" : "ies"), hash chain verified"
                + (published == nil ? "" : ", the published head found") + (AuditEntry.head(of: entries).map { "; head \($0)" } ?? ""))
            return .success
        }
        let shown = entries.filter { key == nil || $0.key == key }
        if let key, shown.isEmpty, !isConfigured(key, global: global) {
            console.err("error: unknown key '\(ControlCharacters.escape(key))': it is neither configured nor in the audit log")
            return .usage
        }
        if json {
            struct Document: Encodable { var version: Int; var entries: [AuditEntry] }
            console.writeOut(JSONOutput.encode(Document(version: 1, entries: shown)))
            return .success
        }
        if shown.isEmpty { console.out("no history\(key.map { " for '\($0)'" } ?? "")") }
        for entry in shown {
            // Whatever the database holds, it does not drive the terminal.
            let who = ControlCharacters.escapeLine(entry.user + (entry.sudoUser.map { " (sudo: \($0))" } ?? "") + "@" + entry.host)
            var line = "\(DateFormatting.iso8601(entry.at))  \(who)  " + ControlCharacters.escapeLine("\(entry.key)  \(entry.action)  \(entry.outcome)")
            if entry.emergency { line += "  " + Style.red("EMERGENCY", console.colorOut) }
            if let old = entry.data["old_fingerprint"] { line += "  old " + ControlCharacters.escapeLine(old) }
            if let new = entry.data["new_fingerprint"] { line += "  new " + ControlCharacters.escapeLine(new) }
            if let run = entry.runID { line += "  run " + ControlCharacters.escapeLine(run) }
            console.out(line)
        }
        return .success
    }

    /// Whether the configuration (if it loads) names `key`: a configured key that was never
    /// rotated has an empty history, not an unknown name.
    static func isConfigured(_ key: String, global: GlobalOptions) -> Bool {
        let result = ConfigurationLoader(workingDirectory: global.workingDirectory).load(paths: global.configPaths)
        return result.configuration.key(named: key) != nil
    }
}
