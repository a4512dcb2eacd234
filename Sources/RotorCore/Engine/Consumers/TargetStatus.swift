import Foundation

/// What a target holds, compared with the state.
public enum TargetState: String, Sendable, Codable {
    case inSync = "in-sync"
    /// Holds the previous generation.
    case stale
    /// Holds something rotor does not know.
    case unknown
    case missing
    case unreadable
}

public struct TargetStatus: Sendable, Codable {
    public var consumer: String
    public var target: String
    public var type: String
    public var state: TargetState
    public var fingerprint: String?
    public var reason: String?
}

/// Compares what targets hold with a key's state, by fingerprint (`status`, `sync`, metrics).
enum TargetClassifier {
    static let idOnly = Template(parts: [.placeholder(.id)], source: "{id}")

    /// `observation`: what a file target held when read just before (else it is read now);
    /// its fingerprint is the value's, so a file is read once. An exec target runs its
    /// `read` command.
    static func classify(_ operation: TargetOperation, state: KeyState, observation: TargetObservation? = nil) async -> TargetStatus {
        var status = TargetStatus(consumer: operation.consumer.name.value, target: operation.label, type: operation.spec.typeName,
                                  state: .unknown, fingerprint: nil, reason: nil)
        let fingerprint: String
        if operation.spec.filePath != nil {
            switch observation ?? TargetInspector().observe(operation.spec) {
            case .missing(let reason): status.state = .missing; status.reason = reason; return status
            case .fileMissing: status.state = .missing; status.reason = TargetObservation.fileMissingReason; return status
            case .unreadable(let reason), .notRead(let reason): status.state = .unreadable; status.reason = reason; return status
            case .present(let observed): fingerprint = observed
            }
        } else {
            guard let value = await operation.readBack() else {
                status.state = operation.canReadBack ? .unreadable : .unknown
                status.reason = operation.canReadBack ? "its read command failed" : "an exec target with no 'read' command"
                return status
            }
            fingerprint = Fingerprint.of(value)
        }
        let comparable = Self.isComparable(operation.spec)
        let expected = { (record: GenerationRecord?) -> String? in Self.expectedFingerprint(operation.spec, of: record) }
        status.fingerprint = fingerprint
        if !comparable, let read = await Self.readThroughTemplate(operation) {
            // A value that mixes the generation with other text (`postgres://{id}:{secret}@…`).
            status.state = read.holds(state.current) ? .inSync : read.holds(state.previous) ? .stale : .unknown
            return status
        }
        if fingerprint == expected(state.current) {
            status.state = .inSync
        } else if fingerprint == expected(state.previous) {
            status.state = .stale
        } else if !comparable, state.current != nil {
            status.state = .unknown
            status.reason = "its value is the template '\(operation.spec.value.source)', not compared by fingerprint"
        }
        return status
    }

    /// What a target whose template mixes `{secret}` or `{id}` with other text holds, read
    /// through the template; nil when it names neither, cannot be read, or does not read as
    /// its template.
    static func readThroughTemplate(_ operation: TargetOperation) async -> HeldThroughTemplate? {
        guard !operation.spec.value.placeholders.isDisjoint(with: [.secret, .id]), let value = await operation.readBack(),
              let held = operation.spec.value.extract(from: value) else { return nil }
        return HeldThroughTemplate(secret: held[.secret].map { Secret($0) }, id: held[.id])
    }

    struct HeldThroughTemplate {
        var secret: Secret?
        var id: String?

        /// Whether it is `record`: the secret's fingerprint and the id, where the template has them.
        func holds(_ record: GenerationRecord?) -> Bool {
            guard let record else { return false }
            return (secret.map { $0.fingerprint == record.fingerprint } ?? true) && (id.map { $0 == record.id } ?? true)
        }
    }

    /// `{secret}` is compared by the secret's fingerprint, `{id}` by the id's (ids are not
    /// secret, and the state keeps them); any other template cannot be compared.
    static func isComparable(_ spec: TargetSpec) -> Bool { spec.value == .secretOnly || spec.value == idOnly }

    /// The fingerprint a target holding `record` reads as, or nil when not comparable.
    static func expectedFingerprint(_ spec: TargetSpec, of record: GenerationRecord?) -> String? {
        guard let record, isComparable(spec) else { return nil }
        return spec.value == .secretOnly ? record.fingerprint : Fingerprint.of(record.id)
    }

    /// File targets not in sync, per key (for metrics): compared as `status` compares them;
    /// a template that cannot be compared is not counted.
    static func driftCounts(_ configuration: Configuration, states: [String: KeyState]) -> [String: Int] {
        var counts: [String: Int] = [:]
        let consumersByKey = configuration.consumersByKey()
        for key in configuration.keys {
            let state = states[key.name.value] ?? KeyState()
            var count = 0
            for consumer in consumersByKey[key.name.value] ?? [] {
                for target in consumer.targets {
                    guard target.filePath != nil, isComparable(target) else { continue }
                    if case .present(let fingerprint) = TargetInspector().observe(target), fingerprint == expectedFingerprint(target, of: state.current) { continue }
                    count += 1
                }
            }
            counts[key.name.value] = count
        }
        return counts
    }
}
