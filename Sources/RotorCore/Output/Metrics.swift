import Foundation

/// The Prometheus textfile-collector view of rotor's state (`--metrics-file`).
public enum Metrics {
    /// `outcomes`: what this `rotor run` did for each key, the worst of its runs (a failed
    /// rotation followed by a completed grace-period deletion is a failure); a key it did
    /// nothing for shows its last finished run.
    /// `auditHead`: the audit chain's newest entry, published so that `history --verify
    /// --head` can later show a cut or rewritten log.
    public static func render(configuration: Configuration, states: [String: KeyState], runs: [RunRecord], outcomes thisRun: [String: RunOutcome] = [:],
                              drifted: [String: Int], auditHead: AuditEntry? = nil, now: Date) -> String {
        var lines: [String] = []
        func family(_ name: String, _ help: String, _ samples: [(String, Double)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) gauge")
            for (labels, value) in samples { lines.append("\(name){\(labels)} \(value == value.rounded() ? String(Int(value)) : String(value))") }
        }
        let keys = configuration.keys.map(\.name.value)
        func label(_ key: String) -> String { "key=\"\(key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"" }
        family("rotor_key_generation_age_seconds", "Age of the key's current generation.",
               keys.compactMap { key in states[key]?.current.map { (label(key), now.timeIntervalSince($0.created).rounded()) } })
        family("rotor_key_last_rotation_timestamp_seconds", "When the current generation was created.",
               keys.compactMap { key in states[key]?.current.map { (label(key), $0.created.timeIntervalSince1970.rounded()) } })
        var outcomes: [(String, Double)] = []
        for key in keys {
            guard let outcome = thisRun[key] ?? runs.last(where: { $0.key == key && $0.finished != nil })?.outcome else { continue }
            for candidate in [RunOutcome.completed, .rolledBack, .failed, .needsPerson] {
                outcomes.append(("\(label(key)),outcome=\"\(candidate.rawValue)\"", candidate == outcome ? 1 : 0))
            }
        }
        family("rotor_key_last_run_outcome", "Outcome of the key's last run (1 for the outcome it had).", outcomes)
        family("rotor_key_drifted_targets", "File targets not holding the current generation.", keys.map { (label($0), Double(drifted[$0] ?? 0)) })
        if let auditHead {
            family("rotor_audit_head_sequence", "The audit chain's newest entry (its hash as a label): check with rotor history --verify --head SEQ:HASH.",
                   [("hash=\"\(auditHead.hash)\"", Double(auditHead.sequence))])
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
