import Foundation

/// Builds the engine for a command, and runs the recovery every changing command starts with.
enum EngineSetup {
    /// The engine over the `--state` store; or the exit code, after saying why not: 3 when
    /// the store exists but cannot be used (a run may be interrupted in it), 1 otherwise.
    ///
    /// `existingStoreOnly` (`rotor run`, `rotor apply`: unattended): a store that does not exist yet is not made — cron
    /// must never start over because `--state` was mistyped (every key would rotate as
    /// "never rotated", the real old generations orphaned at their providers).
    static func make(_ configuration: Configuration, global: GlobalOptions, console: Console, loader: ConfigurationLoader,
                     manualInput: ManualInput = ManualInput(), existingStoreOnly: Bool = false, command: String = "run") throws(ExitStatus) -> RotationEngine {
        guard let engine = try makeIfStoreExists(configuration, global: global, console: console, loader: loader, manualInput: manualInput,
                                                 create: !existingStoreOnly) else {
            noStore(global, console: console, command: command)
            throw .failure
        }
        return engine
    }

    /// `make`, or nil when no store is at `--state` and `create` is false (`recover`:
    /// nothing can be interrupted where no store is). A store that exists but cannot be
    /// used is exit 3, as for `make`.
    static func makeIfStoreExists(_ configuration: Configuration, global: GlobalOptions, console: Console, loader: ConfigurationLoader,
                                  manualInput: ManualInput = ManualInput(), create: Bool) throws(ExitStatus) -> RotationEngine? {
        let opened: StateStoreURL.Opened?
        do {
            opened = try StateStoreURL.open(global.stateURL, workingDirectory: global.workingDirectory, createIfMissing: create)
        } catch let problem as StateStoreURL.Problem where problem.storeUnavailable {
            console.err("error: \(problem)")
            console.err("rotor cannot tell whether a run was interrupted there: repair or restore the state store, then run 'rotor recover'")
            throw .needsPerson
        } catch {
            console.err("error: \(error)")
            throw .failure
        }
        guard let opened else { return nil }
        let quiet = global.quiet
        // On a terminal, many targets make one redrawn counter line rather than a line each.
        let redraw = console.errIsTerminal
        return RotationEngine(configuration: configuration, store: opened.store, backupsRoot: opened.stateFolder + "/backups",
                              progress: { line in if !quiet { console.err(ControlCharacters.escape(line)) } },
                              targetProgress: { done, total, line in
                                  guard !quiet else { return }
                                  guard redraw, total > 10 else { return console.err(line) }
                                  console.writeErr("\r\u{1B}[K  updated \(done)/\(total) targets" + (done == total ? "\n" : ""))
                              },
                              clock: global.clock,
                              displayPath: { loader.displayPath($0) },
                              manualInput: manualInput)
    }

    /// Says that `rotor run` found no state store at `--state`, and how to start one.
    static func noStore(_ global: GlobalOptions, console: Console, command: String = "run") {
        let url = StateStoreURL.redacted(global.stateURL ?? StateStoreURL.defaultURL)
        console.err("error: there is no state store at \(url), and 'rotor \(command)' never starts one (a mistyped --state would rotate every key as never rotated)")
        console.err("start with 'rotor adopt --all' (records the keys the targets hold now) or 'rotor rotate KEY' with this same state (--state \(url), or ROTOR_STATE), or give the --state of your existing store")
    }

    /// Finishes or undoes interrupted runs before a command changes anything, and shows
    /// how they ended (on stderr when stdout carries `--json`). nil when the state store
    /// cannot tell which runs were interrupted: the command must not go on (exit 3).
    static func recoverFirst(_ engine: RotationEngine, console: Console, json: Bool) async -> ExitStatus? {
        let reports: [RotationReport]
        do { reports = try await engine.recover() } catch {
            console.err("error: \(error)")
            return nil
        }
        var recoveryConsole = console
        if json { recoveryConsole.stdout = console.stderr }
        return ReportView(console: recoveryConsole).show(reports, json: false, recovery: true)
    }
}
