import Foundation
import Testing
@testable import RotorCore

/// rotor's HTTP client (libcurl loaded on first use) against a real loopback server.
@Suite struct HTTPClientTests {
    let server: HealthServer
    init() throws { server = try HealthServer() }

    func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(server.port)\(path)")! }

    @Test func answersStatusHeadersAndBody() async throws {
        let response = try await HTTPClient.send(HTTPRequest(method: "GET", url: url("/big/5"), timeout: 5))
        #expect(response.status == 200)
        #expect(response.body == Data("xxxxx".utf8))
        #expect(response.header("x-rotor-test") == "big body")
        #expect(response.header("Content-Length") == "5")
    }

    @Test func sendsMethodHeadersAndBody() async throws {
        var request = HTTPRequest(method: "POST", url: url("/status/201"), timeout: 5)
        request.headers = [("Content-Type", "application/json")]
        request.body = Data(#"{"a":1}"#.utf8)
        let response = try await HTTPClient.send(request)
        #expect(response.status == 201)
        #expect(server.requests.contains(#"POST /status/201 {"a":1}"#))
    }

    @Test func redirectsAreAnsweredNotFollowed() async throws {
        let response = try await HTTPClient.send(HTTPRequest(method: "GET", url: url("/redirect"), timeout: 5))
        #expect(response.status == 302)
        #expect(response.header("Location") == "/status/200")
        #expect(!server.requests.contains { $0.hasPrefix("GET /status/200") })
    }

    /// The server answers after 60 s; the exchange must end as timed out, which it can only
    /// do through rotor's own deadline (without one it would get the 200). No wall-clock
    /// bound: under a busy test runner this task may wait long for a thread to resume on.
    @Test func theTimeoutIsADeadlineForTheWholeExchange() async throws {
        do {
            let response = try await HTTPClient.send(HTTPRequest(method: "GET", url: url("/delay/60000/200"), timeout: 0.5))
            Issue.record("a server that waits 60 s answered \(response.status) within a 0.5 s deadline")
        } catch {
            #expect(error.timedOut, "\(error.message)")
        }
    }

    @Test func anOversizedBodyFailsTheExchange() async throws {
        do {
            _ = try await HTTPClient.send(HTTPRequest(method: "GET", url: url("/big/\(HTTPClient.maxResponseBytes + 1)"), timeout: 10))
            Issue.record("a body over the limit was accepted")
        } catch {
            #expect(error.message.contains("larger than"))
            #expect(!error.timedOut)
        }
    }

    @Test func refusesHeaderInjectionAndOtherSchemes() async throws {
        var request = HTTPRequest(method: "GET", url: url("/status/200"), timeout: 5)
        request.headers = [("X-Name", "value\r\nX-Injected: 1")]
        await #expect(throws: HTTPClient.Failure.self) { try await HTTPClient.send(request) }
        await #expect(throws: HTTPClient.Failure.self) {
            try await HTTPClient.send(HTTPRequest(method: "GET", url: URL(fileURLWithPath: "/etc/hostname"), timeout: 5))
        }
        #expect(server.requests.isEmpty)
    }

    @Test func anUnreachableServerSaysWhy() async throws {
        do {
            _ = try await HTTPClient.send(HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:9/")!, timeout: 5))
            Issue.record("port 9 answered")
        } catch {
            #expect(!error.timedOut)
            #expect(!error.message.isEmpty)
        }
    }
}
