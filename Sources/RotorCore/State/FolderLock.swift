import Foundation

/// An exclusive advisory lock (`flock`) on a folder, held across processes for a short
/// critical section such as creating a database inside it. Released when the section ends
/// or the process dies.
enum FolderLock {
    struct TimedOut: Error, CustomStringConvertible {
        var folder: String
        var description: String {
            "another rotor has held the lock of \(folder) for \(Int(FolderLock.patience)) s while opening the state there; if no rotor is running, check the folder's file system"
        }
    }

    /// How long to wait for another holder: opening a state takes milliseconds.
    static let patience: TimeInterval = 30

    /// Runs `body` holding the folder's lock. A file system without `flock` runs it unlocked.
    static func whileHolding<T>(_ folder: String, _ body: () throws -> T) throws -> T {
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return try body() }
        defer { close(descriptor) }
        let deadline = Date().addingTimeInterval(patience)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { return try body() }
            guard Date() < deadline else { throw TimedOut(folder: folder) }
            usleep(10_000)
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }
}
