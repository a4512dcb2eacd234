import Foundation
import Testing
@testable import RotorCore

/// `FolderOwnership.linksOnTheWay`: every link the system follows to reach a path —
/// folders and the file, absolute and relative targets, `..` after a link — so that the
/// folder of each can be checked (TargetOwnersTests drives it as root with another account).
struct LinksOnTheWayTests {
    @Test func everyLinkMetWhileResolvingIsNamed() throws {
        let folder = try TemporaryFolder()
        let root = folder.path
        for sub in ["a", "b/c", "d"] { try FileManager.default.createDirectory(atPath: "\(root)/\(sub)", withIntermediateDirectories: true) }
        FileManager.default.createFile(atPath: "\(root)/d/file", contents: Data())
        #expect(symlink("\(root)/b/c", "\(root)/a/toC") == 0)      // absolute, a folder
        #expect(symlink("../../d/file", "\(root)/b/c/up") == 0)    // relative, with '..'
        #expect(symlink("up", "\(root)/b/c/again") == 0)           // a link to a link
        #expect(FolderOwnership.linksOnTheWay(to: "\(root)/a/toC/again") == ["\(root)/a/toC", "\(root)/b/c/again", "\(root)/b/c/up"])
        #expect(FolderOwnership.linksOnTheWay(to: "\(root)/d/file") == [])
        // '..' after a link goes up from where the link led, as the system does.
        #expect(FolderOwnership.linksOnTheWay(to: "\(root)/a/toC/../c/up") == ["\(root)/a/toC", "\(root)/b/c/up"])
        // A loop ends.
        #expect(symlink("loop2", "\(root)/loop1") == 0 && symlink("loop1", "\(root)/loop2") == 0)
        #expect(FolderOwnership.linksOnTheWay(to: "\(root)/loop1").count == 41)
    }
}
