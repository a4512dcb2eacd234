import Foundation

/// An exclusive advisory lock (`flock`) on a folder, held across processes for a short
/// critical section such as creating a database inside it. Released when the section ends
/// or the process dies.
enum FolderLock {
    struct TimedOut: Error, CustomStringConvertible {
        var folder: String
        var waited: TimeInterval
        var description: String {
            "another rotor held the lock of \(folder) for \(String(format: "%g", waited)) s while opening the state there; if no rotor is running, check the folder's file system"
        }
    }

    /// Runs `body` holding the folder's lock, waiting up to `patience` for another holder
    /// (opening a state takes milliseconds). A file system without `flock` runs it unlocked.
    static func whileHolding<T>(_ folder: String, patience: TimeInterval = 30, _ body: () throws -> T) throws -> T {
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return try body() }
        defer { close(descriptor) }
        let deadline = Date().addingTimeInterval(patience)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { return try body() }
            guard Date() < deadline else { throw TimedOut(folder: folder, waited: patience) }
            usleep(10_000)
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }
}
