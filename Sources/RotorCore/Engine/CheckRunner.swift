import Foundation

/// Runs verify and health checks: an HTTP request that must answer an expected status,
/// or a command that must exit 0, each with its timeout and retries.
struct CheckRunner: Sendable {
    var runner: CommandRunner

    /// nil when the check passed, else why it failed (secret-free).
    func run(_ check: CheckSpec, values: [Placeholder: String], secret: Secret?, directory: String) async -> String? {
        var values = values
        if let secret { values[.secret] = secret.reveal() }
        switch check {
        case .http(let http):
            var lastProblem = "not tried"
            for attempt in 0...http.retries {
                if attempt > 0 { try? await Task.sleep(nanoseconds: UInt64(min(0.2 * pow(2, Double(attempt - 1)), 2) * 1e9)) }
                guard let problem = await request(http, values: values) else { return nil }
                lastProblem = problem
            }
            return "\(http.method) \(http.url.render(values.filter { $0.key != .secret })): \(lastProblem)"
        case .exec(let command):
            let result = await runner.run(command.argv.map { $0.render(values) }, stdin: command.stdin.map { Data($0.render(values).utf8) },
                                          environment: command.environment.mapValues { $0.render(values) },
                                          directory: directory, timeout: command.timeout.timeInterval)
            if result.succeeded { return nil }
            return result.timedOut ? "\(command.program) timed out after \(command.timeout)" : "\(command.program) exited \(result.status)"
        }
    }

    private func request(_ http: HTTPCheckSpec, values: [Placeholder: String]) async -> String? {
        guard let url = URL(string: http.url.render(values)) else { return "not a valid URL" }
        var request = HTTPRequest(method: http.method, url: url, timeout: http.timeout.timeInterval)
        request.headers = http.headers.map { ($0.key, $0.value.render(values)) }
        request.body = http.body.map { Data($0.render(values).utf8) }
        do throws(HTTPClient.Failure) {
            let response = try await HTTPClient.send(request)
            return http.expect.contains(response.status) ? nil : "answered \(response.status), expected \(http.expect.map(String.init).joined(separator: " or "))"
        } catch {
            return error.timedOut ? "timed out after \(http.timeout)" : "unreachable (\(error.message))"
        }
    }
}
