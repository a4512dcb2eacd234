import Foundation

extension Array where Element: Sendable {
    /// `map` spread over the machine's cores, in order. For independent, blocking work on
    /// many elements, such as reading every target file of a plan: each core takes one
    /// contiguous share.
    func parallelMap<T: Sendable>(_ transform: @Sendable (Element) -> T) -> [T] {
        let workers = Swift.min(ProcessInfo.processInfo.activeProcessorCount, count / 64)
        guard workers > 1 else { return map(transform) }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let results = UnsafeSendableBuffer(buffer)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                // Shares differ by at most one element; each result slot is written once.
                let share = (count * worker / workers)..<(count * (worker + 1) / workers)
                for index in share { (results.base + index).initialize(to: transform(self[index])) }
            }
            initialized = count
        }
    }

    /// `map` over few elements that each take long (whole configuration files): each
    /// core takes the next element when it finishes one, so a large file does not hold
    /// up a share of small ones.
    func parallelMapEach<T: Sendable>(_ transform: @Sendable (Element) -> T) -> [T] {
        guard count > 1, ProcessInfo.processInfo.activeProcessorCount > 1 else { return map(transform) }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let results = UnsafeSendableBuffer(buffer)
            DispatchQueue.concurrentPerform(iterations: count) { index in
                (results.base + index).initialize(to: transform(self[index]))
            }
            initialized = count
        }
    }
}

/// The result buffer of `parallelMap`, written by several threads at disjoint indices.
private struct UnsafeSendableBuffer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { base = buffer.baseAddress! }
}

extension Range<Int> {
    /// `transform` applied to contiguous shares of the range, one per core, the results in
    /// order: for work that keeps state per share (a decoder's diagnostics). One share when
    /// the range is short (under `minimumShare` elements per core).
    func parallelShares<T: Sendable>(minimumShare: Int, _ transform: @Sendable (Range<Int>) -> T) -> [T] {
        let workers = Swift.max(1, Swift.min(ProcessInfo.processInfo.activeProcessorCount, count / Swift.max(minimumShare, 1)))
        let shares = (0..<workers).map { worker in (lowerBound + count * worker / workers)..<(lowerBound + count * (worker + 1) / workers) }
        return shares.parallelMapEach(transform)
    }
}

/// `work` on a thread of its own, started at once; `result()` waits for it. For work that
/// overlaps one long step on another core (decoding a manifest while libyaml parses it):
/// queued on Dispatch, it could wait for the very core that step holds.
final class BackgroundWork<T: Sendable>: @unchecked Sendable {
    private var value: T?
    private let finished = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () -> T) {
        let thread = Thread { [self] in
            value = work()
            finished.signal()
        }
        thread.start()
    }

    /// The work's result, once it returned (written by its thread before the signal).
    func result() -> T {
        finished.wait()
        finished.signal()  // for another call
        return value!
    }
}
