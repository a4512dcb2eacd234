import Foundation

/// Totals a reviewer wants first: how many keys rotate, which files change.
public struct PlanSummary: Sendable, Codable, Equatable {
    public var keys: Int
    public var due: Int
    public var targets: Int
    /// Every file that will change, as displayed.
    public var files: [String]
    public var consumers: Int
    public var blockers: Int
    /// Due keys only a person can rotate (`manual`): `run` and `apply` leave them.
    public var needsPerson: Int
    /// Due keys `run` and `apply` would rotate themselves.
    public var unattended: Int { due - needsPerson }

    enum CodingKeys: String, CodingKey {
        case keys, due, targets, files, consumers, blockers
        case needsPerson = "needs_person"
    }

    /// `sharedFiles`: the files, as displayed, that several targets write (see
    /// `Configuration.filesWithSeveralTargets`); any other file is named by one step, so
    /// only these are checked for repeats. nil: check every file.
    public init(_ plan: Plan, sharedFiles: Set<String>? = nil) {
        // Each due key is tallied on its own core. A consumer uses one key, so keys share no
        // consumer and a key's count is its own; only files are merged across keys.
        let tallies = plan.keys.parallelMap { key in key.due ? KeyTally(key, sharedFiles: sharedFiles) : nil }
        keys = plan.keys.count
        (due, targets, blockers, consumers, needsPerson) = (0, 0, 0, 0, 0)
        files = []
        var seenFiles = Set<String>()
        for (key, tally) in zip(plan.keys, tallies) {
            guard let tally else { continue }
            due += 1
            if key.needsPerson { needsPerson += 1 }
            blockers += key.blockers.count
            targets += tally.targets
            consumers += tally.consumers
            for file in tally.files where !Self.mayRepeat(file, sharedFiles) || seenFiles.insert(file).inserted { files.append(file) }
        }
    }

    fileprivate static func mayRepeat(_ file: some StringProtocol, _ sharedFiles: Set<String>?) -> Bool {
        sharedFiles.map { !$0.isEmpty && $0.contains(String(file)) } ?? true
    }

    /// One key's update steps: how many, for how many consumers, into which files (each once).
    private struct KeyTally: Sendable {
        var targets = 0
        var consumers = 0
        var files: [String] = []

        init(_ key: KeyPlan, sharedFiles: Set<String>?) {
            // Sized first: grown from empty, a set is rehashed at each doubling.
            var seenConsumers = Set<String>(minimumCapacity: key.steps.count)
            var seenFiles = Set<Substring>()
            // Indices rather than `for step in`: copying every step showed in profiles.
            for index in key.steps.indices where key.steps[index].step == .update {
                targets += 1
                if let consumer = key.steps[index].consumer, seenConsumers.insert(consumer).inserted { consumers += 1 }
                // Searched as bytes: a backwards Character search walks grapheme clusters.
                guard key.steps[index].targetType != "exec", let target = key.steps[index].target,
                      let separator = target.utf8.lastIndex(of: UInt8(ascii: ":")) else { continue }
                let file = target[..<separator]
                if !PlanSummary.mayRepeat(file, sharedFiles) || seenFiles.insert(file).inserted { files.append(String(file)) }
            }
        }
    }
}

/// The plan for a person reviewing it at a glance.
public struct PlanTextRenderer {
    public var colored: Bool
    /// `rotate --dry-run --parallel N`: how many consumers follow the canary at once (nil:
    /// the default, and that `--parallel` sets it).
    public var parallel: Int?

    public init(colored: Bool, parallel: Int? = nil) {
        self.colored = colored
        self.parallel = parallel
    }

    public func render(_ plan: Plan) -> String {
        var lines: [String] = []
        for key in plan.keys {
            if !key.due {
                lines.append("\(Style.bold(key.key, colored))  \(Style.dim("not due: \(key.reason)", colored))")
                continue
            }
            let marker = key.emergency ? Style.red("EMERGENCY rotation", colored)
                : key.needsPerson ? Style.red("NEEDS A PERSON", colored) : Style.yellow("rotate", colored)
            lines.append("\(Style.bold(key.key, colored))  \(marker): \(key.reason)")
            if key.needsPerson, !key.emergency {
                lines.append("  a person rotates it: \(key.personCommand) (the new secret on stdin or --secret-env VAR); 'rotor run' and 'rotor apply' leave it")
            }
            lines.append("  provider \(key.provider) (\(key.providerType))" + (key.current.map { ", current generation \($0.id) \($0.fingerprint)" } ?? ""))
            let width = String(key.steps.count).count
            for (number, step) in key.steps.enumerated() {
                let index = String(number + 1).leftPadded(to: width)
                let name = step.step.rawValue.padding(toLength: max(10, step.step.rawValue.count), withPad: " ", startingAt: 0)
                var text = step.detail
                if let consumer = step.consumer { text = "\(consumer): \(text)" }
                if let current = step.current { text += Style.dim("  (now \(current))", colored) }
                lines.append("  \(index). \(name) \(text)")
            }
            if let canary = key.canary {
                let others = Set(key.steps.lazy.filter { $0.step == .update || $0.step == .reload || $0.step == .health }.compactMap(\.consumer)).count - 1
                if others > 0 {
                    let width = parallel.map { "up to \($0) at once" } ?? "up to --parallel at once, default \(RotationOptions.defaultParallel)"
                    let follow = others == 1 ? "the other consumer follows" : "the other \(others) consumers follow"
                    lines.append("  canary: \(canary) is updated first, alone; \(follow) once it is healthy (\(width))")
                }
            }
            for blocker in key.blockers {
                lines.append("  " + Style.red("! preflight will refuse: \(blocker)", colored))
            }
            lines.append("")
        }
        let summary = PlanSummary(plan)
        if summary.due == 0 {
            lines.append("Plan: nothing to rotate (\(summary.keys) key\(summary.keys == 1 ? "" : "s") checked).")
        } else {
            lines.append("Plan: \(summary.due) of \(summary.keys) key\(summary.keys == 1 ? "" : "s") to rotate; "
                + "\(summary.targets) target\(summary.targets == 1 ? "" : "s") of \(summary.consumers) consumer\(summary.consumers == 1 ? "" : "s") will change"
                + (summary.files.isEmpty ? "." : ", in \(summary.files.count) file\(summary.files.count == 1 ? "" : "s"):"))
            lines.append(contentsOf: summary.files.map { "  \($0)" })
            if summary.needsPerson > 0 {
                lines.append("\(summary.needsPerson) of them need\(summary.needsPerson == 1 ? "s" : "") a person (manual): " + plan.keys.filter { $0.due && $0.needsPerson }.map(\.personCommand).joined(separator: ", "))
            }
            if summary.blockers > 0 {
                lines.append(Style.red("\(summary.blockers) problem\(summary.blockers == 1 ? "" : "s") would stop preflight; fix them before rotating.", colored))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The plan as `--json`: `"version": 1`, the keys with their ordered steps, a summary.
/// Written with `JSONWriter` (members in key order), each key on its own core.
public enum PlanJSONRenderer {
    /// `summary`: when the caller has it already (it walks every step of every key).
    /// `warnings`: world-readable target files (see `TargetExposure`).
    public static func render(_ plan: Plan, summary: PlanSummary? = nil, warnings: [String] = []) -> String {
        String(decoding: bytes(plan, summary: summary, warnings: warnings), as: UTF8.self)
    }

    /// What `render` returns, as UTF-8: at 10,000 targets `plan --json` writes 6 MB,
    /// which a `String` would check byte by byte for nothing.
    public static func bytes(_ plan: Plan, summary: PlanSummary? = nil, warnings: [String] = []) -> [UInt8] {
        Array(pieces(plan, summary: summary, warnings: warnings).joined())
    }

    /// `bytes` as pieces to write one after another: the keys' runs, written on every
    /// core, are sent as they are (see `JSONWriter.pieces`).
    public static func pieces(_ plan: Plan, summary: PlanSummary? = nil, warnings: [String] = []) -> [[UInt8]] {
        // The keys, most of the output, are written first, on every core.
        let keys = WrittenElements(plan.keys)
        var json = JSONWriter(capacity: 1 << 16)
        json.object { document in
            document.member("generated_at", DateFormatting.iso8601(plan.generatedAt))
            document.member("keys", keys)
            document.member("summary", summary ?? PlanSummary(plan))
            document.member("version", plan.version)
            document.member("warnings", warnings)
        }
        json.raw([0x0A])
        return json.pieces
    }
}

extension KeyPlan: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { key in
            key.member("blockers", blockers)
            key.member("canary", canary)
            key.member("current", current)
            key.member("due", due)
            key.member("emergency", emergency)
            key.member("key", self.key)
            key.member("needs_person", needsPerson)
            key.member("next_due", nextDue.map(DateFormatting.iso8601))
            key.member("provider", provider)
            key.member("provider_type", providerType)
            key.member("reason", reason)
            key.member("steps") { $0.array(steps) { $1.write(to: &$0) } }
        }
    }
}

extension PlanStep: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { step in
            step.member("consumer", consumer)
            step.member("current", current)
            step.member("detail", detail)
            step.member("status", status?.rawValue)
            step.member("step", self.step.rawValue)
            step.member("target", target)
            step.member("target_type", targetType)
        }
    }
}

extension GenerationRecord: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { record in
            record.member("created", DateFormatting.iso8601(created))
            record.member("fingerprint", fingerprint)
            record.member("id", id)
            record.member("pending_deletion_at", pendingDeletionAt.map(DateFormatting.iso8601))
        }
    }
}

extension PlanSummary: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { summary in
            summary.member("blockers", blockers)
            summary.member("consumers", consumers)
            summary.member("due", due)
            summary.member("files", files)
            summary.member("keys", keys)
            summary.member("needs_person", needsPerson)
            summary.member("targets", targets)
        }
    }
}

/// The one JSON encoder configuration every `--json` output but `plan`'s and `status`'s
/// uses (those two write with `JSONWriter`, the same bytes, because of their size).
public enum JSONOutput {
    /// Pretty-printed, keys sorted, slashes unescaped, dates in ISO 8601; a value that
    /// cannot be encoded (a NaN) gives `{}`.
    public static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(DateFormatting.iso8601(date))
        }
        guard let data = try? encoder.encode(value) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
