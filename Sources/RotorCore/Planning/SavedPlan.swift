import Foundation

/// A plan saved by `plan --out` for `apply`: the keys and steps as reviewed, a digest of
/// every configuration file, and each target's fingerprint at planning time. No secrets.
public struct SavedPlan: Sendable, Codable {
    public var version = 1
    public var kind = "rotor-plan"
    public var generatedAt: Date
    /// Display path → `sha256:` digest of the file's bytes.
    public var configurationFiles: [String: String]
    public var keys: [KeyPlan]

    enum CodingKeys: String, CodingKey {
        case version, kind, keys
        case generatedAt = "generated_at"
        case configurationFiles = "configuration_files"
    }

    public init(plan: Plan, configuration: Configuration, sources: SourceFiles) {
        generatedAt = plan.generatedAt
        keys = plan.keys
        configurationFiles = Dictionary(uniqueKeysWithValues: configuration.files.map { ($0, Fingerprint.digest(sources.bytes(of: $0) ?? [])) })
    }

    /// What changed since the plan was made, each as a sentence; empty when nothing did.
    public func changes(configuration: Configuration, sources: SourceFiles, observations: [String: String]) -> [String] {
        var changes: [String] = []
        let now = Dictionary(uniqueKeysWithValues: configuration.files.map { ($0, Fingerprint.digest(sources.bytes(of: $0) ?? [])) })
        for (file, digest) in configurationFiles.sorted(by: { $0.key < $1.key }) {
            guard let current = now[file] else { changes.append("\(file) was removed"); continue }
            if current != digest { changes.append("\(file) was edited") }
        }
        for file in now.keys.sorted() where configurationFiles[file] == nil { changes.append("\(file) was added") }
        for key in keys where key.due {
            for step in key.steps where step.step == .update {
                guard let target = step.target, let planned = step.current, planned != TargetObservation.Word.notRead.rawValue else { continue }
                let actual = observations["\(step.consumer ?? "")\u{0}\(target)"] ?? "missing"
                if actual != planned { changes.append("\(target) changed since the plan (was \(planned), now \(actual))") }
            }
        }
        return changes
    }
}
