import Foundation
import Testing
@testable import RotorCore

/// The report page as rendered, without a browser: what goes in escaped, what the template
/// may never do, the CSP's hashes, the age bars and the graph's limit.
/// (ReportTests, end to end, reads real pages with html5lib and headless Chromium.)
struct ReportPageTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func key(_ name: String, consumers: [String], age: Int?, every: Int64? = 100 * 86_400, state: TargetState = .inSync) -> FleetReport.Key {
        let current = age.map { GenerationRecord(id: "gen-\(name)", fingerprint: "sha256:0123456789ab", created: now.addingTimeInterval(-Double($0))) }
        let targets = consumers.map { TargetStatus(consumer: $0, target: "deploy/\($0).env:API_KEY", type: "env_file", state: state, fingerprint: nil, reason: nil) }
        let nextDue = current.flatMap { c in every.map { c.created.addingTimeInterval(Double($0)) } }
        let status = StatusCommand.KeyStatus(key: name, current: current, ageSeconds: age, nextDue: nextDue,
                                             overdue: current == nil || nextDue.map { $0 <= now } == true, pendingDeletion: nil, targets: targets)
        return FleetReport.Key(status: status, provider: "local (generate)", every: every.map { RotorDuration(seconds: $0) },
                               grace: RotorDuration(seconds: 0), window: nil, lastRun: nil)
    }

    static func report(keys: [FleetReport.Key], runs: [FleetReport.Run] = []) -> FleetReport {
        FleetReport(generatedAt: now, keys: keys, runs: runs, runCount: runs.count,
                    audit: FleetReport.Audit(entries: 0, problem: nil, head: nil, breakGlass: []), warnings: [])
    }

    @Test func hostileNamesAreShownAsTextNeverAsMarkup() {
        let hostile = ["<script>alert(1)</script>", "\" onmouseover=\"alert(1)", "' autofocus onfocus='x", "&lt;b&gt;", "a\u{1B}[31mred\u{202E}"]
        let page = ReportPage.render(Self.report(keys: hostile.map { Self.key($0, consumers: [$0 + "-c"], age: 10) }))
        #expect(page.components(separatedBy: "<script").count == 2)  // the page's own script only
        #expect(!page.contains("onmouseover=\"alert") && !page.contains("onfocus='x"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(page.contains("&quot; onmouseover=&quot;alert(1)"))
        #expect(page.contains("&amp;lt;b&amp;gt;"))  // an entity in a name is shown as typed, not decoded
        #expect(page.contains("a\\x1b[31mred\\u{202E}") && !page.contains("\u{1B}") && !page.contains("\u{202E}"))
    }

    /// Found by an attacker: bidi marks, zero-width characters, fillers and tag characters
    /// passed through, so two consumers could look the same and a name could look empty.
    @Test func invisibleCharactersAreShownAsEscapes() {
        for (name, shown) in [("a\u{200E}b", "a\\u{200E}b"), ("a\u{200B}b", "a\\u{200B}b"), ("\u{3164}", "\\u{3164}"), ("a\u{FEFF}", "a\\u{FEFF}"),
                              ("x\u{E0041}", "x\\u{E0041}"), ("a\u{061C}b", "a\\u{061C}b"), ("a\u{2060}b", "a\\u{2060}b"),
                              // From the second attack: blank-looking letters, joiners, selectors, every other space.
                              ("\u{2800}", "\\u{2800}"), ("a\u{FE0F}", "a\\u{FE0F}"), ("a\u{E0100}", "a\\u{E0100}"), ("a\u{034F}b", "a\\u{034F}b"),
                              ("\u{17B4}", "\\u{17B4}"), ("a\u{2065}", "a\\u{2065}"), ("a\u{00A0}b", "a\\u{00A0}b"), ("a\u{2003}b", "a\\u{2003}b"),
                              ("a\u{3000}b", "a\\u{3000}b"), ("a\u{1680}b", "a\\u{1680}b"), ("a\u{202F}b", "a\\u{202F}b")] {
            #expect(ReportPage.printable(name) == shown, "\(shown)")
        }
        #expect(ReportPage.printable("café ☕ 日本") == "café ☕ 日本")
    }

    /// Found by an attacker: the page listed completed runs under "intact, the audit log is
    /// empty" after every audit row was deleted. Each finished run leaves audit entries; a
    /// finished run with none means entries were deleted.
    @Test func finishedRunsWithoutAuditEntriesMakeTheChainBroken() {
        let finished = RunRecord(id: "r1", key: "k", started: Self.now, finished: Self.now, outcome: .completed, emergency: false, user: "u", host: "h")
        let unfinished = RunRecord(id: "r2", key: "k", started: Self.now, emergency: false, user: "u", host: "h")
        #expect(AuditEntry.missingEntries([], runs: [finished, unfinished]) == "the audit log has no entry for 1 finished run (r1, of 'k'): entries were deleted")
        var entry = AuditEntry(at: Self.now, key: "k", action: "rotate", outcome: "completed", runID: "r1", detail: "")
        entry.sequence = 1
        #expect(AuditEntry.missingEntries([entry], runs: [finished, unfinished]) == nil)
    }

    @Test func aKnownSecretInAJournalLineIsRedactedOnThePage() {
        let canary = "rotor-report-canary-7f3a9c1e5b"
        _ = Secret(canary)
        let entry = JournalEntry(at: Self.now, step: .reload, phase: .failed, consumer: "api", detail: "reload said: \(canary)")
        let run = FleetReport.Run(record: RunRecord(id: "r1", key: "k", started: Self.now, emergency: true, user: "root", host: "h"), steps: [entry])
        let page = ReportPage.render(Self.report(keys: [Self.key("k", consumers: ["api"], age: 1)], runs: [run]))
        #expect(!page.contains(canary))
        #expect(page.contains("reload said: [REDACTED]"))
        #expect(page.contains("BREAK-GLASS"))
    }

    @Test func theTemplateNeverInsertsAnythingUnescaped() {
        for form in ["{{{", "{{&", "{{%", "{{="] {
            #expect(!ReportTemplate.page.contains(form), "the template uses \(form)")
        }
        #expect(!ReportTemplate.style.contains("{{") && !ReportTemplate.script.contains("{{"))
        #expect(!ReportTemplate.page.contains("http://") || ReportTemplate.page.components(separatedBy: "http://").count == 2)  // the SVG namespace only
    }

    @Test func theContentSecurityPolicyNamesThePagesOwnStyleAndScriptOnly() throws {
        let page = ReportPage.render(Self.report(keys: []))
        let attribute = try #require(page.firstMatch(of: /content="(default-src[^"]*)"/)?.1)
        let policy = attribute.replacingOccurrences(of: "&#39;", with: "'")
        #expect(policy.hasPrefix("default-src 'none'; "))
        #expect(policy.contains("style-src \(ReportPage.cspHash(ReportTemplate.style))"))
        #expect(policy.contains("script-src \(ReportPage.cspHash(ReportTemplate.script))"))
        #expect(page.contains("<style>\(ReportTemplate.style)</style>") && page.contains("<script>\(ReportTemplate.script)</script>"))
        #expect(page.contains("No key is configured."))
    }

    @Test func ageBarsFillAgainstTheLimitAndTurnRedWhenOverdue() {
        #expect(ReportPage.AgeBar(age: 50, limit: 100).filled == 80)
        #expect(ReportPage.AgeBar(age: 50, limit: 100).level == "ok")
        #expect(ReportPage.AgeBar(age: 85, limit: 100).level == "near")
        let over = ReportPage.AgeBar(age: 250, limit: 100)
        #expect(over.filled == ReportPage.AgeBar.width && over.level == "over" && over.percent == 250)
        let page = ReportPage.render(Self.report(keys: [Self.key("old", consumers: [], age: 200 * 86_400), Self.key("new", consumers: [], age: nil)]))
        #expect(page.contains("<tr class=\"key-row overdue\" data-key=\"old\""))
        #expect(page.contains("<tr class=\"key-row overdue\" data-key=\"new\""))  // never rotated by rotor: due
        #expect(page.contains("now (never rotated by rotor)"))
    }

    /// From the operator review: how far overdue, a grace that is over, a clock behind the
    /// store's, stable anchors, runs that follow their key's filter, plurals.
    @Test func whatAnOperatorReadsIsExact() throws {
        var late = Self.key("late", consumers: ["api"], age: 100 * 86_400 + 8 * 3_600)
        late.status.pendingDeletion = GenerationRecord(id: "old", fingerprint: "sha256:0123456789ab", created: Self.now.addingTimeInterval(-200 * 86_400),
                                                       pendingDeletionAt: Self.now.addingTimeInterval(-60))
        let ahead = Self.key("ahead", consumers: [], age: -3_600)
        let run = FleetReport.Run(record: RunRecord(id: "r1", key: "late", started: Self.now, emergency: false, user: "u", host: "h"), steps: [])
        var report = Self.report(keys: [late, ahead], runs: [run])
        report.audit = FleetReport.Audit(entries: 1, problem: nil, head: "1:ab", breakGlass: [])
        let page = ReportPage.render(report)
        #expect(page.contains("(overdue by 8h)"))
        #expect(page.contains("its grace is over: the next <code>rotor run</code> deletes it"))
        #expect(ReportPage.AgeBar(age: -3_600, limit: 100).percent == 0)
        #expect(!page.contains("-3600") && !page.contains("<span class=\"note\">(-"))
        #expect(page.contains("audit chain, 1 entry<") && page.contains("Hash chain verified: 1 entry, intact."))
        #expect(page.contains("<dd>every 100d, grace 0s, window any time, provider local (generate)</dd>"))
        let onDemand = ReportPage.render(Self.report(keys: [Self.key("manual", consumers: [], age: 5, every: nil)]))
        #expect(onDemand.contains("<dd>on demand, grace 0s,"))
        // An anchor is the name's hash: the same whatever other keys exist, hex whatever the name.
        let anchor = ReportPage.anchor("late")
        #expect(anchor.wholeMatch(of: /key-[0-9a-f]{12}/) != nil && anchor == ReportPage.anchor("late") && anchor != ReportPage.anchor("Late"))
        #expect(page.contains("<details id=\"\(anchor)\""))
        #expect(page.contains("<details class=\"run\" data-filter=\"late local (generate) api\">"))
    }

    @Test func theGraphIsDrawnForASmallFleetAndNamedNotDrawnForALargeOne() {
        let small = ReportPage.render(Self.report(keys: [Self.key("k", consumers: ["a", "b"], age: 1, state: .stale)]))
        #expect(small.contains("<svg class=\"graph\""))
        #expect(small.components(separatedBy: "<line class=\"edge drift\"").count == 3)
        let consumers = (0...ReportPage.graphConsumerLimit).map { "c\($0)" }
        let large = ReportPage.render(Self.report(keys: [Self.key("k", consumers: consumers, age: 1)]))
        #expect(!large.contains("<svg class=\"graph\""))
        #expect(large.contains("\(consumers.count) consumers are too many to draw"))
        // A large fleet's key sections start collapsed; a small one's open.
        #expect(small.contains(" open>"))
        let many = ReportPage.render(Self.report(keys: (0...ReportPage.openSectionLimit).map { Self.key("k\($0)", consumers: [], age: 1) }))
        #expect(!many.contains(" open>"))
    }

    /// Every stored property of every view model is in its `TemplateFields` table (the
    /// template reads through the tables, not by reflection).
    @Test func everyViewModelNamesEachOfItsFieldsForTheTemplate() throws {
        func check<T: TemplateFields>(_ value: T?, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            guard let value else { Issue.record("no \(T.self) to check", sourceLocation: sourceLocation); return }
            let stored = Set(Mirror(reflecting: value).children.compactMap(\.label))
            #expect(stored == Set(T.fields.keys), "\(T.self)", sourceLocation: sourceLocation)
        }
        var key = Self.key("k", consumers: ["a"], age: 5)
        key.status.pendingDeletion = GenerationRecord(id: "old", fingerprint: "sha256:0123456789ab", created: Self.now, pendingDeletionAt: Self.now)
        let entry = JournalEntry(at: Self.now, step: .update, phase: .done, consumer: "a", detail: "written")
        let run = FleetReport.Run(record: RunRecord(id: "r", key: "k", started: Self.now, emergency: true, user: "u", host: "h"), steps: [entry])
        var report = Self.report(keys: [key], runs: [run])
        report.audit.breakGlass = [AuditEntry(at: Self.now, key: "k", action: "rotate", outcome: "completed", emergency: true, detail: "")]
        let page = ReportPage.Page(report)
        check(page)
        check(page.summary)
        check(page.keys.first)
        check(page.keys.first?.bar)
        check(page.keys.first?.current)
        check(page.keys.first?.pendingDeletion)
        check(page.keys.first?.targets.first)
        check(page.runs.first)
        check(page.runs.first?.steps.first)
        check(page.audit)
        check(page.audit.breakGlass.first)
        check(page.graph)
        check(page.graph?.keyNodes.first)
        check(page.graph?.edges.first)
    }
}
