import Foundation

/// Whether rotor may replace a target file: preflight refuses, and `plan` shows, the same reason.
public enum TargetAccess {
    /// nil when the file and its folder are writable (an atomic replace needs both).
    /// `status`: the file's `stat` when the caller has just taken it (one call fewer).
    public static func writeProblem(_ path: String, status: stat? = nil) -> String? {
        var info = status ?? stat()
        if status != nil || stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_nlink > 1 {
            return "it has \(info.st_nlink) hard links: replacing it atomically would split them (the other names would keep the old value); "
                + "give every consumer one name (a symlink is fine)"
        }
        guard access(path, W_OK) == 0 else {
            return errno == EROFS ? "the file system is read-only" : "the file is not writable (permission denied)"
        }
        guard access(PathNormalizer.parent(of: path), W_OK) == 0 else {
            return errno == EROFS ? "the file system is read-only" : "its folder is not writable, so it cannot be replaced atomically"
        }
        return nil
    }
}
