import Testing
@testable import RotorCore

/// Only the `rotor` executable keeps values until exit; in this (test) process, where
/// commands run one after another, `keep` must not hold anything.
@Suite struct KeptUntilExitTests {
    final class Probe {}

    @Test func valuesAreFreedWhenTheProcessDidNotEnableKeeping() {
        weak var probe: Probe?
        do {
            let value = Probe()
            probe = value
            KeptUntilExit.keep(value, [value])
        }
        #expect(probe == nil)
    }
}
