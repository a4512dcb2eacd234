import Foundation

/// One copy of a managed key's generation, as `scan` reports it: never the value, never a
/// fingerprint (one that matched is the generation's, already in the state store; one that
/// did not is never computed into output).
public struct ScanFinding: Sendable, Codable, Equatable {
    public var path: String
    public var line: Int
    public var key: String
    public var generation: ScanNeedle.Generation
    public var generationID: String?
    /// A target of the key addresses this copy.
    public var declared: Bool
    /// The manifest target that would address it (`env_file` + `var`, `json_file` +
    /// `pointer`…, the path absolute), when its file's kind names what holds it.
    public var target: [String: String]?
    /// The copy is where another key's target is: that key's target holds the wrong key.
    public var targetOf: String?
    var targetOrder: [String] = []

    enum CodingKeys: String, CodingKey {
        case path, line, key, generation, declared, target
        case generationID = "generation_id"
        case targetOf = "target_of"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(path, forKey: .path)
        try container.encode(line, forKey: .line)
        try container.encode(key, forKey: .key)
        try container.encode(generation, forKey: .generation)
        try container.encode(generationID, forKey: .generationID)  // null when rotor recorded none
        try container.encode(declared, forKey: .declared)
        try container.encodeIfPresent(target, forKey: .target)
        try container.encodeIfPresent(targetOf, forKey: .targetOf)
    }

    public static func == (lhs: ScanFinding, rhs: ScanFinding) -> Bool {
        (lhs.path, lhs.line, lhs.key, lhs.generation, lhs.generationID, lhs.declared) == (rhs.path, rhs.line, rhs.key, rhs.generation, rhs.generationID, rhs.declared)
            && lhs.target == rhs.target && lhs.targetOf == rhs.targetOf
    }
}

/// What `scan` (and a rotation's `scan:` preflight) looks for and what it found.
public struct ManagedKeyScan {
    public var needles: [ScanNeedle]
    /// Keys that could not be looked for (fully or by value), and why.
    public var warnings: [String]
    /// Per key: the files (by identity) and holders its targets declare.
    var declared: [String: [DeclaredTarget]]

    /// A file target: the file it names (by identity and by its real path, symlinks
    /// followed) and what holds the value in it.
    struct DeclaredTarget {
        var file: FileID
        var realPath: String
        var kind: TargetSpec.Kind
    }

    /// The needles of `keys`: each key's current generation by value (the value its file
    /// targets hold, when it is the recorded current one — or, for a key rotor has not
    /// recorded, when they all agree), every earlier generation the state store or the audit
    /// log recorded by fingerprint.
    public init(configuration: Configuration, keys: [KeyPolicy], states: [String: KeyState], audit: [AuditEntry],
                earlierGenerations: Bool = true) {
        var needles: [ScanNeedle] = []
        var warnings: [String] = []
        let consumersByKey = configuration.consumersByKey()
        var shapesByKey: [String: [ValueShape]] = [:]
        var byFingerprint: [(key: String, needle: ScanNeedle)] = []
        var recordedByKey: [String: Set<String>] = [:]
        for key in keys {
            let name = key.name.value
            let state = states[name] ?? KeyState()
            var held = ScanPreflight.heldValues(consumersByKey[name] ?? [])
            if ScanPreflight.unsearchable(held) != nil {
                warnings.append("\(name): its value spans lines, and a copy is never found across a line ending: its copies cannot be looked for")
                held = []
            }
            shapesByKey[name] = held.map { ValueShape(of: Array($0.reveal().utf8)) }
            let recorded = Self.recordedGenerations(of: name, in: audit)
            var known = Set<String>()
            if let current = state.current {
                known.insert(current.fingerprint)
                if let value = held.first(where: { $0.fingerprint == current.fingerprint }) {
                    needles.append(ScanNeedle(key: name, generation: .current, generationID: current.id, value: value))
                } else {
                    warnings.append("\(name): no target holds the current generation \(current.id): it is looked for by fingerprint")
                    byFingerprint.append((name, ScanNeedle(key: name, generation: .current, generationID: current.id, fingerprint: current.fingerprint,
                                                           shapes: recorded.shapes[current.fingerprint] ?? [])))
                }
            } else if held.count == 1 {
                needles.append(ScanNeedle(key: name, generation: .current, generationID: nil, value: held[0]))
            } else if held.count > 1 {
                warnings.append("\(name): rotor has no record of it and its targets hold \(held.count) different values ('rotor status \(name)' shows which): its current value is not looked for")
            }
            recordedByKey[name] = known
            guard earlierGenerations else { continue }
            let earlier = (state.previous.map { [(id: Optional($0.id), fingerprint: $0.fingerprint)] } ?? []) + recorded.generations
            for generation in earlier where !known.contains(generation.fingerprint) && GenerationRecord.isFingerprint(generation.fingerprint) {
                known.insert(generation.fingerprint)
                byFingerprint.append((name, ScanNeedle(key: name, generation: .previous, generationID: generation.id, fingerprint: generation.fingerprint,
                                                       shapes: recorded.shapes[generation.fingerprint] ?? [])))
            }
            recordedByKey[name] = known
        }
        // An earlier generation is looked for with the shape the audit log recorded for it
        // (since issue 21), and with the shape of the key's values now; a key none of whose
        // targets could be read borrows every key's shapes.
        let everyShape = Set(shapesByKey.values.flatMap { $0 })
        var shapeless = Set<String>()
        for (key, var needle) in byFingerprint {
            // Widened by the base64 symbols: the value now may lack a `-` an earlier one had.
            let now = (shapesByKey[key].flatMap { $0.isEmpty ? nil : Set($0) } ?? everyShape).map { $0.widened(by: "-_+/=") }
            needle.shapes = Array(Set(now).union(needle.shapes))
            if needle.shapes.isEmpty { shapeless.insert(key); continue }
            needles.append(needle)
        }
        // A key rotor has no record of whose targets hold another key's generation has no
        // value of its own to look for: that value is the other key's (found as such).
        needles.removeAll { needle in
            guard needle.generation == .current, needle.generationID == nil,
                  let owner = recordedByKey.keys.sorted().first(where: { $0 != needle.key && recordedByKey[$0]!.contains(needle.fingerprint) }) else { return false }
            warnings.append("\(needle.key): its targets hold a generation of key '\(owner)', not a value of its own ('rotor status \(needle.key)'): it is not looked for")
            return true
        }
        for key in shapeless.sorted() {
            warnings.append("\(key): no target of any key could be read, so the length and characters of its earlier generations are unknown: they are not looked for")
        }
        self.needles = needles
        self.warnings = warnings
        self.declared = Dictionary(uniqueKeysWithValues: keys.map { ($0.name.value, Self.declaredTargets(consumersByKey[$0.name.value] ?? [])) })
    }

    /// Every generation of `key` the audit log names — rotated from, rotated to, adopted,
    /// or replaced without a record (`held_fingerprints`) — and the shapes it recorded.
    static func recordedGenerations(of key: String, in audit: [AuditEntry]) -> (generations: [(id: String?, fingerprint: String)], shapes: [String: [ValueShape]]) {
        var generations: [(id: String?, fingerprint: String)] = []
        var shapes: [String: Set<ValueShape>] = [:]
        for entry in audit where entry.key == key {
            for side in ["old", "new"] {
                guard let fingerprint = entry.data[side + "_fingerprint"] else { continue }
                generations.append((entry.data[side + "_id"], fingerprint))
                if let shape = entry.data[side + "_shape"].flatMap(ValueShape.init(recorded:)) { shapes[fingerprint, default: []].insert(shape) }
            }
            let replaced = entry.data["held_fingerprints"]?.split(separator: ",").map(String.init) ?? []
            let replacedShapes = entry.data["held_shapes"]?.split(separator: ",").map(String.init) ?? []
            for (index, fingerprint) in replaced.enumerated() {
                generations.append((nil, fingerprint))
                if index < replacedShapes.count, let shape = ValueShape(recorded: replacedShapes[index]) { shapes[fingerprint, default: []].insert(shape) }
            }
        }
        return (generations, shapes.mapValues(Array.init))
    }

    /// Looks for these needles of one key only (a rotation's `scan:` preflight).
    init(key: String, needles: [ScanNeedle], consumers: [ConsumerSpec]) {
        self.needles = needles
        warnings = []
        declared = [key: Self.declaredTargets(consumers)]
    }

    /// The files and holders the consumers' targets name (those that exist).
    static func declaredTargets(_ consumers: [ConsumerSpec]) -> [DeclaredTarget] {
        consumers.flatMap { consumer in
            consumer.targets.compactMap { target in
                guard let path = target.filePath, let file = FileID.of(path), let real = realPath(path) else { return nil }
                return DeclaredTarget(file: file, realPath: real, kind: target.kind)
            }
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The copies under `roots`, each classified; rotor's own state folder is skipped; what
    /// could not be read (a root included) is in the tally.
    func findings(in roots: [String], skipping: Set<FileID>, progress: ((ScanTally) -> Void)? = nil) -> (findings: [ScanFinding], tally: ScanTally) {
        var kinds: [FileID: [TargetSpec.Kind]] = [:]
        for target in declared.values.joined() { kinds[target.file, default: []].append(target.kind) }
        let (copies, tally) = CopyScan(needles: ScanNeedles(needles), skipping: skipping, declaredKinds: kinds, progress: progress).run(roots)
        let findings = copies.map { copy -> ScanFinding in
            let needle = needles[copy.needle]
            let absolute = copy.path.hasPrefix("/") ? copy.path : FileManager.default.currentDirectoryPath + "/" + copy.path
            // A target's copy is the one the rotation rewrites: in the file at the target's
            // own path (not a hard link or a bind mount of it, which the rename leaves
            // behind), held where the target says (not a comment or another variable there).
            let real = Self.realPath(absolute)
            func addresses(_ target: DeclaredTarget) -> Bool {
                guard target.file == copy.file, target.realPath == real, let holder = copy.holder else { return false }
                return holder.isAddressed(by: target.kind)
            }
            let isDeclared = (declared[needle.key] ?? []).contains(where: addresses)
            let otherKey = isDeclared ? nil : declared.keys.sorted().first { $0 != needle.key && declared[$0]!.contains(where: addresses) }
            let fields = copy.holder?.targetFields(path: PathNormalizer.normalize(absolute))
            var finding = ScanFinding(path: copy.path, line: copy.line, key: needle.key, generation: needle.generation,
                                      generationID: needle.generationID, declared: isDeclared,
                                      target: fields.map { Dictionary($0, uniquingKeysWith: { first, _ in first }) })
            finding.targetOrder = fields?.map(\.0) ?? []
            finding.targetOf = otherKey
            return finding
        }
        return (findings, tally)
    }
}
