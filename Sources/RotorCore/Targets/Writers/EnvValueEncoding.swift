/// How rotor writes a value into an env file so that every dotenv reader (python-dotenv,
/// Node and Ruby dotenv, godotenv, docker compose, `bash -c 'set -a; . FILE'`) reads back
/// the same value — the SPEC's writing rule, measured on nine readers.
public enum EnvValueEncoding {
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String {
            "\(reason); dotenv readers disagree on such values, so rotor will not write it into an env file — use a json_file, yaml_file or exec target for this key"
        }
    }

    /// The text to put after `NAME=`, or why no text is safe. The line's existing quoting
    /// style is kept whenever the value is safe in it; otherwise the rule's order decides.
    public static func encode(_ value: String, preferring existing: EnvFileDocument.Quote = .none) -> Result<String, Refusal> {
        let bytes = Array(value.utf8)
        switch existing {
        case .single where isSafeSingleQuoted(value, bytes: bytes): return .success("'\(value)'")
        case .double where isSafeDoubleQuoted(bytes): return .success("\"\(value)\"")
        default: break
        }
        // 1. Unquoted: [A-Za-z0-9._+/=:@%,^-]+
        if !bytes.isEmpty, bytes.allSatisfy(isUnquotedByte) { return .success(value) }
        let hasControl = bytes.contains(where: isControlOtherThanTabOrNewline)
        // 2. Single quotes: no ', no \\, no trailing \, no ${, no control character but tab and newline.
        if isSafeSingleQuoted(value, bytes: bytes) { return .success("'\(value)'") }
        // 3. Double quotes: has a ' but none of ", \, $, backtick, newline.
        if bytes.contains(UInt8(ascii: "'")),
           !bytes.contains(where: { [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"), UInt8(ascii: "`"), 0x0A].contains($0) }),
           !hasControl {
            return .success("\"\(value)\"")
        }
        // 4. Refuse, and say why.
        return .failure(Refusal(reason: refusalReason(value, bytes: bytes, hasControl: hasControl)))
    }

    private static func refusalReason(_ value: String, bytes: [UInt8], hasControl: Bool) -> String {
        if hasControl { return "the value contains a control character" }
        let single = bytes.contains(UInt8(ascii: "'"))
        var found: [String] = []
        if single { found.append("a single quote") }
        if bytes.contains(UInt8(ascii: "\"")) { found.append("a double quote") }
        if value.contains("\\\\") || bytes.last == UInt8(ascii: "\\") || (single && bytes.contains(UInt8(ascii: "\\"))) { found.append("a backslash") }
        if value.contains("${") || (single && bytes.contains(UInt8(ascii: "$"))) { found.append("a '$'") }
        if single && bytes.contains(UInt8(ascii: "`")) { found.append("a backtick") }
        if single && bytes.contains(0x0A) { found.append("a newline") }
        return "the value contains " + (found.isEmpty ? "characters no quoting style keeps intact" : found.joined(separator: " and "))
    }

    private static func isSafeSingleQuoted(_ value: String, bytes: [UInt8]) -> Bool {
        !bytes.contains(UInt8(ascii: "'")) && !value.contains("\\\\") && bytes.last != UInt8(ascii: "\\")
            && !value.contains("${") && !bytes.contains(where: isControlOtherThanTabOrNewline)
    }

    /// Inside double quotes with none of ", \, $, backtick or newline, every reader agrees.
    private static func isSafeDoubleQuoted(_ bytes: [UInt8]) -> Bool {
        !bytes.contains { [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"), UInt8(ascii: "`"), 0x0A].contains($0) }
            && !bytes.contains(where: isControlOtherThanTabOrNewline)
    }

    private static func isControlOtherThanTabOrNewline(_ byte: UInt8) -> Bool {
        let isControl: Bool = byte < 0x20 || byte == 0x7F
        return isControl && byte != 0x09 && byte != 0x0A
    }

    private static func isUnquotedByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: ":"),
             UInt8(ascii: "@"), UInt8(ascii: "%"), UInt8(ascii: ","), UInt8(ascii: "^"), UInt8(ascii: "-"): true
        default: false
        }
    }
}
