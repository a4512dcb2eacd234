import Foundation

/// Any vendor CLI: `create` prints JSON holding the new generation's id and secret;
/// `delete` takes `{id}`; `list` prints the generations.
struct ExecProvider: KeyProvider {
    var spec: ExecProviderSpec
    var runner: CommandRunner

    func preflight(directory: String) -> [String] {
        let commands = [spec.create, spec.delete, spec.deactivate, spec.list?.command].compactMap { $0 }
        var problems: [String] = []
        for program in commands.map(\.program) where CommandRunner.locate(program, in: directory) == nil {
            let problem = "the provider's command '\(program)' is not installed or not on PATH"
            if !problems.contains(problem) { problems.append(problem) }  // create and delete are often one CLI
        }
        for name in spec.tokenVariables where WithheldEnvironment.value(name)?.isEmpty != false {
            problems.append("the provider's token variable \(name) is not set")
        }
        return problems
    }

    func create(name: String, values: [Placeholder: String], directory: String) async throws(ProviderError) -> NewGeneration {
        var values = values
        values[.name] = name
        // The marker lets a later `rotor recover` find this command (and what it started)
        // should rotor die while it runs: see `OrphanedCreates`.
        let started = Date()
        let result = await run(spec.create, values: values, directory: directory, marker: name, log: false)
        // `--verbose` shows it once its answer was parsed: the new secret is known to the
        // redactor by then (found by an attacker: pieces of it printed beside the JSON were not).
        defer { VerboseLog.command(spec.create.argv.map { $0.render(values) }, directory: directory, result: result, seconds: Date().timeIntervalSince(started)) }
        // A CLI that failed may have failed after the vendor made the key (the answer lost
        // on the way back): only one that never started made nothing.
        guard result.succeeded else {
            // A CLI that printed its answer and then failed handed over a live secret: known
            // to the redactor before its message (which may quote it) is made.
            _ = try? NewGeneration.parse(result.stdout, idPointer: spec.idPointer, secretPointer: spec.secretPointer, name: name, source: "")
            throw ProviderError("create " + Self.failure(result, command: spec.create), mayHaveCreated: result.started, mayStillBeWorking: result.timedOut)
        }
        return try NewGeneration.parse(result.stdout, idPointer: spec.idPointer, secretPointer: spec.secretPointer, name: name,
                                       source: "create exited 0 but printed its answer")
    }

    func delete(id: String, values: [Placeholder: String], directory: String) async throws(ProviderError) {
        guard let delete = spec.delete else { throw ProviderError("the provider has no 'delete' command: delete generation \(id) by hand") }
        var values = values
        values[.id] = id
        if let deactivate = spec.deactivate {
            let result = await run(deactivate, values: values, directory: directory)
            guard result.succeeded else { throw ProviderError("deactivating \(id) " + Self.failure(result, command: deactivate)) }
        }
        let result = await run(delete, values: values, directory: directory)
        guard result.succeeded else { throw ProviderError("delete of \(id) " + Self.failure(result, command: delete)) }
    }

    func list(values: [Placeholder: String], directory: String) async throws(ProviderError) -> [ListedGeneration]? {
        guard let list = spec.list else { return nil }
        let result = await run(list.command, values: values, directory: directory)
        guard result.succeeded, let json = try? JSONSerialization.jsonObject(with: result.stdout, options: [.fragmentsAllowed]) else {
            throw ProviderError("list " + Self.failure(result, command: list.command))
        }
        return try list.fields.generations(in: json)
    }

    /// Runs one of the provider's commands: the only commands that get its `token_env`.
    private func run(_ command: CommandSpec, values: [Placeholder: String], directory: String, marker: String? = nil, log: Bool = true) async -> CommandResult {
        var environment = command.environment.mapValues { $0.render(values) }
        if let marker { environment[OrphanedCreates.variable] = marker }
        for name in spec.tokenVariables where environment[name] == nil {
            if let value = WithheldEnvironment.value(name) { environment[name] = value }
        }
        return await runner.run(command.argv.map { $0.render(values) }, environment: environment,
                                directory: directory, timeout: command.timeout.timeInterval, log: log)
    }

    /// "failed (exit 2): <stderr>" — the caller redacts before showing it anywhere.
    static func failure(_ result: CommandResult, command: CommandSpec) -> String {
        if result.timedOut { return "timed out after \(command.timeout) (\(command.program))" }
        let stderr = String(decoding: result.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return "failed (\(command.program) exited \(result.status))" + (stderr.isEmpty ? "" : ": \(stderr)")
    }

    static func string(_ value: Any?) -> String? {
        switch value {
        case let text as String: text
        case let number as NSNumber: number.stringValue
        default: nil
        }
    }

    static func date(_ value: Any?) -> Date? {
        switch value {
        case let text as String: ISO8601DateFormatter().date(from: text) ?? ISO8601DateFormatter.withFractions.date(from: text)
        case let number as NSNumber: Date(timeIntervalSince1970: number.doubleValue)
        default: nil
        }
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}

extension JSONPointer {
    /// The value this pointer names in a JSONSerialization tree, or nil.
    func resolve(in root: Any) -> Any? {
        var current: Any = root
        for token in tokens {
            if let object = current as? [String: Any], let next = object[token] {
                current = next
            } else if let array = current as? [Any], let index = Int(token), array.indices.contains(index) {
                current = array[index]
            } else {
                return nil
            }
        }
        return current
    }
}
