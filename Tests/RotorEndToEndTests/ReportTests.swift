import Foundation
import Testing
@testable import RotorCore

/// `rotor report --html`: the page of a real fleet (the built binary, real targets, a real
/// state store), read back by tools that share no code with rotor — html5lib in strict
/// mode, and headless Chromium loading it from its file behind a proxy that records every
/// request — with hostile names in it and the fleet's secrets as canaries.
@Suite(.serialized) struct ReportTests {
    static let page = RotationFixture.peers.appendingPathComponent("report_page.py").path
    /// Names that would steer a page that did not escape them: markup, a broken-out
    /// attribute, an entity, a bidi override, and a request that must never be made.
    static let hostileKey = "<b>k</b>&amp;\"x'"
    static let hostileConsumer = "<script>alert(1)</script>"
    static let attributeBreaker = "\" onmouseover=\"alert(1)\u{202E}"

    /// Three keys (one with a hostile name), four consumers, five targets, all from a
    /// `generate` provider; `beta` is due every day.
    /// A target's path holds an `<img>` to loopback: were it markup, the browser would
    /// request it through the test's proxy.
    static func fleet() throws -> Scratch {
        let scratch = try Scratch()
        try scratch.write("policies/keys.yaml", """
            kind: RotationPolicy
            providers:
              local: { type: generate }
            keys:
              alpha: { provider: local, every: 30d, grace: 1h, window: "Mon-Sun 00:00-23:59 UTC" }
              beta: { provider: local, every: 1d, grace: 0s }
              "\(hostileKey.replacingOccurrences(of: "\"", with: "\\\""))": { provider: local, every: 90d, grace: 0s }
            """)
        try scratch.write("consumers/services.yaml", """
            kind: ConsumerManifest
            consumers:
              api:
                uses: alpha
                targets:
                  - env_file: ../deploy/api.env
                    var: API_KEY
                  - json_file: ../deploy/api.json
                    pointer: /auth/key
              "\(hostileConsumer)":
                uses: alpha
                targets:
                  - env_file: "../deploy/<img src=http://127.0.0.1:8080/planted>.env"
                    var: API_KEY
              "\(attributeBreaker.replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\u{202E}", with: "\\u202E"))":
                uses: beta
                targets:
                  - env_file: ../deploy/beta.env
                    var: BETA_KEY
              worker:
                uses: "\(hostileKey.replacingOccurrences(of: "\"", with: "\\\""))"
                targets:
                  - env_file: ../deploy/worker.env
                    var: K
            """)
        try scratch.write("deploy/api.env", "API_KEY=before\n")
        try scratch.write("deploy/api.json", "{\"auth\": {\"key\": \"before\"}}\n")
        try scratch.write("deploy/<img src=http:/127.0.0.1:8080/planted>.env", "API_KEY=before\n")
        try scratch.write("deploy/beta.env", "BETA_KEY=before\n")
        try scratch.write("deploy/worker.env", "K=before\n")
        return scratch
    }

    static func python(_ arguments: [String]) throws -> [String: Any] {
        let result = try RotorProcess.run(["python3"] + arguments, executable: URL(fileURLWithPath: "/usr/bin/env"))
        #expect(result.status == 0, "\(arguments.prefix(2)): \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    /// Every value a target of the fleet holds now (the canaries of the leak scan).
    static func targetValues(_ scratch: Scratch) throws -> [String] {
        let folder = scratch.url.appendingPathComponent("deploy")
        return try FileManager.default.subpathsOfDirectory(atPath: folder.path).flatMap { name -> [String] in
            guard let text = try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8) else { return [] }  // a folder
            return text.split(whereSeparator: { "=\"\n{} :".contains($0) }).map(String.init).filter { $0.count >= 20 }
        }
    }

    @Test func thePageOfARealFleetReadsRightInABrowserAndHoldsNoSecret() throws {
        let scratch = try Self.fleet()
        let folder = scratch.url
        var outputs: [String] = []
        let rotated = try RotorProcess.run(["rotate", "alpha", "beta", Self.hostileKey, "--yes"], in: folder)
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        var secrets = try Self.targetValues(scratch)
        // alpha again: its first generation now waits out its hour of grace.
        let again = try RotorProcess.run(["rotate", "alpha"], in: folder)
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        secrets += try Self.targetValues(scratch)
        let emergency = try RotorProcess.run(["rotate", Self.hostileKey, "--emergency", "--yes"], in: folder)
        #expect(emergency.status == 0, "\(emergency.stdout)\(emergency.stderr)")
        secrets += try Self.targetValues(scratch)
        #expect(secrets.count >= 8)
        // beta's consumer drifts: its file now holds something rotor never issued.
        try scratch.write("deploy/beta.env", "BETA_KEY=edited-by-hand\n")
        outputs += [rotated.stdout, rotated.stderr, again.stdout, again.stderr, emergency.stdout, emergency.stderr]

        // Two days on: beta (every 1d) is overdue, alpha and the hostile key are not; alpha's
        // old generation waits out its grace (the emergency rotation deleted the hostile key's).
        let later = DateFormatting.iso8601(Date().addingTimeInterval(2 * 86_400))
        let report = try RotorProcess.run(["report", "--html", "page.html"], in: folder, environment: ["ROTOR_NOW": later])
        #expect(report.status == 0, "\(report.stdout)\(report.stderr)")
        #expect(report.stderr.contains("wrote page.html: 3 keys, 1 overdue, 1 target not in sync, audit log intact"), "\(report.stderr)")
        outputs += [report.stdout, report.stderr]
        let pagePath = folder.appendingPathComponent("page.html").path

        let parsed = try Self.python([Self.page, "parse", pagePath])
        let keys = ["alpha", "beta", Self.hostileKey]
        #expect(parsed["keys"] as? [String] == keys)
        #expect(parsed["sections"] as? [String] == keys)
        #expect(parsed["overdue"] as? [String] == ["beta"])
        #expect(parsed["summary"] as? [String: String] == ["keys": "3", "overdue": "1", "drifted": "1", "pending": "1", "audit": "intact"])
        let targets = try #require(parsed["targets"] as? [[String: String]])
        #expect(targets.count == 5)
        #expect(targets.filter { $0["state"] != "in-sync" }.map { $0["consumer"] } == [ControlCharacters.escapeLine(Self.attributeBreaker)])
        #expect(targets.contains { $0["consumer"] == Self.hostileConsumer && $0["target"]?.contains("<img src=") == true })
        let graph = try #require(parsed["graph_nodes"] as? [String])
        #expect(graph.contains(Self.hostileKey) && graph.contains(Self.hostileConsumer))
        // The audit chain as `history` sees it, head included.
        let history = try RotorProcess.run(["history", "--json"], in: folder)
        let entries = try #require((try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [String: Any])?["entries"] as? [[String: Any]])
        let last = try #require(entries.last)
        #expect(parsed["audit_head"] as? String == "\(last["sequence"] as? Int ?? 0):\(last["hash"] as? String ?? "")")
        #expect((parsed["audit_state"] as? String)?.contains("\(entries.count) entries, intact") == true)
        // Five runs, newest first; the emergency one marked break-glass, in the runs and the audit section.
        let runs = try #require(parsed["runs"] as? [[String: Any]])
        #expect(runs.count == 5)
        #expect(runs.first?["break_glass"] as? Bool == true && (runs.first?["text"] as? String)?.contains(Self.hostileKey) == true)
        #expect(runs.dropFirst().allSatisfy { $0["break_glass"] as? Bool == false })
        #expect((parsed["break_glass_rows"] as? Int ?? 0) >= 1)

        // In a real browser: the same keys, the script ran (its filter shows, `#filter=` applies),
        // and nothing was requested — the planted <img> and every other name stayed text.
        let screenshot = folder.appendingPathComponent("report.png").path
        let browsed = try Self.python([Self.page, "browse", pagePath, screenshot, "#filter=alpha"])
        #expect(browsed["keys"] as? [String] == keys)
        #expect(browsed["overdue"] as? [String] == ["beta"])
        #expect(browsed["filter_visible"] as? Bool == true)
        #expect(browsed["hidden_keys"] as? [String] == ["beta", Self.hostileKey])
        #expect(browsed["filter_count"] as? String == "1 of 3 keys match")
        // A link whose filter is invisible says what it is when nothing matches (found by an attacker).
        let invisible = try Self.python([Self.page, "browse", pagePath, screenshot, "#filter=%E2%80%8B"])
        #expect(invisible["hidden_keys"] as? [String] == keys)
        #expect(invisible["filter_count"] as? String == "0 of 3 keys match (the filter is \"\\u{200B}\")", "\(invisible["filter_count"] ?? "")")
        // A key's runs stay with it under the filter; the others' are hidden.
        let browsedRuns = try #require(browsed["runs"] as? [[String: Any]])
        #expect(browsedRuns.filter { $0["hidden"] as? Bool == false }.compactMap { ($0["text"] as? String)?.contains(" alpha ") }.allSatisfy { $0 })
        #expect(browsedRuns.filter { $0["hidden"] as? Bool == false }.count == 2)
        #expect(browsed["requests"] as? [String] == [])
        #expect(browsed["screenshot_png"] as? Bool == true)
        // Kept for a person to look at when the test runs in CI.
        if let artifacts = ProcessInfo.processInfo.environment["ROTOR_TEST_ARTIFACTS"] {
            try? FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
            try? FileManager.default.copyItem(atPath: screenshot, toPath: artifacts + "/report-\(UUID().uuidString.prefix(8)).png")
        }

        // No secret, in any form, on the page or in anything rotor printed.
        let scan = LeakScan(secrets: secrets)
        scan.check(outputs + [try String(contentsOfFile: pagePath, encoding: .utf8), browsed["text"] as? String ?? ""])
    }

    @Test func withNoStateYetThePageSaysSoAndCreatesNothing() throws {
        let scratch = try Self.fleet()
        let result = try RotorProcess.run(["report", "--html", "-"], in: scratch.url)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent(".rotor").path))
        try scratch.write("stdout.html", result.stdout)
        let parsed = try Self.python([Self.page, "parse", scratch.url.appendingPathComponent("stdout.html").path])
        #expect(parsed["overdue"] as? [String] == ["alpha", "beta", Self.hostileKey])  // never rotated by rotor: due
        #expect(parsed["audit_state"] as? String == "The audit log is empty.")
        #expect((parsed["runs"] as? [Any])?.isEmpty == true)
        #expect(parsed["runs_note"] as? String == "No run is recorded yet.")
        // A page made from the wrong folder or a mistyped --state says so, on the page and on stderr.
        #expect((parsed["sources"] as? String)?.hasPrefix("State sqlite:.rotor/state.db (no store there yet: nothing is recorded") == true, "\(parsed["sources"] ?? "")")
        #expect((parsed["sources"] as? String)?.contains("configuration policies/keys.yaml, consumers/services.yaml") == true, "\(parsed["sources"] ?? "")")
        #expect(result.stderr.contains("wrote the page to standard output: 3 keys, 3 overdue, 5 targets not in sync, audit log intact; no state store at sqlite:.rotor/state.db yet"), "\(result.stderr)")
    }

    /// `--runs 0` shows no run and says how many there are; an interrupted run is named
    /// with the command that finishes it.
    @Test func runsNotShownAndInterruptedRunsAreSaidSo() throws {
        let scratch = try Self.fleet()
        #expect(try RotorProcess.run(["rotate", "beta"], in: scratch.url).status == 0)
        let crashed = try RotorProcess.run(["rotate", "alpha"], in: scratch.url, environment: ["ROTOR_TEST_CRASH_AT": "update.done"])
        #expect(crashed.status != 0)
        let result = try RotorProcess.run(["report", "--html", "page.html", "--runs", "0"], in: scratch.url)
        #expect(result.status == 0, "\(result.stderr)")
        let parsed = try Self.python([Self.page, "parse", scratch.url.appendingPathComponent("page.html").path])
        #expect(parsed["runs_note"] as? String == "2 runs are recorded; none shown (--runs 0).")
        #expect((parsed["unfinished"] as? String)?.hasPrefix("1 run has no outcome: interrupted, or still going — 'rotor recover'") == true, "\(parsed["unfinished"] ?? "")")
    }

    /// A fleet too large for open sections: they start collapsed, and a link to a key's
    /// section (its anchor, stable as keys come and go) opens it in the browser.
    @Test func aLinkToAKeyOpensItsCollapsedSection() throws {
        let scratch = try Scratch()
        let keys = (1...14).map { "key-\($0)" }
        try scratch.write("policies/keys.yaml", "kind: RotationPolicy\nproviders:\n  local: { type: generate }\nkeys:\n"
            + keys.map { "  \($0): { provider: local, every: 30d }\n" }.joined())
        let result = try RotorProcess.run(["report", "--html", "page.html"], in: scratch.url)
        #expect(result.status == 0, "\(result.stderr)")
        let page = scratch.url.appendingPathComponent("page.html").path
        #expect(try Self.python([Self.page, "parse", page])["open_sections"] as? [String] == [])
        let browsed = try Self.python([Self.page, "browse", page, scratch.url.appendingPathComponent("shot.png").path, "#" + ReportPage.anchor("key-9")])
        #expect(browsed["open_sections"] as? [String] == ["key-9"])
    }

    /// FILE is written as a new regular file or over one: a symlink (planted by whoever
    /// owns its folder, for root to follow), a device, a FIFO, the state store, a
    /// configuration file or a target is refused and left as it was (found by an attacker:
    /// `--html /dev/null` as root made /dev/null a regular file).
    @Test func thePageNeverReplacesWhatIsNotAPage() throws {
        let scratch = try Self.fleet()
        #expect(try RotorProcess.run(["rotate", "beta"], in: scratch.url).status == 0)
        let precious = try scratch.write("root-only/precious", "precious\n")
        try FileManager.default.createSymbolicLink(atPath: scratch.url.appendingPathComponent("link.html").path, withDestinationPath: precious.path)
        try FileManager.default.createSymbolicLink(atPath: scratch.url.appendingPathComponent("dangling.html").path,
                                                   withDestinationPath: scratch.url.appendingPathComponent("root-only/new").path)
        #expect(mkfifo(scratch.url.appendingPathComponent("fifo.html").path, 0o644) == 0)
        let refused: [(String, String)] = [
            ("link.html", "is a symbolic link"), ("dangling.html", "is a symbolic link"), ("fifo.html", "is not a regular file"),
            (".rotor/state.db", "is the state store"), ("policies/keys.yaml", "is a configuration file"),
            ("deploy/beta.env", "is a target of consumer"), ("deploy", "is not a regular file"),
        ]
        let before = try FileManager.default.subpathsOfDirectory(atPath: scratch.url.path).sorted()
        let beta = try scratch.bytes("deploy/beta.env")
        for (file, reason) in refused {
            let result = try RotorProcess.run(["report", "--html", file], in: scratch.url)
            #expect(result.status == 1 && result.stderr.contains("\(file) \(reason)") && result.stderr.contains("nothing was written"), "\(file): \(result.stderr)")
        }
        #expect(try String(contentsOf: precious, encoding: .utf8) == "precious\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("root-only/new").path))
        #expect(try scratch.bytes("deploy/beta.env") == beta)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: scratch.url.path).sorted() == before)
        // Found by a second attack: the store's side files, a hard link to the store, and the
        // store named through a link to its folder.
        #expect(link(scratch.url.appendingPathComponent(".rotor/state.db").path, scratch.url.appendingPathComponent("hard.html").path) == 0)
        try FileManager.default.createSymbolicLink(atPath: scratch.url.appendingPathComponent("statelink").path, withDestinationPath: ".rotor")
        for file in [".rotor/state.db-wal", ".rotor/state.db-shm", ".rotor/state.db-journal", "hard.html", "statelink/state.db-wal"] {
            let result = try RotorProcess.run(["report", "--html", file], in: scratch.url)
            #expect(result.status == 1 && result.stderr.contains("is the state store"), "\(file): \(result.stderr)")
        }
        let linked = try RotorProcess.run(["report", "--html", "statelink/state.db-wal", "--state", "sqlite:statelink/state.db"], in: scratch.url)
        #expect(linked.status == 1 && linked.stderr.contains("is the state store"), "\(linked.stderr)")
        #expect(try RotorProcess.run(["history", "--verify"], in: scratch.url).status == 0)
        // A page over a page: replaced, its mode kept; a folder reached through a link is fine.
        let page = try scratch.write("pages/fleet.html", "old page")
        chmod(page.path, 0o640)
        try FileManager.default.createSymbolicLink(atPath: scratch.url.appendingPathComponent("www").path, withDestinationPath: "pages")
        let written = try RotorProcess.run(["report", "--html", "www/fleet.html"], in: scratch.url)
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try String(contentsOf: page, encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
        #expect((try FileManager.default.attributesOfItem(atPath: page.path)[.posixPermissions] as? Int) == 0o640)
    }

    /// `--html -` into a full disk or a closed stream is an error, not a cut page and exit 0
    /// (found by an attacker: `> /dev/full` exited 0).
    @Test func aPageThatDoesNotReachStandardOutputIsAnError() throws {
        let scratch = try Self.fleet()
        let process = Process()
        process.executableURL = RotorProcess.binary
        process.arguments = ["report", "--html", "-"]
        process.currentDirectoryURL = scratch.url
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/full"))
        let errors = scratch.url.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        process.waitUntilExit()
        let stderr = try String(contentsOf: errors, encoding: .utf8)
        #expect(process.terminationStatus == 1, "\(stderr)")
        #expect(stderr.contains("error: the page was not written whole to standard output: No space left on device"), "\(stderr)")
        #expect(!stderr.contains("wrote the page"))
    }

    /// Found by an attacker: an audit log emptied whole, or cut at its newest entry, read
    /// as intact; the finished runs show it.
    @Test(arguments: ["DELETE FROM audit", "DELETE FROM audit WHERE sequence = (SELECT max(sequence) FROM audit)",
                      "DELETE FROM audit; DELETE FROM runs; DELETE FROM journal"])
    func anAuditLogEmptiedOrCutAtItsTailIsShownBroken(_ cut: String) throws {
        let scratch = try Self.fleet()
        for _ in 0..<2 { #expect(try RotorProcess.run(["rotate", "beta"], in: scratch.url).status == 0) }
        try OperationsTests.sqlite(scratch.url.appendingPathComponent(".rotor/state.db").path, cut)
        let result = try RotorProcess.run(["report", "--html", "page.html"], in: scratch.url)
        #expect(result.status == 0 && result.stderr.contains("audit log BROKEN"), "\(result.stderr)")
        let parsed = try Self.python([Self.page, "parse", scratch.url.appendingPathComponent("page.html").path])
        let expected = cut.contains("runs") ? "the audit log names no rotation to the current generation of 1 key ('beta': gen-"
            : cut.contains("max") ? "the audit log has no entry for 1 finished run (" : "the audit log has no entry for 2 finished runs ("
        #expect((parsed["audit_state"] as? String)?.contains(expected) == true, "\(parsed["audit_state"] ?? "")")
    }

    @Test func anAuditLogCutShortIsShownBroken() throws {
        let scratch = try Self.fleet()
        for _ in 0..<2 { #expect(try RotorProcess.run(["rotate", "beta"], in: scratch.url).status == 0) }
        try OperationsTests.sqlite(scratch.url.appendingPathComponent(".rotor/state.db").path, "DELETE FROM audit WHERE sequence = 1")
        let result = try RotorProcess.run(["report", "--html", "page.html"], in: scratch.url)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("audit log BROKEN"))
        let parsed = try Self.python([Self.page, "parse", scratch.url.appendingPathComponent("page.html").path])
        #expect(parsed["summary"].flatMap { ($0 as? [String: String])?["audit"] } == "BROKEN")
        #expect((parsed["audit_state"] as? String)?.hasPrefix("Audit log BROKEN: entry 1 is missing or out of order") == true, "\(parsed["audit_state"] ?? "")")
    }

    @Test func aPageThatCannotBeWrittenOrReadIsAnErrorThatChangesNothing() throws {
        let scratch = try Self.fleet()
        let unwritable = try RotorProcess.run(["report", "--html", "no/such/folder/page.html"], in: scratch.url)
        #expect(unwritable.status == 1 && unwritable.stderr.contains("no/such/folder/page.html: its folder") && unwritable.stderr.contains("does not exist (No such file or directory); nothing was written"), "\(unwritable.stderr)")
        let badRuns = try RotorProcess.run(["report", "--html", "page.html", "--runs", "-1"], in: scratch.url)
        #expect(badRuns.status == 64 && badRuns.stderr.contains("--runs must be 0 or more"), "\(badRuns.stderr)")
        let noName = try RotorProcess.run(["report", "--html", ""], in: scratch.url)
        #expect(noName.status == 64 && noName.stderr.contains("--html needs a file name"), "\(noName.stderr)")
        try scratch.write("policies/broken.yaml", "kind: RotationPolicy\nkeys:\n  k: { provider: nowhere }\n")
        let invalid = try RotorProcess.run(["report", "--html", "page.html"], in: scratch.url)
        #expect(invalid.status == 1 && invalid.stderr.contains("policies/broken.yaml:3"), "\(invalid.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("page.html").path))
    }
}
