import Foundation

/// libyaml's events for one large file, pulled on a thread of their own and handed to the
/// loader in batches, so that libyaml's scanning (about 70% of a load) and the loader's
/// node building run on two cores. The loader sees the same events in the same order,
/// with the same error after the last good one, as from `YAMLEventParser` directly.
///
/// The pulling side stops where the loader would: past the nesting limit (libyaml's time
/// grows quadratically with depth) and when the loader cancels; it never runs more than
/// `batchesInFlight` batches ahead.
final class YAMLEventPipe: @unchecked Sendable {
    /// One event copied out of libyaml: its scalar text, anchor and tag live in the batch's
    /// `bytes` (anchor and tag NUL-terminated, as libyaml keeps them; -1 when absent).
    /// Offsets in 32 bits: a batch holds at most a file's text, and files are at most 32 MiB.
    private struct PipedEvent {
        var kind: RawYAMLEvent.Kind
        var implicit: Bool
        var flow: Bool
        var style: ScalarStyle
        var start: Mark
        var end: Mark
        var textStart: Int32
        var textCount: Int32
        var anchorStart: Int32
        var tagStart: Int32
    }

    private struct Batch {
        var events: [PipedEvent] = []
        var bytes: [UInt8] = []
        /// The last batch: after its events the stream ended, or `error` stopped it.
        var isLast = false
        var error: YAMLError?
    }

    static let eventsPerBatch = 4096
    static let batchesInFlight = 4

    private let condition = NSCondition()
    private var ready: [Batch] = []
    /// Batches the loader has finished with, for the pulling side to fill again: a fresh
    /// batch would be fresh pages, and page faults cost more than the copying.
    private var emptied: [Batch] = []
    private var cancelled = false
    private var puller: BackgroundWork<Void>?

    /// Starts pulling the events of `bytes` at once.
    init(_ bytes: [UInt8], maxDepth: Int) {
        puller = BackgroundWork { [self] in pull(bytes, maxDepth: maxDepth) }
    }

    /// Calls `body` with every event in order, until the stream ends or `body` throws; a
    /// parse error comes out after the events before it. The pulling thread has stopped
    /// when this returns.
    func forEachEvent(_ body: (RawYAMLEvent) throws(YAMLError) -> Void) throws(YAMLError) {
        defer { stop() }
        while true {
            var batch = take()
            defer { giveBack(&batch) }
            try batch.bytes.withUnsafeBufferPointer { (bytes: UnsafeBufferPointer<UInt8>) throws(YAMLError) in
                for piped in batch.events {
                    var event = RawYAMLEvent(kind: piped.kind, start: piped.start)
                    event.end = piped.end
                    event.implicit = piped.implicit
                    event.flow = piped.flow
                    event.style = piped.style
                    if piped.textCount > 0 {
                        event.text = UnsafeBufferPointer(start: bytes.baseAddress! + Int(piped.textStart), count: Int(piped.textCount))
                    }
                    if piped.anchorStart >= 0 { event.anchorBytes = bytes.baseAddress! + Int(piped.anchorStart) }
                    if piped.tagStart >= 0 { event.tagBytes = bytes.baseAddress! + Int(piped.tagStart) }
                    try body(event)
                }
            }
            if let error = batch.error { throw error }
            if batch.isLast { return }
        }
    }

    // MARK: The pulling thread

    private func pull(_ bytes: [UInt8], maxDepth: Int) {
        YAMLEventParser.withParser(over: bytes) { parser in
            guard var batch = hand(nil) else { return }
            var depth = 0
            do throws(YAMLError) {
                try parser.forEachEvent { event in
                    Self.append(event, to: &batch)
                    switch event.kind {
                    case .mappingStart, .sequenceStart: depth += 1
                    case .mappingEnd, .sequenceEnd: depth -= 1
                    default: break
                    }
                    // The loader refuses this event: pulling further would only cost time.
                    guard depth <= maxDepth else { return false }
                    guard batch.events.count >= Self.eventsPerBatch else { return true }
                    guard let next = hand(batch) else { return false }  // the loader stopped
                    batch = next
                    return true
                }
            } catch {
                batch.error = error
            }
            batch.isLast = true
            _ = hand(batch)
        }
    }

    private static func append(_ event: RawYAMLEvent, to batch: inout Batch) {
        func copyString(_ pointer: UnsafePointer<UInt8>?) -> Int32 {
            guard let pointer else { return -1 }
            let start = Int32(batch.bytes.count)
            batch.bytes.append(contentsOf: UnsafeBufferPointer(start: pointer, count: strlen(pointer) + 1))
            return start
        }
        let textStart = Int32(batch.bytes.count)
        batch.bytes.append(contentsOf: event.text)
        batch.events.append(PipedEvent(
            kind: event.kind, implicit: event.implicit, flow: event.flow, style: event.style,
            start: event.start, end: event.end, textStart: textStart, textCount: Int32(event.text.count),
            anchorStart: copyString(event.anchorBytes), tagStart: copyString(event.tagBytes)))
    }

    /// Queues `batch` (if any), waiting while enough are queued, and returns an empty batch
    /// to fill next; nil once the loader cancelled.
    private func hand(_ batch: Batch?) -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled, batch != nil, ready.count >= Self.batchesInFlight { condition.wait() }
        guard !cancelled else { return nil }
        if let batch {
            ready.append(batch)
            condition.broadcast()
        }
        if let reused = emptied.popLast() { return reused }
        var fresh = Batch()
        fresh.events.reserveCapacity(Self.eventsPerBatch)
        fresh.bytes.reserveCapacity(Self.eventsPerBatch * 16)
        return fresh
    }

    // MARK: The loading thread

    private func take() -> Batch {
        condition.lock()
        defer { condition.unlock() }
        while ready.isEmpty { condition.wait() }
        condition.broadcast()
        return ready.removeFirst()
    }

    private func giveBack(_ batch: inout Batch) {
        batch.events.removeAll(keepingCapacity: true)
        batch.bytes.removeAll(keepingCapacity: true)
        condition.lock()
        defer { condition.unlock() }
        emptied.append(batch)
    }

    /// Tells the pulling thread to stop and waits until it has.
    private func stop() {
        condition.lock()
        cancelled = true
        ready.removeAll()
        condition.broadcast()
        condition.unlock()
        _ = puller?.result()
    }
}
