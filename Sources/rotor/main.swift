import RotorCore
import Foundation
let path = CommandLine.arguments[1]
let data = try! Data(contentsOf: URL(fileURLWithPath: path))
let t0 = Date()
let r = YAMLLoader.load(Array(data))
print(r.documents.count, r.fatal.map { "\($0.mark): \($0.message)" } ?? "ok", r.problems.count, Date().timeIntervalSince(t0))
