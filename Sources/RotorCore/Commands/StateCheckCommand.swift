import Foundation

/// `rotor state check`: what the state store is and how rotor reaches it — for PostgreSQL
/// the server, the TLS protocol and `sslmode` in effect, the certificate the server showed,
/// and the waits rotor bounds; for both, what it holds and which locks are held. Changes
/// nothing (a store rotor never wrote to is not created).
public enum StateCheckCommand {
    public static func run(global: GlobalOptions, console: Console) -> ExitStatus {
        let url = global.stateURL ?? StateStoreURL.defaultURL
        var lines = ["state: \(ControlCharacters.escapeLine(StateStoreURL.redacted(url)))"]
        if PostgresURL.isURI(url) {
            // The session first: how rotor reaches the server matters before any state exists.
            do {
                let (connection, effectiveURL) = try PostgresStateStore.connect(url: url)
                lines += PostgresSessionReport(connection: connection, url: url, effectiveURL: effectiveURL).lines
            } catch {
                console.err("error: --state \(StateStoreURL.redacted(url)): cannot use the state database: \(error)")
                return .failure
            }
        }
        guard let opened = ConfigurationStep(options: global, console: console).existingStore() else {
            lines.forEach { console.out($0) }
            return .failure
        }
        guard let store = opened else {
            lines.append("holds: no rotor state yet (the first rotation creates it)")
            lines.forEach { console.out($0) }
            return .success
        }
        if let sqlite = store as? SQLiteStateStore { lines[0] = "state: sqlite:\(ControlCharacters.escapeLine(sqlite.path)) (SQLite, on this machine)" }
        do {
            let keys = try store.keyStates(), runs = try store.runs()
            let unfinished = runs.filter { $0.finished == nil }.count
            lines.append("holds: \(keys.count) key\(keys.count == 1 ? "" : "s"), \(runs.count) run\(runs.count == 1 ? "" : "s")"
                         + (unfinished > 0 ? " (\(unfinished) unfinished: 'rotor recover')" : "") + ", \(try store.auditLog().count) audit entries")
            let now = global.clock()
            for key in Set(keys.keys).union(runs.map(\.key)).sorted() {
                guard let holder = try store.lockHolder(key: key) else { continue }
                lines.append("lock: '\(ControlCharacters.escapeLine(key))' held by run \(ControlCharacters.escapeLine(holder.owner.runID)) (pid \(holder.owner.pid) on \(ControlCharacters.escapeLine(holder.owner.host))), "
                             + holder.lease(at: now))
            }
        } catch {
            lines.forEach { console.out($0) }  // how it was reached still helps
            console.err("error: the state store answered but cannot be read: \(error)")
            return .failure
        }
        lines.forEach { console.out($0) }
        return .success
    }
}
