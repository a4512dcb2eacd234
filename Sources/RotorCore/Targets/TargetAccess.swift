import Foundation

/// Whether rotor may replace a target file: preflight refuses, and `plan` shows, the same reason.
public enum TargetAccess {
    /// nil when the file and its folder are writable (an atomic replace needs both).
    public static func writeProblem(_ path: String) -> String? {
        guard access(path, W_OK) == 0 else {
            return errno == EROFS ? "the file system is read-only" : "the file is not writable (permission denied)"
        }
        guard access(PathNormalizer.parent(of: path), W_OK) == 0 else {
            return errno == EROFS ? "the file system is read-only" : "its folder is not writable, so it cannot be replaced atomically"
        }
        return nil
    }
}
