import Foundation
import Testing
@testable import RotorCore

/// rotor's own issuer.
@Suite struct GenerateProviderTests {
    /// Issue #19's polish list: generated ids were sometimes 7 hex digits (a leading zero of
    /// the random suffix dropped). 2,000 ids: the chance that none has a leading zero is
    /// (15/16)^2000, so the old code fails this test every time.
    @Test func generatedIDsAlwaysEndInEightHexDigits() async throws {
        let provider = GenerateProvider(format: GenerateProviderSpec(prefix: "", bytes: 16, encoding: .hex))
        for _ in 0..<2_000 {
            let generation = try await provider.create(name: "k", values: [.timestamp: "20261130T000000Z"], directory: "/")
            let suffix = try #require(generation.id.split(separator: "-").last)
            #expect(suffix.count == 8 && suffix.allSatisfy(\.isHexDigit), "\(generation.id)")
        }
    }
}
