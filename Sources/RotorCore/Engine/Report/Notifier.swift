import Foundation

/// Tells a key's webhooks how a rotation ended: a JSON POST with a Slack-compatible
/// `text` field. The payload carries fingerprints and ids, never a secret. A failing
/// webhook is reported and never fails the rotation.
struct Notifier: Sendable {
    struct Payload: Encodable {
        var text: String
        var key: String
        var outcome: String
        var emergency: Bool
        var run: String?
        var message: String
        var newFingerprint: String?
        var oldFingerprint: String?
        var host: String
        /// The audit chain's head after this rotation (`SEQ:HASH`), for `history --verify --head`.
        var auditHead: String?

        enum CodingKeys: String, CodingKey {
            case text, key, outcome, emergency, run, message, host
            case auditHead = "audit_head"
            case newFingerprint = "new_fingerprint"
            case oldFingerprint = "old_fingerprint"
        }
    }

    /// Sends the report to every webhook of `key` that wants its event; returns one line per
    /// webhook that failed (naming only its host: webhook URLs often carry tokens).
    func notify(_ report: RotationReport, key: KeyPolicy, auditHead: () -> String?) async -> [String] {
        let event: WebhookSpec.Event = report.outcome == .completed ? .success : .failure
        let hooks = key.notify.filter { $0.events.contains(event) || (report.emergency && $0.events.contains(.emergency)) }
        guard !hooks.isEmpty else { return [] }
        let word = report.outcome == .completed ? "rotated" : report.outcome.rawValue
        let payload = Payload(
            text: Redactor.known("rotor: \(report.emergency ? "EMERGENCY " : "")\(report.key) \(word) on \(ProcessInfo.processInfo.hostName) — \(report.message)"),
            key: report.key, outcome: report.outcome.rawValue, emergency: report.emergency, run: report.runID, message: Redactor.known(report.message),
            newFingerprint: report.newGeneration?.fingerprint, oldFingerprint: report.oldGeneration?.fingerprint, host: ProcessInfo.processInfo.hostName,
            auditHead: auditHead())
        guard let body = try? JSONEncoder().encode(payload) else { return [] }
        var failures: [String] = []
        for hook in hooks {
            let text = hook.url.render(TemplateValues.context(key: report.key, now: Date()))
            guard let url = URL(string: text) else { continue }
            var request = HTTPRequest(method: "POST", url: url, timeout: 5)
            request.headers = [("Content-Type", "application/json")]
            request.body = body
            do {
                let status = try await HTTPClient.send(request).status
                if !(200..<300).contains(status) { failures.append("webhook at \(url.host ?? "?") answered \(status)") }
            } catch {
                failures.append("webhook at \(url.host ?? "?") unreachable")
            }
        }
        return failures
    }
}
