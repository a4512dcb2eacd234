import Foundation

/// `rotor apply PLAN`: run a saved plan exactly as reviewed; refuse if anything changed.
public enum ApplyCommand {
    public static func run(planPath: String, parallel: Int, json: Bool, global: GlobalOptions, console: Console) async -> ExitStatus {
        let step = ConfigurationStep(options: global, console: console)
        guard let data = FileManager.default.contents(atPath: step.loader.absolute(planPath)) else {
            console.err("error: cannot read the plan \(planPath)")
            return .usage
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = ISO8601DateFormatter().date(from: text) else { throw CocoaError(.coderInvalidValue) }
            return date
        }
        guard let saved = try? decoder.decode(SavedPlan.self, from: data), saved.kind == "rotor-plan" else {
            console.err("error: \(planPath) is not a plan saved by 'rotor plan --out'")
            return .usage
        }
        guard saved.version == 1 else {
            console.err("error: \(planPath) is a version \(saved.version) plan; this rotor reads version 1")
            return .usage
        }
        guard let (configuration, loaded) = step.load() else { return .failure }
        let loader = step.loader
        var observations: [String: String] = [:]
        for (id, observation) in PlanCommand.observe(configuration, keys: saved.keys.map(\.key)) {
            guard let consumer = configuration.consumers.first(where: { $0.name.value == id.consumer }) else { continue }
            let label = StepDescriptions.targetLabel(consumer.targets[id.index], displayPath: { loader.displayPath($0) })
            observations["\(id.consumer)\u{0}\(label)"] = observation.fingerprint ?? observation.state
        }
        let changes = saved.changes(configuration: configuration, sources: loaded.sources, observations: observations)
        guard changes.isEmpty else {
            console.err("error: refusing to apply \(planPath): things changed since it was made:")
            for change in changes { console.err("  \(change)") }
            console.err("make a new plan (rotor plan --out \(planPath)) and review it")
            return .failure
        }
        // A saved plan runs unattended: a due manual key was marked needs_person in the plan
        // and is left to its person (told again here), not failed on.
        let byHand = saved.keys.filter { $0.due && !$0.emergency && ($0.needsPerson || configuration.isManual($0.key)) }
        for key in byHand {
            let line = "\(key.key): left for a person (a manual key) — \(key.personCommand) at a terminal gives it its new secret"
            if json { console.err(line) } else { console.out(line) }  // stdout carries the JSON
        }
        let due = saved.keys.filter { $0.due && !byHand.map(\.key).contains($0.key) }.map(\.key)
        guard !due.isEmpty else {
            if !global.quiet, byHand.isEmpty { console.out("the plan rotates nothing") }
            return .success
        }
        var options = RotateCommand.Options(keys: due, emergency: saved.keys.contains { $0.due && $0.emergency }, parallel: parallel, json: json,
                                            secretSource: .none)
        options.existingStoreOnly = true
        return await RotateCommand.run(options, global: global, console: console)
    }
}
