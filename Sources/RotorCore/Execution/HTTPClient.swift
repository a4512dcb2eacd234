import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange with a deadline rotor enforces itself: on Linux, URLSession does not
/// treat `timeoutInterval` as a deadline for the whole request, so a server that accepts
/// and then says nothing would hold rotor for a minute. TLS verification is the system's.
enum HTTPClient {
    struct TimedOut: Error {}

    static func send(_ request: URLRequest, timeout: TimeInterval) async throws -> (Data, HTTPURLResponse?) {
        try await withThrowingTaskGroup(of: (Data, HTTPURLResponse?).self) { group in
            group.addTask {
                let (data, response) = try await URLSession.shared.data(for: request)
                return (data, response as? HTTPURLResponse)
            }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(max(timeout, 0.001) * 1e9))
                throw TimedOut()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw TimedOut() }
            return first
        }
    }
}
