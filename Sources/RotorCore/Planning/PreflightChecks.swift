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
    static func problems(key: KeyPolicy, provider: ProviderSpec, implementation: (any KeyProvider)?, consumers: [ConsumerSpec],
                         targetCommands: Bool = false) -> [String] {
        var problems: [String] = []
        if let implementation, !(implementation is ManualProvider) {
            problems += implementation.preflight(directory: provider.directory)
        }
        for check in key.verify {
            if case .exec(let command) = check, CommandRunner.locate(command.program, in: key.directory) == nil {
                problems.append("verify command '\(command.program)' is not installed or not on PATH")
            }
        }
        for consumer in consumers {
            if let reload = consumer.reload, CommandRunner.locate(reload.program, in: consumer.directory) == nil {
                problems.append("\(consumer.name.value): reload command '\(reload.program)' is not installed or not on PATH")
            }
            if case .exec(let command)? = consumer.health, CommandRunner.locate(command.program, in: consumer.directory) == nil {
                problems.append("\(consumer.name.value): health command '\(command.program)' is not installed or not on PATH")
            }
            // An exec target's commands (a file target is looked at by the plan itself).
            for target in consumer.targets where targetCommands {
                guard case .exec(let write, let read) = target.kind else { continue }
                for command in [write, read].compactMap({ $0 }) where CommandRunner.locate(command.program, in: consumer.directory) == nil {
                    problems.append("\(consumer.name.value): exec target command '\(command.program)' is not installed or not on PATH")
                }
            }
        }
        return problems
    }

    /// `problems` for the planner: the provider implementation made as a run would make it
    /// (no person at hand), for a due key only.
    static let forPlan: @Sendable (KeyPolicy, ProviderSpec, [ConsumerSpec]) -> [String] = { key, provider, consumers in
        problems(key: key, provider: provider, implementation: provider.makeProvider(runner: CommandRunner()), consumers: consumers, targetCommands: true)
    }
}
