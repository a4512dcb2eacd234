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
        for index in 0..<69 { #expect(reader.string("f\(index)")?.value == "v\(index)") }
        reader.finish()
        // f69 was not asked for; the second f3 is a duplicate key (the loader's report).
        #expect(context.diagnostics.all.map(\.message).filter { $0.hasPrefix("unknown field") }.count == 1)
        #expect(context.diagnostics.all.first?.message.hasPrefix("unknown field 'f69' in the mapping") == true)
        #expect(context.diagnostics.all.first?.location?.line == 70)
    }
}
