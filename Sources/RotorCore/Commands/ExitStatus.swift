import Foundation

/// rotor's exit codes, as the SPEC fixes them.
public enum ExitStatus: Int32, Sendable {
    /// Success, or nothing to do.
    case success = 0
    /// A failure that was rolled back cleanly, or invalid configuration.
    case failure = 1
    /// Something is waiting: rotations pending (`plan --detailed-exitcode`), drift or an overdue key (`status`).
    case pending = 2
    /// A person is needed: a rollback or deletion could not complete.
    case needsPerson = 3
    /// The command line was wrong.
    case usage = 64
}

/// Thrown where a command ends early with an exit code (after saying why).
extension ExitStatus: Error {}

extension ExitStatus: Comparable {
    /// Severity, for combining the outcomes of several keys: usage > needs-person > failure > pending > success.
    private var severity: Int {
        switch self {
        case .success: 0
        case .pending: 1
        case .failure: 2
        case .needsPerson: 3
        case .usage: 4
        }
    }

    public static func < (lhs: ExitStatus, rhs: ExitStatus) -> Bool { lhs.severity < rhs.severity }
}

extension RotationReport {
    /// The exit code for how an operation ended.
    var exitStatus: ExitStatus {
        switch outcome {
        case .completed, .inProgress: .success
        case .failed, .rolledBack: .failure
        case .needsPerson: .needsPerson
        }
    }

    /// For `recover`: finishing a run either way is success; only what is left for a person is not.
    var recoveryExitStatus: ExitStatus {
        outcome == .needsPerson ? .needsPerson : .success
    }
}

extension ScheduledKeyReport {
    /// `rotor run`'s exit code for one key: its rotation's, and a grace-period deletion
    /// that failed leaves a generation behind, which a person should know.
    var exitStatus: ExitStatus {
        let rotation = self.rotation?.exitStatus ?? .success
        let deletion = self.deletion.map { $0.exitStatus == .failure ? ExitStatus.needsPerson : $0.exitStatus } ?? .success
        return max(rotation, deletion)
    }
}
