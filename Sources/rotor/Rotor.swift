import ArgumentParser
import Foundation
import RotorCore

/// The `rotor` command line: flags become option values; RotorCore does the work.
/// Every command states its `commandName`: ArgumentParser would otherwise derive it from
/// the type's name with `String(describing:)`, whose dynamic casts scan every protocol
/// conformance in the binary (startup time: docs/performance.md).
@main
struct Rotor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotor",
        abstract: "Rotate API keys and keep every consumer of a key in sync.",
        discussion: """
            rotor reads rotation policies (keys, who issues them, how old they may get) and consumer \
            manifests (the env files, JSON/YAML/INI files and commands that hold each key), then runs \
            preflight → create → verify → update → delete for each key, rolling back if anything fails, \
            and then proves the old key dead (its secret must be refused by the key's verify checks).

            Configuration: every *.yaml/*.yml under --config PATH (repeatable), or policies/ and \
            consumers/ in the current folder.

            State: every run and its journal are kept in the state store (--state, default \
            sqlite:.rotor/state.db); interrupted runs are recovered before every rotation.

            Exit codes: 0 success or nothing to do; 1 failure rolled back or invalid configuration; \
            2 something is waiting (plan --detailed-exitcode: rotations pending); 3 a person is needed; \
            64 usage error.
            """,
        version: RotorVersion.current,
        subcommands: [Validate.self, Plan.self, Apply.self, Rotate.self, RunDue.self, Adopt.self, Confirm.self, Status.self, Sync.self, History.self, Scan.self, Report.self, Rollback.self, Recover.self, Unlock.self, State.self]
    )

    /// One command per process: what it has finished with is left to the exit (`KeptUntilExit`).
    static func main() async {
        ProcessHardening.apply()
        BrokenPipes.ignore()
        Interruption.shared.install { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        KeptUntilExit.enable()
        await main(nil)
    }
}

/// Flags every subcommand shares.
struct GlobalFlags: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("A configuration file or folder (repeatable).", valueName: "path"))
    var configPaths: [String] = []

    @Option(name: .customLong("state"), help: ArgumentHelp("State store: sqlite:PATH (default sqlite:.rotor/state.db) or postgres://USER@HOST:PORT/DB, password from PGPASSWORD or ~/.pgpass; env ROTOR_STATE.", valueName: "url"))
    var stateURL: String?

    @Flag(name: .customLong("no-color"), help: "Never color output (NO_COLOR is honoured too).")
    var noColor = false

    @Flag(name: .shortAndLong, help: "Print nothing unless something failed or needs a person.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Also print every command rotor runs, its exit status and its output (secrets masked), on stderr.")
    var verbose = false

    /// A `ROTOR_NOW` that does not parse is a usage error (64), never silently the real time.
    func validate() throws {
        if let problem = GlobalOptions.fixedNowProblem { throw ValidationError(problem) }
        if let url = stateURL ?? ProcessInfo.processInfo.environment["ROTOR_STATE"], StateStoreURL.redacted(url) != url, !quiet {
            FileHandle.standardError.write(Data(("warning: the state URL holds a password: it shows in `ps` and shell history"
                + (stateURL == nil ? " and in ROTOR_STATE" : "") + "; give it through PGPASSWORD or ~/.pgpass instead\n").utf8))
        }
    }

    var options: GlobalOptions {
        VerboseLog.start(verbose: verbose)
        return GlobalOptions(configPaths: configPaths, stateURL: stateURL ?? ProcessInfo.processInfo.environment["ROTOR_STATE"],
                      quiet: quiet, verbose: verbose)
    }

    var console: Console { .standard(noColor: noColor) }
}

/// A path given on the command line, absolute (relative to the current folder).
func absolutePath(_ path: String) -> String {
    PathNormalizer.normalize(path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path)
}

/// Ends the process with one of rotor's exit codes.
func finish(_ status: ExitStatus) throws {
    if status != .success { throw ExitCode(status.rawValue) }
}

extension Rotor {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check every configuration file; print only problems and a summary line.",
            discussion: "Every problem of every file is reported in one run, as path:line:column. Exit 0 when valid, 1 when not.")

        @OptionGroup var global: GlobalFlags

        func run() throws {
            try finish(ValidateCommand.run(global.options, console: global.console))
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Show what rotor would do for each key, changing nothing.",
            discussion: """
                Reads every target read-only to show the fingerprint it holds now (never the value). \
                Exit 0 when the plan is made (with --detailed-exitcode: 0 nothing due, 2 rotations pending), \
                1 for invalid configuration or a target preflight would refuse.
                """)

        @Argument(help: ArgumentHelp("Only these keys (default: all).", valueName: "key"))
        var keys: [String] = []

        @Flag(help: "Print the plan as JSON (\"version\": 1) on stdout.")
        var json = false

        @Flag(name: .customLong("detailed-exitcode"), help: "Exit 2 when rotations are pending, 0 when nothing is due.")
        var detailedExitCode = false

        @Option(help: ArgumentHelp("Also save the plan here, for 'rotor apply' (no secrets in it).", valueName: "plan"))
        var out: String?

        @OptionGroup var global: GlobalFlags

        func run() throws {
            let options = PlanCommand.Options(keys: keys, json: json, detailedExitCode: detailedExitCode, out: out)
            try finish(PlanCommand.run(options, global: global.options, console: global.console))
        }
    }
}

extension Rotor {
    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scan",
            abstract: "Find every copy of a managed key's value in files, declared or not.",
            discussion: """
                Looks through every file under the paths (git-ignored ones too; not .git/, binary files, \
                special files, rotor's state, or symlinks) for each key's current generation, by the value \
                its targets hold, and every earlier generation rotor recorded, by fingerprint. Prints where \
                each copy is and whether a target declares it — never a value — and, for an undeclared one, \
                the consumer entry that would declare it. --verbose also lists the declared copies; --quiet \
                prints only the undeclared ones. Exit 0 no undeclared copy; 2 an undeclared copy exists; \
                1 error, or a file or folder that could not be read (whatever was found).
                """)

        @Argument(help: ArgumentHelp("Files or folders to look through (default: the current folder).", valueName: "path"))
        var paths: [String] = []

        @Flag(help: "Print the findings as JSON (\"version\": 1) on stdout.")
        var json = false

        @OptionGroup var global: GlobalFlags

        func run() throws {
            try finish(ScanCommand.run(ScanCommand.Options(paths: paths, json: json), global: global.options, console: global.console))
        }
    }
}

extension Rotor {
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Run a plan saved by 'plan --out' exactly as reviewed.",
            discussion: """
                Refuses, naming what changed, if any configuration file or any target changed since \
                the plan was made. Then rotates the keys the plan rotates. Exit codes as for 'rotate'.
                """)

        @Argument(help: ArgumentHelp("The saved plan.", valueName: "plan"))
        var plan: String

        @Option(help: ArgumentHelp("Consumers updated at once, after the first one (the canary) is healthy alone.", valueName: "n"))
        var parallel = RotationOptions.defaultParallel

        @Flag(help: "Print the reports as JSON on stdout.")
        var json = false

        @OptionGroup var global: GlobalFlags

        func run() async throws {
            try finish(await ApplyCommand.run(planPath: plan, parallel: parallel, json: json, global: global.options, console: global.console))
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Rotate keys now, whatever their schedule.",
            discussion: """
                For each key: preflight, create a new generation, verify it, update every consumer \
                (backup, write, read back, reload, health; the first consumer, the canary, alone, the others \
                once it is healthy), then delete the old generation (at once, or \
                after its grace period via 'rotor run'). Any failure while updating rolls every consumer \
                back and deletes the new generation. Interrupted runs are recovered first.
                Exit 0 rotated; 1 failed or rolled back cleanly; 3 a person is needed (see 'left to do').
                """)

        @Argument(help: ArgumentHelp("The keys to rotate.", valueName: "key"))
        var keys: [String]

        @Flag(help: "Rotate at once, ignoring schedule and grace: the old generation is deleted as soon as every consumer switched.")
        var emergency = false

        @Flag(name: .customLong("revoke-first"), help: "With --emergency: delete the old generation before updating consumers (cuts a leaked key off at once; rollback cannot restore it).")
        var revokeFirst = false

        @Flag(name: .customLong("dry-run"), help: "Print the plan and change nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Consumers updated at once, after the first one (the canary) is healthy alone.", valueName: "n"))
        var parallel = RotationOptions.defaultParallel

        @Flag(help: "Print the reports as JSON (\"version\": 1) on stdout.")
        var json = false

        @Option(name: .customLong("secret-env"), help: ArgumentHelp("Manual keys: the new secret is in this environment variable (else it is read from stdin, hidden on a terminal).", valueName: "var"))
        var secretEnv: String?

        @Flag(name: .shortAndLong, help: "Manual keys: confirm in advance that you delete the old key as instructed.")
        var yes = false

        @Option(name: .customLong("scan"), help: ArgumentHelp("Also look here (as the key's 'scan:' paths) at preflight: an undeclared copy of the key's value stops the rotation; after --emergency, the copies of the leaked key left are listed (repeatable).", valueName: "path"))
        var scanPaths: [String] = []

        @OptionGroup var global: GlobalFlags

        func validate() throws {
            guard !keys.isEmpty else { throw ValidationError("name at least one key to rotate") }
            guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
            guard !revokeFirst || emergency else { throw ValidationError("--revoke-first is for emergencies: add --emergency") }
        }

        func run() async throws {
            var options = RotateCommand.Options(keys: keys, emergency: emergency, revokeFirst: revokeFirst, dryRun: dryRun, parallel: parallel, json: json,
                                                secretSource: secretEnv.map { .environment($0) } ?? .standardInput, yes: yes)
            options.scanPaths = scanPaths.map(absolutePath)
            try finish(await RotateCommand.run(options, global: global.options, console: global.console))
        }
    }

    struct RunDue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "The cron/CI entry: recover, rotate what is due, delete what has passed its grace period.",
            discussion: """
                Rotates every key whose current generation is 'every' old (only inside its 'window', \
                if it has one), then deletes previous generations whose grace period has passed. Keys \
                go --parallel-keys at once (keys that share a file take turns on it); each key's \
                consumers as in 'rotate' (the canary alone, then 16 at once). One failing key does not \
                stop the others. Exit 0 all fine or nothing to do; 1 a rotation failed and was rolled \
                back; 3 a person is needed.
                """)

        @Flag(name: .customLong("dry-run"), help: "Print what would happen and change nothing.")
        var dryRun = false

        @Flag(help: "Print the reports as JSON (\"version\": 1) on stdout.")
        var json = false

        @Option(name: .customLong("metrics-file"), help: ArgumentHelp("Write Prometheus textfile metrics here (atomically).", valueName: "path"))
        var metricsFile: String?

        @Option(name: .customLong("scan"), help: ArgumentHelp("Also look here (as every key's 'scan:' paths) at preflight: an undeclared copy of a due key's value stops its rotation (repeatable).", valueName: "path"))
        var scanPaths: [String] = []

        @Option(name: .customLong("parallel-keys"), help: ArgumentHelp("Keys rotated at once (the default is two per core).", valueName: "n"))
        var parallelKeys = RotationEngine.defaultParallelKeys

        @OptionGroup var global: GlobalFlags

        func validate() throws {
            guard parallelKeys >= 1 else { throw ValidationError("--parallel-keys must be at least 1") }
        }

        func run() async throws {
            var options = RunCommand.Options(dryRun: dryRun, json: json, metricsFile: metricsFile, scanPaths: scanPaths.map(absolutePath))
            options.parallelKeys = parallelKeys
            try finish(await RunCommand.run(options, global: global.options, console: global.console))
        }
    }

    struct Adopt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "adopt",
            abstract: "Record the key the targets hold now as the current generation (onboarding).",
            discussion: """
                Reads every target of the key: those holding the secret must agree (compared by \
                fingerprint; rotor stores no value), a '{id}' target names the id (else --id; a key of \
                an exec or http provider needs one of the two, so that its first rotation deletes the \
                original there). The generation is recorded as created now (or at ROTOR_NOW), so 'every' \
                and 'window' count from today. A missing target is refused unless it has create: true; \
                a key rotor has recorded already is refused. Audited. Creates the state store if there \
                is none. With --all, keys whose targets hold nothing yet are skipped (their first \
                rotation creates one). Exit 0 adopted; 1 refused (nothing recorded for that key).
                """)

        @Argument(help: ArgumentHelp("The keys to adopt.", valueName: "key"))
        var keys: [String] = []

        @Flag(help: "Adopt every configured key.")
        var all = false

        @Option(help: ArgumentHelp("The id the provider knows the key by (one key only).", valueName: "id"))
        var id: String?

        @Flag(help: "Print the reports as JSON on stdout.")
        var json = false

        @OptionGroup var global: GlobalFlags

        func validate() throws {
            guard all != !keys.isEmpty else { throw ValidationError(all ? "name keys or give --all, not both" : "name the keys to adopt, or give --all") }
            guard id == nil || keys.count == 1 else { throw ValidationError("--id names the id of one key: adopt one key with it") }
        }

        func run() async throws {
            try finish(await AdoptCommand.run(AdoptCommand.Options(keys: keys, all: all, id: id, json: json), global: global.options, console: global.console))
        }
    }

    struct Confirm: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "confirm",
            abstract: "Record that a person deleted a manual key's old generation in the console.",
            discussion: """
                For keys whose provider is manual: the old generation waiting for a person to delete it \
                (after its grace period, 'rotor run' exits 3 naming it) is recorded as deleted, audited \
                as 'confirm', and the key's verify checks must now refuse its secret when rotor still has \
                it in a backup. Exit 0 recorded; 1 nothing waits; 3 the old key still answers.
                """)

        @Argument(help: ArgumentHelp("The keys whose old generation was deleted.", valueName: "key"))
        var keys: [String]

        @Flag(help: "Print the reports as JSON on stdout.")
        var json = false

        @OptionGroup var global: GlobalFlags

        func run() async throws {
            try finish(await ConfirmCommand.run(keys: keys, json: json, global: global.options, console: global.console))
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Each key's age, next due time, pending deletion, and what every target holds.",
            discussion: """
                Targets are compared by fingerprint: in-sync (current generation), stale (previous \
                generation), unknown (something else), missing, unreadable; a '{id}' target by the id. \
                An exec target's 'read' command runs (plan runs none). \
                An interrupted run (no outcome) is named with the 'rotor recover' that finishes it. \
                Exit 3 while a run is interrupted, 2 when a target drifted or a key is overdue, so cron \
                can alert; 0 otherwise.
                """)

        @Argument(help: ArgumentHelp("Only these keys (default: all).", valueName: "key"))
        var keys: [String] = []

        @Flag(help: "Print the status as JSON on stdout.")
        var json = false

        @OptionGroup var global: GlobalFlags

        func run() async throws {
            try finish(await StatusCommand.run(keys: keys, json: json, global: global.options, console: global.console))
        }
    }

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sync",
            abstract: "Write the current generation into targets that drifted.",
            discussion: """
                rotor stores no secrets: the value is read from a target that holds the current \
                generation (compared by fingerprint); when none does, sync refuses and says to rotate. \
                Drifted targets are written with backups, read back, reloaded and health-checked.
                """)

        @Argument(help: ArgumentHelp("Only these keys (default: all).", valueName: "key"))
        var keys: [String] = []

        @Flag(name: .customLong("dry-run"), help: "Say what would be written and change nothing.")
        var dryRun = false

        @OptionGroup var global: GlobalFlags

        func run() async throws {
            try finish(await SyncCommand.run(keys: keys, dryRun: dryRun, global: global.options, console: global.console))
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "The audit log: who, what, when — fingerprints only.",
            discussion: "Entries are hash-chained: --verify detects an edited, reordered or deleted entry and says where (exit 1); it cross-checks the runs and key states (a cut tail), and with --head SEQ:HASH a head published earlier.")

        @Argument(help: ArgumentHelp("Only this key.", valueName: "key"))
        var key: String?

        @Flag(help: "Print the entries as JSON on stdout.")
        var json = false

        @Flag(help: "Check the hash chain of the whole log, and that every finished run and current generation has its entry.")
        var verify = false

        @Option(help: ArgumentHelp("With --verify: the log must still hold this head, published earlier by --metrics-file or a webhook (exit 1 when cut or rewritten).", valueName: "seq:hash"))
        var head: String?

        @OptionGroup var global: GlobalFlags

        func run() throws {
            try finish(HistoryCommand.run(key: key, json: json, verify: verify, head: head, global: global.options, console: global.console))
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Write one self-contained HTML page showing the fleet: ages, consumers, drift, runs, audit.",
            discussion: """
                The page needs no network (inline style, SVG and a small script; it reads without the script too) \
                and holds no secret: ids and fingerprints only. It reads every target as 'rotor status' does \
                (an exec target's read command runs) and verifies the audit chain as 'rotor history --verify' does. \
                Exit 0 when the page is written (drift, overdue keys or a broken audit chain are the page's news), \
                1 when the configuration or state cannot be read or FILE cannot be written.
                """)

        @Option(name: .customLong("html"), help: ArgumentHelp("Write the page here ('-': standard output).", valueName: "file"))
        var html: String

        @Option(parsing: .unconditional, help: ArgumentHelp("Show this many of the newest runs with their steps.", valueName: "n"))
        var runs = 20

        @OptionGroup var global: GlobalFlags

        func run() async throws {
            try finish(await ReportCommand.run(ReportCommand.Options(htmlPath: html, runs: runs), global: global.options, console: global.console))
        }
    }

    struct State: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "state",
            abstract: "Manage the state store.",
            subcommands: [Check.self, Migrate.self])

        struct Check: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "check",
                abstract: "Say what the state store is and how rotor reaches it.",
                discussion: """
                    For PostgreSQL: the server, the TLS protocol and sslmode in effect (rotor asks for \
                    verify-full for any server off this machine unless the URL sets sslmode), the \
                    certificate the server showed, and the waits rotor bounds (lock_timeout, \
                    statement_timeout, idle_in_transaction_session_timeout). For every store: what it \
                    holds and which keys are locked. Changes nothing. Exit 0; 1 when it cannot be reached.
                    """)

            @OptionGroup var global: GlobalFlags

            func run() throws {
                try finish(StateCheckCommand.run(global: global.options, console: global.console))
            }
        }

        struct Migrate: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "migrate",
                abstract: "Copy all state from one store to another, then verify the copy.",
                discussion: """
                    Moves every key's generations, every run with its journal, and the audit log, e.g. \
                    from sqlite:.rotor/state.db to postgres://rotor@db.internal/rotor when runners on several \
                    hosts must share state (and back). The destination must be empty and no run in \
                    progress. The password comes from PGPASSWORD or ~/.pgpass, never the URL.
                    """)

            @Option(help: ArgumentHelp("The store to copy from.", valueName: "url"))
            var from: String

            @Option(help: ArgumentHelp("The empty store to copy into.", valueName: "url"))
            var to: String

            @OptionGroup var global: GlobalFlags

            func run() throws {
                try finish(StateMigrateCommand.run(from: from, to: to, global: global.options, console: global.console))
            }
        }
    }

    struct Unlock: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "unlock",
            abstract: "Free a key's lock whose holder is gone (fences it out; audited).",
            discussion: """
                For a person who knows the runner holding a key's lease is gone (its host is down, \
                its VM will not come back) and will not wait out the lease. The holder's fencing \
                token is replaced, so should it wake up it can write nothing more to the state; the \
                unlock is recorded in the audit log. A holder on this host that is still running is \
                refused: stop it and it releases the lock itself. Then 'rotor recover' finishes or \
                undoes its run. Exit 0 unlocked or not locked; 1 refused (nothing changed).
                """)

        @Argument(help: "The key whose lock to free.")
        var key: String

        @OptionGroup var global: GlobalFlags

        func run() throws {
            try finish(UnlockCommand.run(key: key, global: global.options, console: global.console))
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Undo a completed run whose old generation still exists.",
            discussion: """
                Within a key's grace period the old generation still works: every target the run \
                wrote is restored from the run's backups, consumers are reloaded and health-checked, \
                and the run's new generation is deleted. Exit 0 undone; 1 refused (nothing changed); \
                3 a person is needed.
                """)

        @Argument(help: ArgumentHelp("The run to undo (its id is in 'rotate --json' reports).", valueName: "run"))
        var runID: String

        @Flag(help: "Print the report as JSON on stdout.")
        var json = false

        @OptionGroup var global: GlobalFlags

        func run() async throws {
            try finish(await RollbackCommand.run(runID: runID, global: global.options, json: json, console: global.console))
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "recover",
            abstract: "Finish or undo interrupted runs.",
            discussion: """
                A run interrupted at any instant (kill -9, power loss) is rolled forward when every \
                consumer had verified the new generation, else rolled back: targets restored from their \
                backups, the new generation deleted. 'rotate' and 'run' do this first on their own.
                """)

        @Flag(help: "Print the reports as JSON on stdout.")
        var json = false

        @OptionGroup var global: GlobalFlags

        func run() async throws {
            try finish(await RecoverCommand.run(global: global.options, json: json, console: global.console))
        }
    }
}
