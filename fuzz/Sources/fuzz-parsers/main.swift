import FuzzSupport
@testable import RotorCore

/// Durations, templates and JSON pointers from arbitrary text: no crash, and what
/// parses prints back to something that parses to the same thing.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: input(data, size), as: UTF8.self)
    if let duration = RotorDuration(parsing: text) {
        require(duration.seconds >= 0, "negative duration from \(text.debugDescription)")
        require(RotorDuration(parsing: duration.description)?.seconds == duration.seconds, "\(duration) does not round-trip")
    }
    if case .success(let template) = Template.parse(text) {
        // Written back with its braces escaped, the parts parse to the same parts. Braces
        // are escaped as the parser sees them: whole characters (a brace followed by a
        // combining mark is another character, and stays as it is).
        let written = template.parts.map { part -> String in
            switch part {
            case .literal(let literal): literal.map { $0 == "{" ? "{{" : $0 == "}" ? "}}" : String($0) }.joined()
            case .placeholder(let placeholder): "{\(placeholder.rawValue)}"
            }
        }.joined()
        guard case .success(let again) = Template.parse(written) else {
            require(false, "\(written.debugDescription) does not parse again")
            return 0
        }
        require(again.parts == template.parts, "\(text.debugDescription) does not round-trip through \(written.debugDescription)")
        // Filled with every value, no placeholder is left: what remains is the literals.
        let literals = template.parts.compactMap { if case .literal(let text) = $0 { text } else { nil } }.joined()
        require(template.render(Dictionary(uniqueKeysWithValues: Placeholder.allCases.map { ($0, "") })) == literals,
                "filling \(text.debugDescription) left a placeholder")
    }
    if let pointer = JSONPointer(text) {
        // The pointer finds a value put where its tokens say.
        var document: Any = "leaf"
        for token in pointer.tokens.reversed() { document = [token: document] }
        require(pointer.resolve(in: document) as? String == "leaf", "\(text.debugDescription) does not find what its tokens name")
    }
    return 0
}

/// libFuzzer's runtime refers to this name; the driver below calls `fuzzOne` itself.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size) }

runFuzzer(fuzzOne)
