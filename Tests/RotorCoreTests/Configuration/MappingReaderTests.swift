import Testing
@testable import RotorCore

/// `MappingReader` reads entries in place in the node tree: fields found by their bytes,
/// asked-for entries marked (past the first 64 too), the rest reported as unknown.
@Suite struct MappingReaderTests {
    func reader(_ yaml: String) throws -> (MappingReader, DecodingContext) {
        let root = try #require(YAMLLoader.load(yaml, limits: .default).documents.first?.root)
        let context = DecodingContext(file: "m.yaml", directory: "/")
        return (try #require(MappingReader(root, context, subject: "the mapping")), context)
    }

    @Test func aSmallMappingIsScannedAndItsUnknownFieldsReported() throws {
        let (reader, context) = try reader("name: a\n\"quoted\": b\n[x]: c\n<<: {m: 1}\ncount: 3\nnamf: d\n")
        #expect(reader.string("name")?.value == "a")
        #expect(reader.string("quoted")?.value == "b")
        #expect(reader.int("count") == 3)
        #expect(reader.node("absent", required: true) == nil)
        #expect(reader.presentNames == ["name", "quoted", "count", "namf"])
        reader.finish()
        #expect(context.diagnostics.all.map(\.message) == [
            "unknown field 'namf' in the mapping (did you mean 'name'?)",
            "the mapping is missing the required field 'absent'",
        ])
    }

    @Test func aLargeMappingIsIndexedAndEntriesPast64AreMarked() throws {
        let (reader, context) = try reader((0..<70).map { "f\($0): v\($0)" }.joined(separator: "\n") + "\nf3: again\n")
        // Field names are static strings (the schema names them with literals).
        let asked: [StaticString] = [
            "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13", "f14",
            "f15", "f16", "f17", "f18", "f19", "f20", "f21", "f22", "f23", "f24", "f25", "f26", "f27", "f28",
            "f29", "f30", "f31", "f32", "f33", "f34", "f35", "f36", "f37", "f38", "f39", "f40", "f41", "f42",
            "f43", "f44", "f45", "f46", "f47", "f48", "f49", "f50", "f51", "f52", "f53", "f54", "f55", "f56",
            "f57", "f58", "f59", "f60", "f61", "f62", "f63", "f64", "f65", "f66", "f67", "f68"
        ]
        for (index, field) in asked.enumerated() { #expect(reader.string(field)?.value == "v\(index)") }
        reader.finish()
        // f69 was not asked for; the second f3 is a duplicate key (the loader's report).
        #expect(context.diagnostics.all.map(\.message).filter { $0.hasPrefix("unknown field") }.count == 1)
        #expect(context.diagnostics.all.first?.message.hasPrefix("unknown field 'f69' in the mapping") == true)
        #expect(context.diagnostics.all.first?.location?.line == 70)
    }
}
