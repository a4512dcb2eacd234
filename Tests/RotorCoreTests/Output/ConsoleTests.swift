import Foundation
import Testing
@testable import RotorCore

@Suite struct ConsoleTests {
    /// More than a pipe holds (64 KiB), so `write` returns short and is called again.
    @Test func everyByteReachesAPipeThroughShortWrites() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let written = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let writeEnd = ends[1]
        let writer = Thread { Console.writeAll(written, to: writeEnd); close(writeEnd) }
        writer.start()
        let read = FileHandle(fileDescriptor: ends[0], closeOnDealloc: true).readDataToEndOfFile()
        #expect(read.count == written.count)
        #expect([UInt8](read) == written)
    }

    /// A descriptor that refuses writes (EBADF) ends the write. (A closed descriptor's
    /// number could be reused meanwhile by a test running beside this one: this one is
    /// held open, for reading only.)
    @Test func aDescriptorThatRefusesWritesStopsTheWriteInsteadOfLooping() {
        let readOnly = open("/dev/null", O_RDONLY)
        #expect(readOnly >= 0)
        defer { close(readOnly) }
        Console.writeAll(Array("lost".utf8), to: readOnly)  // returns: a loop would hang the test
        #expect(write(readOnly, "x", 1) == -1 && errno == EBADF)
    }

    @Test func concatenationJoinsPartsOfEveryKind() {
        let long = String(repeating: "x", count: 40)
        #expect(String(concatenating: "a", "", "é✓😀", long, "z") == "a" + "é✓😀" + long + "z")
        #expect(String(concatenating: "") == "")
        #expect(String(concatenating: "abc").utf8.count == 3)
        var bridged = "prefix "
        bridged += "\u{0301}"  // a combining mark joins the space before it: bytes, not characters, are joined
        #expect(Array(String(concatenating: bridged, "end").utf8) == Array(bridged.utf8) + Array("end".utf8))
    }
}
