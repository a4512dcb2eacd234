import Foundation

/// The entries of a file's second-level mappings (the value of each top-level key, such
/// as a manifest's `consumers:`), handed from the thread that parses the file to one that
/// decodes them while the parse goes on: a 10,000-consumer manifest is half decoded by
/// the time libyaml reaches its end (see `ManifestDecoder.decodeAhead`).
///
/// The parsing side publishes a batch as its entries finish; each batch views the nodes
/// built so far (`NodeTree(viewing:…)`), which the builder never changes or frees while
/// it builds. `close()` ends the stream: it discards what was not taken and returns once
/// the reader holds no batch, so the builder may then hand its buffers on (or free them).
final class MappingEntryStream: @unchecked Sendable {
    struct Batch: Sendable {
        /// The nodes finished when the batch was published.
        let tree: NodeTree
        /// The top-level key whose value holds the entries.
        let parentKey: Int32
        /// Key, value, key, value… node indices, in file order.
        let entries: [Int32]
    }

    /// `close()` waits until the reader took every batch, instead of discarding what it
    /// has not: for tests, which need the reader to see every entry.
    let handsOutEveryBatch: Bool
    private let condition = NSCondition()
    private var waiting: [Batch] = []
    private var next = 0
    private var closed = false
    /// The reader took a batch and has not yet asked for another.
    private var readerBusy = false

    init(handsOutEveryBatch: Bool = false) {
        self.handsOutEveryBatch = handsOutEveryBatch
    }

    /// The parsing side: `batch` is ready to decode.
    func publish(_ batch: Batch) {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return }
        waiting.append(batch)
        condition.signal()
    }

    /// The reading side: the next batch, waiting for one; nil once the stream is closed.
    func take() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        readerBusy = false
        condition.broadcast()
        while !closed, next == waiting.count { condition.wait() }
        guard !closed else { return nil }
        readerBusy = true
        next += 1
        return waiting[next - 1]
    }

    /// The parsing side, when the parse ended (however it ended): no batch is published or
    /// handed out after this, and it returns once the reader has finished the one it had.
    func close() {
        condition.lock()
        defer { condition.unlock() }
        if handsOutEveryBatch {
            while readerBusy || next < waiting.count { condition.wait() }
        }
        closed = true
        waiting.removeAll()
        condition.broadcast()
        while readerBusy { condition.wait() }
    }
}
