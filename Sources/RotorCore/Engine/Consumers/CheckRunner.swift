import Foundation

/// Runs verify and health checks: an HTTP request that must answer an expected status,
/// or a command that must exit 0, each with its timeout and retries.
struct CheckRunner: Sendable {
    var runner: CommandRunner

    /// Why a check failed (secret-free), and whether its peer could not be reached at all.
    struct Failure: Sendable, CustomStringConvertible {
        var message: String
        var unreachable = false
        /// Says nothing about the credential. Only a refusal is evidence that a key is dead:
        /// an HTTP 401 or 403, or a command that ran and exited non-zero by itself. Anything
        /// else — unreachable, timed out, a redirect, 429, another 4xx, a 5xx, a command
        /// that could not start or was killed by a signal — is inconclusive.
        var inconclusive = false
        var description: String { message }
    }

    /// nil when the check passed, else why it failed.
    /// `retrying: false` tries an HTTP check once, whatever its `retries` (the caller has
    /// its own pauses).
    func run(_ check: CheckSpec, values: [Placeholder: String], secret: Secret?, directory: String, retrying: Bool = true) async -> Failure? {
        var values = values
        if let secret { values[.secret] = secret.reveal() }
        switch check {
        case .http(let http):
            var lastProblem = Failure(message: "not tried")
            for attempt in 0...(retrying ? http.retries : 0) {
                if attempt > 0 { try? await Task.sleep(nanoseconds: UInt64(min(0.2 * pow(2, Double(attempt - 1)), 2) * 1e9)) }  // cancelled: try at once
                guard let problem = await request(http, values: values) else { return nil }
                lastProblem = problem
            }
            lastProblem.message = "\(http.method) \(http.url.render(values.filter { $0.key != .secret })): \(lastProblem.message)"
            return lastProblem
        case .exec(let command):
            let result = await runner.run(command.argv.map { $0.render(values) }, stdin: command.stdin.map { Data($0.render(values).utf8) },
                                          environment: command.environment.mapValues { $0.render(values) },
                                          directory: directory, timeout: command.timeout.timeInterval)
            if result.succeeded { return nil }
            let printed = result.printed().map { ": \($0)" } ?? ""
            return Failure(message: (result.timedOut ? "\(command.program) timed out after \(command.timeout)" : "\(command.program) exited \(result.status)") + printed,
                           inconclusive: result.timedOut || result.status > 125)
        }
    }

    private func request(_ http: HTTPCheckSpec, values: [Placeholder: String]) async -> Failure? {
        guard let url = URL(string: http.url.render(values)) else { return Failure(message: "not a valid URL") }
        var request = HTTPRequest(method: http.method, url: url, timeout: http.timeout.timeInterval)
        request.headers = http.headers.map { ($0.key, $0.value.render(values)) }
        request.body = http.body.map { Data($0.render(values).utf8) }
        do throws(HTTPClient.Failure) {
            let response = try await HTTPClient.send(request)
            return http.expect.contains(response.status) ? nil
                : Failure(message: "answered \(response.status), expected \(http.expect.map(String.init).joined(separator: " or "))",
                          inconclusive: response.status != 401 && response.status != 403)
        } catch {
            return error.timedOut ? Failure(message: "timed out after \(http.timeout)", inconclusive: true)
                : Failure(message: "unreachable (\(error.message))", unreachable: true, inconclusive: true)
        }
    }
}
