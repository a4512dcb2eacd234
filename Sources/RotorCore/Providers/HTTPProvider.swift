import Foundation

/// A key-management HTTP API, authenticated with an account-level token from the
/// environment or a file — never with the key being rotated. Lists and deletes are
/// retried on 429, 5xx and timeouts with exponential backoff and jitter, honouring
/// `Retry-After`; a create is sent once — a 5xx, a timeout, a lost connection or an
/// answer too large may come after the vendor made the key, so the engine looks the name
/// up before it tries again. TLS verification is the system's and is never turned off.
/// Response bodies are redacted before they reach an error.
struct HTTPProvider: KeyProvider {
    var spec: HTTPProviderSpec

    func preflight(directory: String) -> [String] {
        switch spec.auth.source {
        case .environment(let name):
            return WithheldEnvironment.value(name)?.isEmpty == false ? [] : ["the provider's token variable \(name) is not set"]
        case .file(let path):
            var info = stat()
            let readableFile = stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && access(path, R_OK) == 0
            return readableFile ? [] : ["the provider's token file \(path) cannot be read (or is not a file)"]
        }
    }

    private func token() throws(ProviderError) -> String {
        switch spec.auth.source {
        case .environment(let name):
            guard let value = WithheldEnvironment.value(name), !value.isEmpty else { throw ProviderError("the token variable \(name) is not set") }
            return Secret(value).reveal()
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else { throw ProviderError("the token file \(path) cannot be read") }
            return Secret(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)).reveal()
        }
    }

    func create(name: String, values: [Placeholder: String], directory: String) async throws(ProviderError) -> NewGeneration {
        var values = values
        values[.name] = name
        let (status, data, retryAfter) = try await send(spec.create, values: values, creating: true)
        if !(200..<300).contains(status) {
            // An error answer may still carry the new key: known to the redactor first.
            _ = try? NewGeneration.parse(data, idPointer: spec.idPointer, secretPointer: spec.secretPointer, name: name, source: "")
        }
        // A 5xx may come after the vendor acted; a 3xx is not followed (the token must not
        // go elsewhere), so what it would have led to is unknown too.
        if status >= 500 || (300..<400).contains(status) {
            throw ProviderError("create answered \(status): \(redacted(data)); a generation may have been created", mayHaveCreated: true)
        }
        // A 429 or another 4xx is a refusal: the vendor made nothing.
        guard (200..<300).contains(status) else {
            throw ProviderError("create answered \(status): \(redacted(data))",
                                retryAfter: status == 429 ? Backoff.delay(attempt: 1, retryAfter: retryAfter) : nil)
        }
        return try NewGeneration.parse(data, idPointer: spec.idPointer, secretPointer: spec.secretPointer, name: name,
                                       source: "create answered \(status)")
    }

    func delete(id: String, values: [Placeholder: String], directory: String) async throws(ProviderError) {
        guard let delete = spec.delete else { throw ProviderError("the provider has no 'delete' request: delete generation \(id) by hand") }
        var values = values
        values[.id] = id
        let (status, data, _) = try await send(delete, values: values, creating: false)
        // Idempotent: a generation that is already gone is deleted.
        guard (200..<300).contains(status) || status == 404 || status == 410 else {
            throw ProviderError("delete of \(id) answered \(status): \(redacted(data))")
        }
    }

    func list(values: [Placeholder: String], directory: String) async throws(ProviderError) -> [ListedGeneration]? {
        guard let list = spec.list else { return nil }
        let (status, data, _) = try await send(list.request, values: values, creating: false)
        guard (200..<300).contains(status), let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw ProviderError("list answered \(status): \(redacted(data))")
        }
        return try list.fields.generations(in: json)
    }

    /// Sends a request, retrying what is worth retrying. `creating`: sent once, and a
    /// failure after the connection was made may have created something, which the error says.
    private func send(_ request: HTTPRequestSpec, values: [Placeholder: String], creating: Bool) async throws(ProviderError) -> (status: Int, body: Data, retryAfter: String?) {
        // A value is one path segment, whatever it holds: an id of "../../x" or "a?b" must
        // not change which resource the request names (found by an attacker).
        let path = request.path.render(values.mapValues { value in
            value == "." || value == ".." ? String(repeating: "%2E", count: value.count)
                : value.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? value
        })
        // The host the token goes to is base_url's, whatever a value put in the path.
        guard let url = URL(string: spec.baseURL.trimmingSlash + path),
              URLAuthority(url.absoluteString)?.authority.lowercased() == URLAuthority(spec.baseURL)?.authority.lowercased()
        else { throw ProviderError("not a valid URL on base_url's host: \(spec.baseURL)\(path)") }
        var httpRequest = HTTPRequest(method: request.method, url: url, timeout: spec.timeout.timeInterval)
        httpRequest.headers = [(spec.auth.header, spec.auth.prefix + (try token())), ("Accept", "application/json")]
        if let body = request.body {
            httpRequest.headers.append(("Content-Type", "application/json"))
            httpRequest.body = try? JSONSerialization.data(withJSONObject: body.render(values), options: [.fragmentsAllowed, .sortedKeys])
        }
        var attempt = 0
        while true {
            do throws(HTTPClient.Failure) {
                let response = try await HTTPClient.send(httpRequest)
                if !creating, response.status == 429 || response.status >= 500, attempt < spec.retries {
                    attempt += 1
                    await Self.pause(Backoff.delay(attempt: attempt, retryAfter: response.header("Retry-After")))
                    continue
                }
                return (response.status, response.body, response.header("Retry-After"))
            } catch {
                if error.timedOut, attempt < spec.retries, !creating {
                    attempt += 1
                    await Self.pause(Backoff.delay(attempt: attempt, retryAfter: nil))
                    continue
                }
                let what = error.timedOut ? "timed out after \(spec.timeout)" : "failed (\(error.message))"
                throw ProviderError("\(request.method) \(url.host ?? "")\(url.path) \(what)", mayHaveCreated: creating && !error.neverSent,
                                    mayStillBeWorking: creating && !error.neverSent && !error.answered)
            }
        }
    }

    /// RFC 3986's unreserved characters: the rest of a value is percent-encoded in a path.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    private static func pause(_ seconds: Double) async {
        try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
    }

    /// A response body fit for an error: the token and anything secret-shaped masked.
    private func redacted(_ data: Data) -> String {
        let text = String(decoding: data.prefix(2_000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "(empty body)" : Redactor.redact(text, limit: 300)
    }
}

/// Exponential backoff with jitter, capped; `Retry-After` (seconds or an HTTP date) wins.
enum Backoff {
    static func delay(attempt: Int, retryAfter: String?, base: Double = 0.2, cap: Double = 5, jitter: Double = Double.random(in: 0.5...1)) -> Double {
        if let retryAfter {
            if let seconds = Double(retryAfter.trimmingCharacters(in: .whitespaces)) { return min(max(seconds, 0), 60) }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            if let date = formatter.date(from: retryAfter) { return min(max(date.timeIntervalSinceNow, 0), 60) }
        }
        return min(base * pow(2, Double(attempt - 1)), cap) * jitter
    }
}

extension JSONTemplate {
    /// The JSON value with every template filled, for JSONSerialization.
    func render(_ values: [Placeholder: String]) -> Any {
        switch self {
        case .string(let template): template.render(values)
        case .number(let text): Double(text).map { $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) as Any : $0 as Any } ?? text
        case .bool(let value): value
        case .null: NSNull()
        case .array(let items): items.map { $0.render(values) }
        case .object(let members): Dictionary(members.map { ($0.0, $0.1.render(values)) }, uniquingKeysWith: { $1 })
        }
    }
}

extension String {
    var trimmingSlash: String { hasSuffix("/") ? String(dropLast()) : self }
}
