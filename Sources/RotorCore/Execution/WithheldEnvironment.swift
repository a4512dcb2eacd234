import CPosix
import Foundation

/// Provider tokens and a manual key's `--secret-env` value, taken out of rotor's own
/// environment once the configuration names them: a command rotor runs cannot inherit
/// them, nor read them in `/proc/$PPID/environ` (the original bytes are zeroed, and rotor
/// is not dumpable — `Process.hardened()`). Provider commands get their provider's tokens
/// back explicitly; every value withdrawn is known to the redactor.
enum WithheldEnvironment {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var values: [String: String] = [:]

    /// Withdraws every named variable that is still in the environment (idempotent).
    static func withdraw(_ names: some Sequence<String>) {
        lock.withLock {
            for name in names where values[name] == nil {
                var copy: UnsafeMutablePointer<CChar>?
                rotor_withdraw_env(name, &copy)
                guard let copy else { continue }
                let value = String(cString: copy)
                free(copy)
                values[name] = value
                _ = Secret(value)
            }
        }
    }

    /// A variable's value: the withdrawn one, else the environment's.
    static func value(_ name: String) -> String? {
        withdrawnValue(name) ?? ProcessInfo.processInfo.environment[name]
    }

    /// A variable's value if it was withdrawn, else nil.
    static func withdrawnValue(_ name: String) -> String? {
        lock.withLock { values[name] }
    }
}

/// What rotor does to itself before anything else.
public enum ProcessHardening {
    /// Not dumpable: no process of the same user may ptrace rotor or read its `/proc`
    /// files, and no core dump holds a secret. (A command running as root still can: as
    /// root, the commands in the configuration are as trusted as rotor — docs/reliability.md.)
    public static func apply() {
        _ = rotor_set_undumpable()
    }
}
