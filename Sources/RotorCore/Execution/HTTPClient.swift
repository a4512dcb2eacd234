internal import CCurl
import Foundation

/// An HTTP request as rotor sends it: providers, health checks and webhooks build these.
struct HTTPRequest: Sendable {
    var method: String
    var url: URL
    var headers: [(name: String, value: String)] = []
    var body: Data?
    /// A deadline for the whole exchange: connecting, sending, waiting and reading.
    var timeout: TimeInterval
}

struct HTTPResponse: Sendable {
    var status: Int
    /// Header lines of the final response, in order.
    var headers: [(name: String, value: String)]
    var body: Data

    /// The first header of that name, compared case-insensitively.
    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// Sends requests through the system's libcurl, loaded on first use (see `CCurl`): a
/// rotor that sends nothing starts without it, and curl's timeout is a real deadline for
/// the whole exchange (URLSession's on Linux is not). Redirects are not followed: a
/// key-management API that redirects is answered with its 3xx, never with the token sent
/// somewhere else. Only http and https URLs are fetched. TLS verification is the system's.
enum HTTPClient {
    struct Failure: Error, Sendable {
        var message: String
        var timedOut: Bool
        /// True when no connection was made: the server cannot have acted on the request.
        /// Anything else (a timeout, a reset, an answer too large) may come after it did.
        var neverSent = false
        /// True when the server was answering (its body outgrew the limit): it had finished.
        var answered = false
    }

    /// The largest response body rotor reads; a bigger one fails the exchange.
    static let maxResponseBytes = 4 << 20

    static func send(_ request: HTTPRequest) async throws(Failure) -> HTTPResponse {
        let result: Result<HTTPResponse, Failure> = await withCheckedContinuation { continuation in
            // One thread per exchange: curl blocks, and the cooperative pool (two threads on
            // a two-core machine) must stay free so parallel health checks run in parallel.
            let thread = Thread { continuation.resume(returning: perform(request)) }
            thread.stackSize = 256 << 10
            thread.start()
        }
        return try result.get()
    }

    private static func perform(_ request: HTTPRequest) -> Result<HTTPResponse, Failure> {
        if let broken = request.headers.first(where: { ($0.name + $0.value).contains(where: \.isNewline) }) {
            return .failure(Failure(message: "header \(broken.name) contains a line break; rotor does not send it", timedOut: false))
        }
        let headerLines = request.headers.map { "\($0.name): \($0.value)" }
        var exchange = rotor_http_exchange()
        exchange.timeout_ms = max(1, Int(request.timeout * 1000))
        exchange.max_response_bytes = maxResponseBytes
        let code: Int32 = request.method.withCString { method in
            request.url.absoluteString.withCString { url in
                withCStrings(headerLines) { headers in
                    exchange.method = method
                    exchange.url = url
                    exchange.headers = headers.baseAddress
                    exchange.header_count = headers.count
                    guard let body = request.body else { return rotor_http_perform(&exchange) }
                    return body.withUnsafeBytes { bytes in
                        exchange.has_body = 1
                        exchange.body = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
                        exchange.body_length = bytes.count
                        return rotor_http_perform(&exchange)
                    }
                }
            }
        }
        defer { rotor_http_free(&exchange) }
        guard code == 0 else {
            let message = withUnsafeBytes(of: exchange.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return .failure(Failure(message: message, timedOut: exchange.timed_out != 0, neverSent: exchange.never_sent != 0, answered: exchange.answered != 0))
        }
        let body = exchange.response_body.map { Data(bytes: $0, count: exchange.response_body_length) } ?? Data()
        let headerText = exchange.response_headers.map {
            String(decoding: UnsafeRawBufferPointer(start: $0, count: exchange.response_headers_length), as: UTF8.self)
        } ?? ""
        return .success(HTTPResponse(status: exchange.status, headers: parseHeaders(headerText), body: body))
    }

    /// `Name: value` lines after the status line; continuation lines are not used by HTTP/1.1 servers today.
    static func parseHeaders(_ text: String) -> [(name: String, value: String)] {
        text.split(whereSeparator: \.isNewline).dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }

    /// Calls `body` with a buffer of C strings that live for the call.
    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        return copies.map { UnsafePointer($0) }.withUnsafeBufferPointer(body)
    }
}
