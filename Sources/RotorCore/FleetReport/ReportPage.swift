import Crypto
import Foundation
import Mustache

/// `FleetReport` as one self-contained HTML page: the Mustache template in
/// `ReportTemplate`, filled from the view models below. Mustache escapes every value it
/// inserts (`{{name}}`; the template never uses `{{{…}}}`), and every text from
/// configuration, targets or the state store is first made printable
/// (`ReportPage.printable`), so a hostile name is shown, never obeyed.
public enum ReportPage {
    /// Above this many consumers the keys→consumers graph is not drawn: each key's section
    /// lists its consumers instead (a drawing of thousands of lines helps nobody).
    static let graphConsumerLimit = 200
    /// Up to this many keys, every key's section starts open; more start collapsed.
    static let openSectionLimit = 12

    public static func render(_ report: FleetReport) -> String {
        let page = Page(report)
        return template.render(page)
    }

    /// Parsed once: the template is a constant of the program, so a parse error is a bug
    /// that every test of the page finds.
    private static let template: MustacheTemplate = {
        do { return try MustacheTemplate(string: ReportTemplate.page) } catch { fatalError("the report template does not parse: \(error)") }
    }()

    /// What a page may show of text rotor did not write: known secrets redacted, control
    /// characters escaped as on a terminal (`\xHH`), and everything a reader cannot see or
    /// tell apart (`ControlCharacters.isInvisible`) as `\u{HHHH}` — so that no name steers the page, the
    /// browser or the reader.
    static func printable(_ text: String) -> String {
        let escaped = ControlCharacters.escapeLine(Redactor.known(text))
        guard escaped.unicodeScalars.contains(where: ControlCharacters.isInvisible) else { return escaped }
        var result = ""
        for scalar in escaped.unicodeScalars {
            if ControlCharacters.isInvisible(scalar) { result += String(format: "\\u{%04X}", scalar.value) } else { result.unicodeScalars.append(scalar) }
        }
        return result
    }

    /// `sha256-…` of an inline block, for the page's Content-Security-Policy: only the
    /// script and style rotor wrote may run, and nothing may be fetched.
    static func cspHash(_ text: String) -> String {
        "'sha256-" + Data(SHA256.hash(data: Data(text.utf8))).base64EncodedString() + "'"
    }

    /// "State sqlite:.rotor/state.db; configuration policies/keys.yaml, …; host h".
    static func sources(_ source: FleetReport.Source) -> String {
        let files = source.configurationFiles
        let configuration = files.count <= 4 ? files.joined(separator: ", ") : files.prefix(3).joined(separator: ", ") + " and \(files.count - 3) more files"
        return printable("State \(source.state)" + (source.stateExists ? "" : " (no store there yet: nothing is recorded, every key shows as never rotated)")
            + "; configuration \(configuration.isEmpty ? "(none)" : configuration); host \(source.host).")
    }

    /// A key's section's `id`: stable while keys come and go (a bookmark keeps working),
    /// and made of hex digits whatever the name holds.
    static func anchor(_ name: String) -> String {
        "key-" + SHA256.hash(data: Data(name.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }
}

// MARK: - View models (the names the template uses)

extension ReportPage {
    struct Page {
        let title: String
        let generatedAt: String
        let version: String
        /// The style and script are literal text of the template (`ReportTemplate`); only
        /// their hashes are values.
        let contentSecurityPolicy: String
        let summary: Summary
        let keys: [KeyRow]
        let noKeys: Bool
        let graph: Graph?
        let graphOmitted: String?
        let sources: String
        let unfinishedRuns: String?
        let runs: [RunRow]
        let runsNote: String?
        let audit: AuditView
        let warnings: [String]
        let hasWarnings: Bool
        let warningCount: String
        let warningsOpen: Bool

        init(_ report: FleetReport) {
            let keyCount = report.keys.count
            title = "rotor report — \(keyCount) key\(keyCount == 1 ? "" : "s")"
            generatedAt = DateFormatting.iso8601(report.generatedAt)
            version = RotorVersion.current
            contentSecurityPolicy = "default-src 'none'; style-src \(ReportPage.cspHash(ReportTemplate.style)); "
                + "script-src \(ReportPage.cspHash(ReportTemplate.script)); img-src 'none'; form-action 'none'; base-uri 'none'"
            summary = Summary(report)
            let open = keyCount <= ReportPage.openSectionLimit
            keys = report.keys.map { KeyRow($0, now: report.generatedAt, open: open) }
            noKeys = keys.isEmpty
            let consumerCount = Set(report.keys.flatMap { $0.status.targets.map(\.consumer) }).count
            if consumerCount <= ReportPage.graphConsumerLimit {
                graph = consumerCount == 0 ? nil : Graph(report.keys)
                graphOmitted = nil
            } else {
                graph = nil
                graphOmitted = "\(consumerCount) consumers are too many to draw; each key's section below lists its consumers."
            }
            sources = ReportPage.sources(report.source)
            unfinishedRuns = report.unfinishedRunCount == 0 ? nil
                : "\(report.unfinishedRunCount) run\(report.unfinishedRunCount == 1 ? " has" : "s have") no outcome: interrupted, or still going — 'rotor recover' finishes or undoes an interrupted one"
            let filters = Dictionary(keys.map { ($0.rawName, $0.filterText) }, uniquingKeysWith: { first, _ in first })
            runs = report.runs.map { RunRow($0, filterText: filters[$0.record.key]) }
            if report.runCount == 0 {
                runsNote = "No run is recorded yet."
            } else if report.runCount > report.runs.count {
                runsNote = report.runs.isEmpty ? "\(report.runCount) runs are recorded; none shown (--runs 0)."
                    : "The newest \(report.runs.count) of \(report.runCount) runs."
            } else {
                runsNote = nil
            }
            audit = AuditView(report.audit)
            warnings = report.warnings.map(ReportPage.printable)
            hasWarnings = !warnings.isEmpty
            warningCount = "\(warnings.count) warning\(warnings.count == 1 ? "" : "s")"
            warningsOpen = warnings.count <= ReportPage.openSectionLimit
        }
    }

    struct Summary {
        let keys: Int
        let overdue: Int
        let drifted: Int
        let pendingDeletions: Int
        let anyOverdue: Bool
        let anyDrifted: Bool

        init(_ report: FleetReport) {
            keys = report.keys.count
            overdue = report.overdueCount
            drifted = report.driftedCount
            pendingDeletions = report.pendingDeletionCount
            anyOverdue = overdue > 0
            anyDrifted = drifted > 0
        }
    }

    struct KeyRow {
        let anchor: String
        let name: String
        /// The name as configured: what runs are matched to.
        let rawName: String
        let policy: String
        let overdueBy: String?
        let filterText: String
        let provider: String
        let every: String
        let grace: String
        let window: String
        let age: String
        let bar: AgeBar?
        let nextDue: String
        let overdue: Bool
        let neverRotated: Bool
        let current: Generation?
        let pendingDeletion: Generation?
        let lastRun: String?
        let lastOutcome: String?
        let lastOutcomeClass: String
        let inSync: Int
        let targetCount: Int
        let allInSync: Bool
        let targets: [TargetRow]
        let noTargets: Bool
        let open: Bool

        init(_ key: FleetReport.Key, now: Date, open: Bool) {
            let status = key.status
            anchor = ReportPage.anchor(status.key)
            name = ReportPage.printable(status.key)
            rawName = status.key
            let consumers = status.targets.map(\.consumer)
            filterText = ([status.key, key.provider] + consumers).map { ReportPage.printable($0).lowercased() }.joined(separator: " ")
            provider = ReportPage.printable(key.provider)
            every = key.every.map(\.description) ?? "on demand"
            grace = key.grace.description
            window = key.window.map(ReportPage.printable) ?? "any time"
            policy = (key.every.map { "every \($0)" } ?? "on demand") + ", grace \(grace), window \(window), provider \(provider)"
            overdueBy = status.nextDue.flatMap { due in due < now ? "overdue by \(DateFormatting.age(now.timeIntervalSince(due)))" : nil }
            neverRotated = status.current == nil
            age = status.ageSeconds.map { DateFormatting.age(Double($0)) } ?? "never rotated"
            bar = status.ageSeconds.flatMap { age in key.every.map { AgeBar(age: age, limit: $0.seconds) } }
            nextDue = status.nextDue.map(DateFormatting.iso8601) ?? (status.current == nil ? "now (never rotated by rotor)" : "on demand")
            overdue = status.overdue
            current = status.current.map { Generation($0, now: now) }
            pendingDeletion = status.pendingDeletion.map { Generation($0, now: now) }
            lastRun = key.lastRun.map { ReportPage.printable($0.id) }
            lastOutcome = key.lastRun.map { $0.outcome?.rawValue ?? "unfinished" }
            lastOutcomeClass = RunRow.outcomeClass(key.lastRun?.outcome)
            targets = status.targets.map(TargetRow.init)
            noTargets = targets.isEmpty
            targetCount = targets.count
            inSync = status.targets.filter { $0.state == .inSync }.count
            allInSync = inSync == targetCount
            self.open = open
        }
    }

    /// The key's age against `every`, drawn as an SVG bar 0…`width` (overdue fills it).
    struct AgeBar {
        static let width = 160
        let filled: Int
        let percent: Int
        let level: String

        init(age: Int, limit: Int64) {
            // A clock behind the store's (another host's) gives a negative age: shown as 0.
            let fraction = limit > 0 ? Double(max(age, 0)) / Double(limit) : 1
            filled = Int((min(max(fraction, 0), 1) * Double(Self.width)).rounded())
            percent = Int((fraction * 100).rounded())
            level = fraction >= 1 ? "over" : fraction >= 0.8 ? "near" : "ok"
        }
    }

    struct Generation {
        let id: String
        let fingerprint: String
        let created: String
        let deleteAfter: String?
        /// Its grace period is over: the next `rotor run` deletes it.
        let graceEnded: Bool

        init(_ record: GenerationRecord, now: Date) {
            id = ReportPage.printable(record.id)
            fingerprint = ReportPage.printable(record.fingerprint)
            created = DateFormatting.iso8601(record.created)
            deleteAfter = record.pendingDeletionAt.map(DateFormatting.iso8601)
            graceEnded = record.pendingDeletionAt.map { $0 <= now } ?? false
        }
    }

    struct TargetRow {
        let consumer: String
        let target: String
        let type: String
        let state: String
        let stateClass: String
        let fingerprint: String?
        let reason: String?

        init(_ status: TargetStatus) {
            consumer = ReportPage.printable(status.consumer)
            target = ReportPage.printable(status.target)
            type = ReportPage.printable(status.type)
            state = status.state.rawValue
            stateClass = status.state == .inSync ? "ok" : "drift"
            fingerprint = status.fingerprint.map(ReportPage.printable)
            reason = status.reason.map(ReportPage.printable)
        }
    }

    struct RunRow {
        let id: String
        let key: String
        let started: String
        let finished: String
        let outcome: String
        let outcomeClass: String
        let breakGlass: Bool
        let who: String
        let steps: [StepRow]
        let stepCount: Int
        /// What the filter box matches: the key's (its consumers, its provider), so that a
        /// key's runs stay with it.
        let filterText: String

        init(_ run: FleetReport.Run, filterText: String?) {
            let record = run.record
            id = ReportPage.printable(record.id)
            key = ReportPage.printable(record.key)
            started = DateFormatting.iso8601(record.started)
            finished = record.finished.map(DateFormatting.iso8601) ?? "—"
            outcome = record.outcome?.rawValue ?? "unfinished"
            outcomeClass = Self.outcomeClass(record.outcome)
            breakGlass = record.emergency
            who = ReportPage.printable(record.user + "@" + record.host)
            steps = run.steps.map(StepRow.init)
            stepCount = steps.count
            self.filterText = filterText ?? key.lowercased()
        }

        static func outcomeClass(_ outcome: RunOutcome?) -> String {
            switch outcome {
            case .completed: return "ok"
            case .rolledBack, .failed: return "warn"
            case .needsPerson, .inProgress, nil: return "bad"
            }
        }
    }

    struct StepRow {
        let at: String
        let step: String
        let phase: String
        let phaseClass: String
        let place: String
        let detail: String

        init(_ entry: JournalEntry) {
            at = DateFormatting.iso8601(entry.at)
            step = entry.step.rawValue
            phase = entry.phase.rawValue
            phaseClass = entry.phase == .failed ? "bad" : entry.phase == .done ? "ok" : ""
            place = ReportPage.printable([entry.consumer, entry.target].compactMap { $0 }.joined(separator: ": "))
            detail = ReportPage.printable(entry.detail)
        }
    }

    struct AuditView {
        let entriesText: String
        let intact: Bool
        let empty: Bool
        let problem: String?
        let head: String?
        let breakGlass: [BreakGlassRow]
        let hasBreakGlass: Bool

        init(_ audit: FleetReport.Audit) {
            entriesText = audit.entries.map { "\($0) entr\($0 == 1 ? "y" : "ies")" } ?? "entries unreadable"
            intact = audit.problem == nil
            empty = audit.entries == 0 && audit.problem == nil
            problem = audit.problem.map(ReportPage.printable)
            head = audit.head.map(ReportPage.printable)
            breakGlass = audit.breakGlass.map(BreakGlassRow.init)
            hasBreakGlass = !breakGlass.isEmpty
        }
    }

    struct BreakGlassRow {
        let at: String
        let key: String
        let action: String
        let outcome: String
        let who: String
        let run: String

        init(_ entry: AuditEntry) {
            at = DateFormatting.iso8601(entry.at)
            key = ReportPage.printable(entry.key)
            action = ReportPage.printable(entry.action)
            outcome = ReportPage.printable(entry.outcome)
            who = ReportPage.printable(entry.user + (entry.sudoUser.map { " (sudo: \($0))" } ?? "") + "@" + entry.host)
            run = entry.runID.map(ReportPage.printable) ?? ""
        }
    }
}

// MARK: - The keys→consumers graph

extension ReportPage {
    /// Keys in a column on the left, their consumers on the right, one line per use; a
    /// consumer with a target not in sync (and its line) is marked as drifted.
    struct Graph {
        static let rowHeight = 26
        static let width = 760
        static let keyX = 8
        static let consumerX = 470
        static let labelLength = 34

        struct Node {
            let x: Int
            let y: Int
            let textY: Int
            let label: String
            let fullName: String
            let nodeClass: String
        }

        struct Edge {
            let x1: Int
            let y1: Int
            let x2: Int
            let y2: Int
            let edgeClass: String
        }

        let height: Int
        let width = Graph.width
        let keyNodes: [Node]
        let consumerNodes: [Node]
        let edges: [Edge]
        let summary: String

        init(_ keys: [FleetReport.Key]) {
            var consumers: [(name: String, drifted: Bool, key: Int)] = []
            for (index, key) in keys.enumerated() {
                var seen: [String: Int] = [:]
                for target in key.status.targets {
                    if let position = seen[target.consumer] {
                        if target.state != .inSync { consumers[position].drifted = true }
                    } else {
                        seen[target.consumer] = consumers.count
                        consumers.append((target.consumer, target.state != .inSync, index))
                    }
                }
            }
            let rows = max(keys.count, consumers.count)
            height = rows * Self.rowHeight + 8
            // Keys spread over the same height as their consumers, so lines stay short.
            let keySpacing = consumers.count > keys.count && !keys.isEmpty ? Double(rows) / Double(keys.count) : 1
            func y(_ row: Double) -> Int { Int(row * Double(Self.rowHeight)) + 4 }
            keyNodes = keys.enumerated().map { index, key in
                let top = y(Double(index) * keySpacing)
                return Node(x: Self.keyX, y: top, textY: top + 17, label: Graph.label(key.status.key), fullName: ReportPage.printable(key.status.key),
                            nodeClass: key.status.overdue ? "node overdue" : "node")
            }
            consumerNodes = consumers.enumerated().map { row, consumer in
                Node(x: Self.consumerX, y: y(Double(row)), textY: y(Double(row)) + 17, label: Graph.label(consumer.name),
                     fullName: ReportPage.printable(consumer.name), nodeClass: consumer.drifted ? "node drift" : "node")
            }
            edges = consumers.enumerated().map { row, consumer in
                let key = y(Double(consumer.key) * keySpacing) + 11
                return Edge(x1: Self.keyX + 282, y1: key, x2: Self.consumerX, y2: y(Double(row)) + 11, edgeClass: consumer.drifted ? "edge drift" : "edge")
            }
            summary = "\(keys.count) key\(keys.count == 1 ? "" : "s") used by \(consumers.count) consumer\(consumers.count == 1 ? "" : "s")"
                + (consumers.contains(where: \.drifted) ? "; consumers with a target not in sync are marked" : "")
        }

        /// A name cut to fit its box; the whole name is in the node's `<title>`.
        static func label(_ name: String) -> String {
            let shown = ReportPage.printable(name)
            return shown.count <= labelLength ? shown : String(shown.prefix(labelLength - 1)) + "…"
        }
    }
}

// MARK: - The names the template reads (TemplateFields)

extension ReportPage.Page: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["title": \.title, "generatedAt": \.generatedAt, "version": \.version, "contentSecurityPolicy": \.contentSecurityPolicy, "summary": \.summary, "keys": \.keys, "noKeys": \.noKeys, "graph": \.graph, "graphOmitted": \.graphOmitted, "sources": \.sources, "unfinishedRuns": \.unfinishedRuns, "runs": \.runs, "runsNote": \.runsNote, "audit": \.audit, "warnings": \.warnings, "hasWarnings": \.hasWarnings, "warningCount": \.warningCount, "warningsOpen": \.warningsOpen]
}

extension ReportPage.Summary: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["keys": \.keys, "overdue": \.overdue, "drifted": \.drifted, "pendingDeletions": \.pendingDeletions, "anyOverdue": \.anyOverdue, "anyDrifted": \.anyDrifted]
}

extension ReportPage.KeyRow: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["anchor": \.anchor, "name": \.name, "rawName": \.rawName, "policy": \.policy, "overdueBy": \.overdueBy, "filterText": \.filterText, "provider": \.provider, "every": \.every, "grace": \.grace, "window": \.window, "age": \.age, "bar": \.bar, "nextDue": \.nextDue, "overdue": \.overdue, "neverRotated": \.neverRotated, "current": \.current, "pendingDeletion": \.pendingDeletion, "lastRun": \.lastRun, "lastOutcome": \.lastOutcome, "lastOutcomeClass": \.lastOutcomeClass, "inSync": \.inSync, "targetCount": \.targetCount, "allInSync": \.allInSync, "targets": \.targets, "noTargets": \.noTargets, "open": \.open]
}

extension ReportPage.AgeBar: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["filled": \.filled, "percent": \.percent, "level": \.level]
}

extension ReportPage.Generation: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["id": \.id, "fingerprint": \.fingerprint, "created": \.created, "deleteAfter": \.deleteAfter, "graceEnded": \.graceEnded]
}

extension ReportPage.TargetRow: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["consumer": \.consumer, "target": \.target, "type": \.type, "state": \.state, "stateClass": \.stateClass, "fingerprint": \.fingerprint, "reason": \.reason]
}

extension ReportPage.RunRow: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["id": \.id, "key": \.key, "started": \.started, "finished": \.finished, "outcome": \.outcome, "outcomeClass": \.outcomeClass, "breakGlass": \.breakGlass, "who": \.who, "steps": \.steps, "stepCount": \.stepCount, "filterText": \.filterText]
}

extension ReportPage.StepRow: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["at": \.at, "step": \.step, "phase": \.phase, "phaseClass": \.phaseClass, "place": \.place, "detail": \.detail]
}

extension ReportPage.AuditView: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["entriesText": \.entriesText, "intact": \.intact, "empty": \.empty, "problem": \.problem, "head": \.head, "breakGlass": \.breakGlass, "hasBreakGlass": \.hasBreakGlass]
}

extension ReportPage.BreakGlassRow: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["at": \.at, "key": \.key, "action": \.action, "outcome": \.outcome, "who": \.who, "run": \.run]
}

extension ReportPage.Graph: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["height": \.height, "width": \.width, "keyNodes": \.keyNodes, "consumerNodes": \.consumerNodes, "edges": \.edges, "summary": \.summary]
}

extension ReportPage.Graph.Node: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["x": \.x, "y": \.y, "textY": \.textY, "label": \.label, "fullName": \.fullName, "nodeClass": \.nodeClass]
}

extension ReportPage.Graph.Edge: TemplateFields {
    nonisolated(unsafe) static let fields: [String: PartialKeyPath<Self>] = ["x1": \.x1, "y1": \.y1, "x2": \.x2, "y2": \.y2, "edgeClass": \.edgeClass]
}
