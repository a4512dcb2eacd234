import Foundation

/// How the engine's reports are shown: a line per key (and what a person must still do),
/// or the `--json` document. Returns the exit code the reports call for.
struct ReportView {
    let console: Console
    /// `--quiet`: only what failed or needs a person is shown (cron mails nothing else).
    var quiet = false

    /// `rotate`, `recover`, `rollback`, `sync`. `recovery`: the reports are of interrupted
    /// runs, finished either way (see `recoveryExitStatus`).
    @discardableResult
    /// `showEvidence`: every report's confirm-revoked results follow its line (an emergency's
    /// always come first).
    func show(_ reports: [RotationReport], json: Bool, recovery: Bool = false, showEvidence: Bool = false) -> ExitStatus {
        if json {
            console.writeOut(JSONOutput.encode(Document(version: 1, keys: reports)))
        } else {
            // --quiet still shows an emergency that left copies of the leaked key in files.
            for report in reports where !quiet || report.exitStatus != .success || !(report.leakedCopies ?? []).isEmpty || !report.leakedCopiesUnread.isEmpty {
                if report.emergency {
                    // An incident is closed on evidence: it comes first.
                    for revocation in report.revocations { console.out("\(report.key): \(evidence(revocation))") }
                }
                console.out("\(report.key): \(word(report.outcome, completed: "completed")) — \(ControlCharacters.escape(report.message))")
                if showEvidence, !report.emergency {
                    for revocation in report.revocations { console.out("  \(self.evidence(revocation))") }
                }
                if report.emergency {
                    // An incident wants every consumer accounted for.
                    for (consumer, state, detail) in report.consumerOutcomes {
                        console.out("  \(consumer): \(state.rawValue)" + (detail.map { " — \($0)" } ?? ""))
                    }
                    if report.outcome == .completed { showLeakedCopies(report.leakedCopies, unread: report.leakedCopiesUnread) }
                }
                showLeft(report.left)
            }
        }
        return reports.map { recovery ? $0.recoveryExitStatus : $0.exitStatus }.max() ?? .success
    }

    /// `run`: every key, due or not, with its rotation and grace-period deletion.
    func show(_ reports: [ScheduledKeyReport], json: Bool) -> ExitStatus {
        if json {
            console.writeOut(JSONOutput.encode(Document(version: 1, keys: reports)))
        } else {
            for report in reports where !quiet || report.exitStatus != .success { console.writeOut(lines(report)) }
        }
        return reports.map(\.exitStatus).max() ?? .success
    }

    /// One key of `run`, as text. (Its own function: Swift 6.3.1's optimizer crashed on
    /// this loop written inline, in CopyPropagation.)
    private func lines(_ report: ScheduledKeyReport) -> String {
        var text = "\(report.key): "
        if let rotation = report.rotation {
            // "completed — rotated to …", as `rotate` says it (not "rotated — rotated to").
            text += word(rotation.outcome, completed: "completed") + " — " + ControlCharacters.escape(rotation.message) + "\n"
        } else {
            text += Style.dim("skipped", console.colorOut) + " — not due: " + report.reason + "\n"
        }
        if let deletion = report.deletion { text += "  " + ControlCharacters.escape(deletion.message) + "\n" }
        for revocation in report.revocations {
            text += "  " + evidence(revocation) + "\n"
        }
        for item in report.left { text += "  left to do: " + ControlCharacters.escape(item.text) + "\n" }
        return text
    }

    /// A confirm-revoked result, green only when the old key was refused.
    private func evidence(_ revocation: Revocation) -> String {
        let detail = ControlCharacters.escape(revocation.detail)
        return revocation.status == .rejected ? Style.green(detail, console.colorOut) : Style.red(detail, console.colorOut)
    }

    /// Copies of a leaked generation still in files: each is the leaked key in the clear.
    private func showLeakedCopies(_ copies: [RotationReport.LeakedCopy]?, unread: [String]) {
        guard let copies else {
            console.out("  copies of the leaked key: not looked for (give the key 'scan:' paths, or run 'rotor scan PATH')")
            return
        }
        console.out("  copies of the leaked key left in the scanned files: \(copies.isEmpty ? "none" : String(copies.count))")
        for copy in copies {
            console.out("    \(ControlCharacters.escapeLine(copy.path)):\(copy.line)\(copy.declared ? " (a target that was not switched)" : "")")
        }
        for line in unread { console.out("    not scanned (a copy there would not be listed): \(line)") }
    }

    private func showLeft(_ left: [PendingAction]) {
        for item in left { console.out("  left to do: \(ControlCharacters.escape(item.text))") }
    }

    private func word(_ outcome: RunOutcome, completed: String) -> String {
        switch outcome {
        case .completed: Style.green(completed, console.colorOut)
        case .rolledBack: Style.yellow("rolled back", console.colorOut)
        case .failed: Style.red("failed", console.colorOut)
        case .needsPerson: Style.red("NEEDS A PERSON", console.colorOut)
        case .inProgress: Style.yellow("in progress", console.colorOut)
        }
    }

    private struct Document<Key: Encodable>: Encodable {
        var version: Int
        var keys: [Key]
    }
}
