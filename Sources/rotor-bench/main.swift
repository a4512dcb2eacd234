import Foundation
import RotorCore

/// Benchmark driver, run by bench/run in a release build:
///   rotor-bench load FILE   seconds to build YAML nodes, and to load the whole configuration
///   rotor-bench nodes FILE  only the YAML nodes (for profiling the loader)
///   rotor-bench scan values|fingerprints VALUES ROOT
///                           `rotor scan`'s search for the values (one per line) in ROOT, by
///                           value or by fingerprint; prints `path:line` per copy, then seconds
/// Prints `name seconds` lines; bench/run takes the medians.
let arguments = CommandLine.arguments.dropFirst()
if arguments.count == 4, arguments.first == "scan" {
    let values = String(decoding: FileManager.default.contents(atPath: arguments[arguments.startIndex + 2]) ?? Data(), as: UTF8.self)
        .split(separator: "\n").map(String.init)
    let needles = values.map { value in
        arguments[arguments.startIndex + 1] == "values"
            ? ScanNeedle(key: "k", generation: .current, generationID: nil, value: Secret(value))
            : ScanNeedle(key: "k", generation: .previous, generationID: nil, fingerprint: Fingerprint.of(value), shapes: [ValueShape(of: Array(value.utf8))])
    }
    let clock = ContinuousClock()
    let started = clock.now
    let copies = try PlainScan.copies(of: needles, in: [arguments[arguments.startIndex + 3]])
    let elapsed = clock.now - started
    var text = copies.map { "\($0.path):\($0.line)\n" }.joined()
    text += "seconds \(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)\n"
    FileHandle.standardOutput.write(Data(text.utf8))
    exit(0)
}
guard arguments.count == 2, ["load", "nodes"].contains(arguments.first), let path = arguments.last else {
    FileHandle.standardError.write(Data("usage: rotor-bench load|nodes FILE\n".utf8))
    exit(64)
}
let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
let limits = YAMLLoadLimits(maxBytes: 64 << 20)

// Each figure is the time to *have* the result: freeing it afterwards is not counted, as a
// configuration keeps its nodes until the process exits (and rotor never frees them).
let clock = ContinuousClock()
var started = clock.now
let nodes = YAMLLoader.load(bytes, limits: limits)
let nodesTime = clock.now - started
precondition(nodes.fatal == nil, "\(String(describing: nodes.fatal))")
if arguments.first == "nodes" {
    print("nodes \(seconds(nodesTime))")
    exit(0)
}
let folder = (path as NSString).deletingLastPathComponent
started = clock.now
let configuration = ConfigurationLoader(workingDirectory: folder, limits: limits).load(paths: [path])
let configurationTime = clock.now - started
precondition(!configuration.diagnostics.hasErrors, "\(configuration.diagnostics.errors.prefix(3))")
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
print("nodes \(seconds(nodesTime))")
print("configuration \(seconds(configurationTime))")
