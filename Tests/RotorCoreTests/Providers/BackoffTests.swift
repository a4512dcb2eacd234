import Foundation
import Testing
@testable import RotorCore

/// How long the http provider waits before it asks again.
@Suite struct BackoffTests {
    @Test func doublesFromItsBaseUpToItsCapTimesTheJitter() {
        #expect(Backoff.delay(attempt: 1, retryAfter: nil, jitter: 1) == 0.2)
        #expect(Backoff.delay(attempt: 2, retryAfter: nil, jitter: 1) == 0.4)
        #expect(Backoff.delay(attempt: 4, retryAfter: nil, jitter: 1) == 1.6)
        #expect(Backoff.delay(attempt: 10, retryAfter: nil, jitter: 1) == 5, "capped")
        #expect(Backoff.delay(attempt: 3, retryAfter: nil, jitter: 0.5) == 0.4)
    }

    @Test func theDefaultJitterStaysWithinHalfToWhole() {
        for _ in 0..<200 {
            let delay = Backoff.delay(attempt: 2, retryAfter: nil)
            #expect((0.2...0.4).contains(delay))
        }
    }

    @Test func retryAfterInSecondsWinsAndIsBounded() {
        #expect(Backoff.delay(attempt: 1, retryAfter: "3", jitter: 1) == 3)
        #expect(Backoff.delay(attempt: 9, retryAfter: " 2 ", jitter: 1) == 2)
        #expect(Backoff.delay(attempt: 1, retryAfter: "-5", jitter: 1) == 0)
        #expect(Backoff.delay(attempt: 1, retryAfter: "86400", jitter: 1) == 60, "a server cannot park rotor for a day")
    }

    @Test func retryAfterAsAnHTTPDateCountsFromNow() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        let inTen = formatter.string(from: Date().addingTimeInterval(10))
        #expect((8...10).contains(Backoff.delay(attempt: 1, retryAfter: inTen, jitter: 1)))
        let past = formatter.string(from: Date().addingTimeInterval(-100))
        #expect(Backoff.delay(attempt: 1, retryAfter: past, jitter: 1) == 0)
    }

    @Test func aRetryAfterThatIsNeitherIsIgnored() {
        #expect(Backoff.delay(attempt: 2, retryAfter: "soon", jitter: 1) == 0.4)
        #expect(Backoff.delay(attempt: 2, retryAfter: "", jitter: 1) == 0.4)
    }
}
