import Foundation
import Yams

/// yams-load FILE: prints `yams SECONDS`, the time for Yams to compose the nodes of every document in the file
/// (with marks), file already in memory — the same work as `rotor-bench nodes`.
guard CommandLine.arguments.count == 2, let data = FileManager.default.contents(atPath: CommandLine.arguments[1]) else {
    FileHandle.standardError.write(Data("usage: yams-load FILE\n".utf8))
    exit(64)
}
let text = String(decoding: data, as: UTF8.self)
let clock = ContinuousClock()
let started = clock.now
let documents = Array(try Yams.compose_all(yaml: text))
let elapsed = clock.now - started
precondition(!documents.isEmpty)
print("yams \(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)")
