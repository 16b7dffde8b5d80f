import Dialects
import NIOCore
import NIOHTTP1
import Synchronization

/// The exact response cache's memory: answers by ``CacheKey``, fresh for their time to live,
/// the least recently used dropped when their total size passes `cache.max_bytes`. Shared by
/// every event loop and kept across reloads (a reload only changes the limit); one mutex
/// held for a dictionary lookup or insertion, never across I/O.
package final class ResponseCache: Sendable {
    /// One cached answer: what the client got (after translation and every other stage), the
    /// body in one buffer with the ends of the pieces it was written in, so a stream is
    /// replayed with its original chunking.
    package final class Entry: Sendable {
        package let status: Int
        /// The response headers as the stages left them (before the per-request ones).
        package let headers: HTTPHeaders
        package let body: ByteBuffer
        /// The end offset of each piece in `body`.
        package let pieceEnds: [Int]
        /// The model that answered (a fallback's, if one did).
        package let model: String?
        /// The token counts the answer reported (normalised), and its total.
        package let usage: TokenCounts
        package let totalTokens: Int?
        /// The translation the answer went through (`anthropic→openai`), for the record.
        package let translation: String?
        package let stored: ContinuousClock.Instant
        package let expires: ContinuousClock.Instant
        /// What the entry counts for against `max_bytes`.
        package let size: Int

        /// Bookkeeping per entry beyond its bytes (the key, the slot, the object headers).
        static let overhead = 256

        package init(
            status: Int, headers: HTTPHeaders, body: ByteBuffer, pieceEnds: [Int], model: String?, usage: TokenCounts, totalTokens: Int?, translation: String? = nil,
            stored: ContinuousClock.Instant, expires: ContinuousClock.Instant
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.pieceEnds = pieceEnds
            self.model = model
            self.usage = usage
            self.totalTokens = totalTokens
            self.translation = translation
            self.stored = stored
            self.expires = expires
            let headerBytes = headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
            // The buffer's capacity, not its length: what is held, not what is used.
            size = max(body.capacity, body.readableBytes) + headerBytes + pieceEnds.count * 8 + (model?.utf8.count ?? 0) + (translation?.utf8.count ?? 0) + Self.overhead
        }

        /// The body in the pieces it was first written in.
        package var pieces: [ByteBuffer] {
            var start = 0
            return pieceEnds.compactMap { end in
                defer { start = end }
                return body.getSlice(at: body.readerIndex + start, length: end - start)
            }
        }
    }

    /// Counters for metrics and the admin API.
    package struct Stats: Sendable, Equatable {
        package var entries = 0
        package var bytes = 0
        package var hits = 0
        package var misses = 0
        package var stored = 0
        package var evicted = 0
        package var expired = 0
        /// Answers brought over from the store's second level (`cache.store`).
        package var adopted = 0
        /// Answers not sent to the store because its outbox was full.
        package var outboxDropped = 0

        package init() {}
    }

    private struct State {
        var table: LRUTable<CacheKey, Entry>
        var stats = Stats()
        /// Answers stored here and not yet written to the second level, oldest first.
        var outbox: [(key: CacheKey, entry: Entry)] = []
        var replicating = false
    }

    /// Answers waiting for the store at most: the entries are shared with the table, so the
    /// outbox costs a reference each, but an unreachable database must not make it grow.
    static let outboxLimit = 1024

    private let state: Mutex<State>
    /// Bytes that responses on their way out hold in copies for the cache, and how many they
    /// may hold together (`max_bytes` again): a thousand long answers in flight must not
    /// take a thousand times `max_entry_bytes` before any of them is stored.
    private let copying = Atomic<Int>(0)
    private let copyLimit: Atomic<Int>

    package init(maxBytes: Int = 0) {
        state = Mutex(State(table: LRUTable(limit: maxBytes)))
        copyLimit = Atomic(maxBytes)
    }

    /// Takes `bytes` of the in-flight copy allowance; false when it is spent (the answer is
    /// then not kept).
    package func reserveCopy(_ bytes: Int) -> Bool {
        let limit = copyLimit.load(ordering: .relaxed)
        var current = copying.load(ordering: .relaxed)
        while true {
            guard bytes <= limit - current else { return false }
            let (exchanged, found) = copying.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = found
        }
    }

    /// Gives back what ``reserveCopy(_:)`` took.
    package func releaseCopy(_ bytes: Int) {
        guard bytes > 0 else { return }
        copying.subtract(bytes, ordering: .relaxed)
    }

    /// Bytes held in copies of answers on their way out.
    package var copyingBytes: Int { copying.load(ordering: .relaxed) }

    /// The fresh answer for `key`, if there is one; an expired one is dropped.
    package func lookup(_ key: CacheKey, now: ContinuousClock.Instant = .now) -> Entry? {
        state.withLock { state in
            guard let entry = state.table.get(key) else {
                state.stats.misses += 1
                return nil
            }
            guard entry.expires > now else {
                state.table.remove(key)
                state.stats.expired += 1
                state.stats.misses += 1
                return nil
            }
            state.stats.hits += 1
            return entry
        }
    }

    /// Keeps `entry` for `key` (replacing any older answer), dropping the least recently
    /// used answers until the total fits.
    package func store(_ key: CacheKey, _ entry: Entry) {
        state.withLock { state in
            guard entry.size <= state.table.limit else { return }
            state.stats.evicted += state.table.set(key, entry, cost: entry.size)
            state.stats.stored += 1
            guard state.replicating else { return }
            if state.outbox.count < Self.outboxLimit {
                state.outbox.append((key, entry))
            } else {
                state.stats.outboxDropped += 1
            }
        }
    }

    /// Turns the second level on or off (`cache.store`, at start and on reload); off empties
    /// the outbox.
    package func setReplicating(_ on: Bool) {
        state.withLock { state in
            state.replicating = on
            if !on { state.outbox = [] }
        }
    }

    /// The answers to write to the second level, oldest first; the outbox is left empty.
    package func takeOutbox() -> [(key: CacheKey, entry: Entry)] {
        state.withLock { state in
            defer { state.outbox = [] }
            return state.outbox
        }
    }

    /// Keeps an answer another instance made (or this one before a restart), unless a
    /// fresher one is already here. Not sent back to the store.
    package func adopt(_ key: CacheKey, _ entry: Entry) {
        state.withLock { state in
            guard entry.size <= state.table.limit else { return }
            if let held = state.table.peek(key), held.stored >= entry.stored { return }
            state.stats.evicted += state.table.set(key, entry, cost: entry.size)
            state.stats.adopted += 1
        }
    }

    /// Whether the cache holds a fresh answer for `key` (for the sync; not a lookup).
    package func contains(_ key: CacheKey, now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in state.table.peek(key).map { $0.expires > now } ?? false }
    }

    /// A new memory limit (a reload): answers are dropped, least recently used first, until
    /// the total fits; 0 empties the cache.
    package func setLimit(_ maxBytes: Int) {
        copyLimit.store(maxBytes, ordering: .relaxed)
        state.withLock { state in
            state.stats.evicted += state.table.setLimit(maxBytes)
        }
    }

    package var stats: Stats {
        state.withLock { state in
            var stats = state.stats
            stats.entries = state.table.count
            stats.bytes = state.table.totalCost
            return stats
        }
    }
}
