import Foundation

/// What preflight checks for a key without calling its provider or touching a target: the
/// provider's own requirements (its commands on PATH, its token variable or file) and every
/// command the key's verify checks and its consumers' reload and health checks run. The
/// rotation's preflight and `plan` (and every dry run) share it, so that a plan CI accepts
/// is not refused at apply for something a look could have told (issue 19).
enum PreflightChecks {
    /// Each problem as a sentence; empty when none. `provider` is the implementation the
    /// run uses; a `manual` key's own requirement (a person with the secret) is not a
    /// problem here — the plan marks it `needs_person`.
    /// `targetCommands`: exec targets' commands too (`plan`; a run's preflight checks each
    /// target itself).
    /// `locate`: how a command is looked for (`CommandRunner.locate`, or a cached one).
    static func problems(key: KeyPolicy, provider: ProviderSpec, implementation: (any KeyProvider)?, consumers: [ConsumerSpec],
                         targetCommands: Bool = false, locate: (String, String) -> String? = CommandRunner.locate) -> [String] {
        var problems: [String] = []
        if let implementation, !(implementation is ManualProvider) {
            problems += implementation.preflight(directory: provider.directory)
        }
        for check in key.verify {
            if case .exec(let command) = check, locate(command.program, key.directory) == nil {
                problems.append("verify command '\(command.program)' is not installed or not on PATH")
            }
        }
        for consumer in consumers {
            if let reload = consumer.reload, locate(reload.program, consumer.directory) == nil {
                problems.append("\(consumer.name.value): reload command '\(reload.program)' is not installed or not on PATH")
            }
            if case .exec(let command)? = consumer.health, locate(command.program, consumer.directory) == nil {
                problems.append("\(consumer.name.value): health command '\(command.program)' is not installed or not on PATH")
            }
            // An exec target's commands (a file target is looked at by the plan itself).
            for target in consumer.targets where targetCommands {
                guard case .exec(let write, let read) = target.kind else { continue }
                for command in [write, read].compactMap({ $0 }) where locate(command.program, consumer.directory) == nil {
                    problems.append("\(consumer.name.value): exec target command '\(command.program)' is not installed or not on PATH")
                }
            }
        }
        return problems
    }

    /// `problems` for the planner: the provider implementation made as a run would make it
    /// (no person at hand), for a due key only. Each program is looked for once per plan (at
    /// 1,000 keys and 10,000 consumers each reload's PATH walk cost plan 0.2 s: measured).
    /// `scanPaths`: `--scan` of the command whose dry run this is; `skipping`: rotor's state
    /// folder, which a scan never reports on. An emergency is not stopped by a copy.
    static func forPlan(scanPaths: [String] = [], skipping: Set<FileID> = [], emergency: Bool = false) -> @Sendable (KeyPolicy, ProviderSpec, [ConsumerSpec]) -> [String] {
        let found = LookupCache()
        return { key, provider, consumers in
            var found = problems(key: key, provider: provider, implementation: provider.makeProvider(runner: CommandRunner()), consumers: consumers,
                                 targetCommands: true, locate: found.locate)
            // The `scan:` check preflight makes.
            let paths = emergency ? [] : ScanPreflight.paths(of: key, extra: scanPaths)
            let held = paths.isEmpty ? [] : ScanPreflight.heldValues(consumers)
            if !paths.isEmpty, let refusal = ScanPreflight.unsearchable(held) { found.append(refusal) }
            let needles = held.map { ScanNeedle(key: key.name.value, generation: .current, generationID: nil, value: $0) }
            if !needles.isEmpty, let refusal = ScanPreflight.check(key: key.name.value, needles: needles, consumers: consumers,
                                                                 paths: paths, skipping: skipping).refusal {
                found.append(refusal)
            }
            return found
        }
    }
}

/// `CommandRunner.locate`, remembered: a name on PATH once per program, a path once per
/// folder it is relative to. Shared by the planner's cores.
private final class LookupCache: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [String: String?] = [:]

    func locate(_ program: String, in directory: String) -> String? {
        let key = program.contains("/") ? directory + "\u{0}" + program : program
        lock.lock()
        if let known = results[key] {
            lock.unlock()
            return known
        }
        lock.unlock()
        let result = CommandRunner.locate(program, in: directory)
        lock.lock()
        results[key] = result
        lock.unlock()
        return result
    }
}
