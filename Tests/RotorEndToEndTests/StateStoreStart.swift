import Foundation
import Testing
@testable import RotorCore

extension Scratch {
    /// An empty state store at `state` (default: `.rotor/state.db` here), as a first `rotor
    /// adopt` or `rotor rotate` leaves one: `rotor run` never starts a store (issue 19), and
    /// these tests begin with every key never rotated.
    @discardableResult
    func startStateStore(_ state: String? = nil) throws -> Scratch {
        _ = try #require(try StateStoreURL.open(state, workingDirectory: url.path))
        return self
    }
}
