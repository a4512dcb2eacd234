import Foundation
import Testing
@testable import RotorCore

@Suite struct DurationTests {
    @Test(arguments: [("90d", 7_776_000), ("12h", 43_200), ("30m", 1_800), ("45s", 45), ("0s", 0), ("1h30m", 5_400), ("1d12h", 129_600),
                            // Weeks (issue #19's polish list), printed back in days.
                            ("1w", 604_800), ("2w3d", 1_468_800)])
    func parses(_ text: String, _ seconds: Int64) {
        #expect(RotorDuration(parsing: text)?.seconds == seconds)
    }

    @Test(arguments: ["", "90", "d", "90 days", "1d1w", "30m1h", "1h1h", "-5s", "1.5h", "9999999999s",
                           // Printed back as more days than a duration may have (found by the fuzzer).
                           "981703445w", "142857143w"])
    func rejects(_ text: String) {
        #expect(RotorDuration(parsing: text) == nil)
    }

    @Test func theLongestDurationPrintsBackToItself() throws {
        let longest = try #require(RotorDuration(parsing: "142857142w5d"))  // 999,999,999 days
        #expect(longest.description == "999999999d" && RotorDuration(parsing: longest.description) == longest)
    }

    @Test func printsCompactly() {
        #expect(RotorDuration(seconds: 5_400).description == "1h30m")
        #expect(RotorDuration.zero.description == "0s")
    }
}

@Suite struct TemplateTests {
    @Test func parsesPlaceholdersAndLiterals() throws {
        let template = try Template.parse("{key}-{date}.x").get()
        #expect(template.parts == [.placeholder(.key), .literal("-"), .placeholder(.date), .literal(".x")])
        #expect(template.render([.key: "k", .date: "2026-11-26"]) == "k-2026-11-26.x")
    }

    @Test func doubledBracesAreLiteral() throws {
        #expect(try Template.parse("{{\"a\": 1}}").get().render([:]) == "{\"a\": 1}")
    }

    @Test func unknownPlaceholderIsAnErrorWithItsOffset() {
        #expect(Template.parse("ab{sekret}") == .failure(.unknownPlaceholder("sekret", offset: 2)))
        #expect(Template.parse("ab{key") == .failure(.unclosedBrace(offset: 2)))
    }

    /// ASCII text is scanned as bytes, other text as characters: the same parts, and
    /// offsets that count characters.
    @Test func nonASCIITextParsesAsCharacters() throws {
        #expect(try Template.parse("é✓ {key}}}😀{{").get().parts == [.literal("é✓ "), .placeholder(.key), .literal("}😀{")])
        #expect(Template.parse("é✓😀{sekret}") == .failure(.unknownPlaceholder("sekret", offset: 3)))
        #expect(Template.parse("👩‍👩‍👧{key") == .failure(.unclosedBrace(offset: 1)))
        // A brace with a combining mark is one character, not a brace: a literal.
        #expect(try Template.parse("{\u{301}key}x").get().parts.count == 1)
    }
}

@Suite struct RotationWindowTests {
    func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test func weekdayOfficeHours() throws {
        let window = try RotationWindow.parse("Mon-Fri 09:00-17:00 UTC").get()
        #expect(window.contains(date("2026-11-26T10:00:00Z")))       // Thursday
        #expect(!window.contains(date("2026-11-26T17:00:00Z")))
        #expect(!window.contains(date("2026-11-28T10:00:00Z")))      // Saturday
        #expect(window.nextOpening(after: date("2026-11-27T18:00:00Z")) == date("2026-11-30T09:00:00Z"))
    }

    @Test func pastMidnightAndOtherZones() throws {
        let night = try RotationWindow.parse("Sat 22:00-02:00").get()
        #expect(night.contains(date("2026-11-28T23:00:00Z")))
        #expect(night.contains(date("2026-11-29T01:00:00Z")))
        #expect(!night.contains(date("2026-11-29T23:00:00Z")))
        let berlin = try RotationWindow.parse("09:00-10:00 Europe/Berlin").get()
        #expect(berlin.contains(date("2026-11-26T08:30:00Z")))
    }

    @Test(arguments: ["", "Mon-Fry 09:00-17:00", "9-17", "Mon 09:00-09:00", "Mon 25:00-26:00", "Mon 09:00-17:00 Mars/Base extra"])
    func rejects(_ text: String) {
        #expect((try? RotationWindow.parse(text).get()) == nil)
    }
}

@Suite struct SuggestionTests {
    @Test func suggestsCloseNames() {
        #expect(Suggestion.closest(to: "evrey", in: ["every", "grace"]) == "every")
        #expect(Suggestion.closest(to: "provder", in: ["provider", "name"]) == "provider")
        #expect(Suggestion.closest(to: "zzz", in: ["every", "grace"]) == nil)
    }

    /// References between files (#18): one answer per unknown name, and a bounded number of
    /// comparisons per load, so a mass rename stays linear.
    @Test func referenceSuggestionsAreKeptPerNameAndBounded() {
        let keys = ["prd-1", "prd-2", "prd-3", "prd-4", "prd-5", "prd-6"]
        var suggestions = ReferenceSuggestions(comparisons: 10)
        #expect(suggestions.didYouMean("prod-1", in: keys) == " (did you mean 'prd-1'?)")
        #expect(suggestions.didYouMean("prod-1", in: keys) == " (did you mean 'prd-1'?)", "kept: costs nothing the second time")
        #expect(suggestions.didYouMean("prod-2", in: keys) == "", "4 comparisons left, 6 needed: no suggestion")
    }
}

@Suite struct CredentialDetectorTests {
    @Test(arguments: [
        "Bearer abcdefgh12345678", "sk_live_51HqLyjWDarjtT1zdp7dc", "AKIAIOSFODNN7EXAMPLE1234",
        "https://user:hunter2@example.com/", "https://api.example.com/v1?api_key=abc123", "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "Zx9Qm2Lp8Rt4Vw6Yb1Nc3Df5Gh7Jk0As2Qe4Tu",
    ])
    func spotsLiteralCredentials(_ text: String) {
        #expect(CredentialDetector.reason(text) != nil)
    }

    @Test(arguments: [
        "https://api.example.com/v1/models", "Bearer {secret}", "/AccessKey/SecretAccessKey", "arn:aws:iam::123456789012:user/deploy-bot",
        "Skytells Console > Settings > API Keys > Generate New API Key", "/etc/ssl/certs/ca-certificates.crt", "data-pipeline-prod-{date}",
        "whsec_", "create-access-key", "https://api.example.com/check?key={secret}", "application/json",
    ])
    func staysQuietOnOrdinaryValues(_ text: String) {
        #expect(CredentialDetector.reason(text) == nil)
    }
}

@Suite struct FingerprintTests {
    @Test func fingerprintIsSha256Prefix() {
        // sha256("hello") = 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
        #expect(Fingerprint.of("hello") == "sha256:2cf24dba5fb0")
        #expect(Fingerprint.digest(Array("hello".utf8)) == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    }

    @Test func secretsDescribeThemselvesAsMasks() {
        let secret = Secret("sk-live-0123456789abcdef-f3a9")
        #expect("\(secret)" == "sk-…f3a9")
        #expect(String(reflecting: secret) == "Secret(sk-…f3a9, \(secret.fingerprint))")
        #expect(Secret("short").mask == "…")
    }
}

@Suite struct PathNormalizerTests {
    @Test(arguments: ["/a/b/../c", "/a/./b//c/", "/../a", "/a/b/c/../../d", "/", "/a/..", "/a/b/.../c", "/a/.b/c",
                      "/a/b", "/a/..b/c", "/a/b../c", "/.", "//", "/a/b/.", "/srv/app/../deploy/svc-00001/.env"])
    func agreesWithFoundation(_ path: String) {
        #expect(PathNormalizer.normalize(path) == URL(fileURLWithPath: path).standardizedFileURL.path)
    }

    @Test(arguments: [("/srv/app", "../deploy/svc/.env"), ("/srv/app", "./x//y/"), ("/", "../a"), ("/srv", "a/../../.."), ("/a", "b/./c/..")])
    func aRelativePathIsResolvedAsFoundationWould(_ folder: String, _ relative: String) {
        #expect(PathNormalizer.normalize(relative, after: PathNormalizer.folderBytes(folder)) == URL(fileURLWithPath: folder + "/" + relative).standardizedFileURL.path)
    }

    @Test(arguments: [("/a/b/c", "/a/b"), ("/a/b/", "/a"), ("/a", "/"), ("/", "/"), ("a", ""), ("a/b", "a"),
                      ("", ""), ("/a//b", "/a"), ("/srv/app/.env", "/srv/app")])
    func parentIsTheFolderHoldingThePath(_ path: String, _ folder: String) {
        #expect(PathNormalizer.parent(of: path) == folder)
    }
}
