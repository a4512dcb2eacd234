import Foundation
import Testing
@testable import RotorCore

/// Looks for secret values in what rotor printed and in files, in every form a leak takes:
/// raw, JSON-escaped (also as ASCII with `\\u00e9`), percent-encoded, base64 and hex. Only the files a test allows (the targets, the
/// vendor's own database) may hold one.
struct LeakScan {
    /// The secrets, or leading parts of them that every secret shares (a canary prefix).
    var secrets: [String]

    /// Every form of every secret that must not appear.
    var needles: [(form: String, bytes: Data)] {
        secrets.flatMap { secret -> [(String, Data)] in
            let raw = Data(secret.utf8)
            // base64 of a prefix is a prefix of the whole's base64 only in whole 3-byte groups.
            let aligned = raw.prefix(raw.count - raw.count % 3)
            var unreserved = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
            unreserved.insert(charactersIn: "-._~")
            let percent = secret.addingPercentEncoding(withAllowedCharacters: unreserved) ?? secret
            let asciiJSON = secret.unicodeScalars.map { $0.isASCII ? String($0) : String(format: "\\u%04x", $0.value) }.joined()
            return [("raw", raw),
                     ("JSON-escaped", Data(String(JSONLocator.encodeString(secret).dropFirst().dropLast()).utf8)),
                     ("percent-encoded", Data(percent.utf8)), ("ASCII JSON", Data(asciiJSON.utf8)),
                     ("base64", Data(aligned.base64EncodedString().utf8)),
                     ("hex", Data(raw.map { String(format: "%02x", $0) }.joined().utf8))]
        }.filter { !$0.1.isEmpty }
    }

    func check(_ outputs: [String], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for (index, output) in outputs.enumerated() {
            for (form, needle) in needles where Data(output.utf8).range(of: needle) != nil {
                Issue.record("output \(index) holds a secret (\(form)): \(output.prefix(400))", sourceLocation: sourceLocation)
            }
        }
    }

    /// Every file under `folder` (recursively) but the `allowed` relative paths.
    func check(folder: URL, allowed: Set<String> = [], sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        guard FileManager.default.fileExists(atPath: folder.path) else { return }
        for file in try FileManager.default.subpathsOfDirectory(atPath: folder.path) where !allowed.contains(file) {
            let data = (try? Data(contentsOf: folder.appendingPathComponent(file))) ?? Data()
            for (form, needle) in needles where data.range(of: needle) != nil {
                Issue.record("\(folder.lastPathComponent)/\(file) holds a secret (\(form))", sourceLocation: sourceLocation)
            }
        }
    }
}
