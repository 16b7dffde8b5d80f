import Dialects
import NIOCore
import NIOHTTP1

/// The last response stage of a request the cache may keep: copies what the client gets
/// (head as the stages left it, every body piece with its boundaries) and, when the answer
/// was a complete 200 that no stage cut short, stores it at the end. An answer that grows
/// past `cache.max_entry_bytes` stops being copied at once, so a long stream costs no memory.
package final class CacheFill: ResponseStage {
    /// Headers not replayed: they describe the original exchange (its time, its ids, the
    /// provider's rate-limit state then), not the answer.
    static let unreplayed: Set<String> = [
        "date", "age", "set-cookie", "connection", "keep-alive", "transfer-encoding", "x-request-id", "request-id", "x-upstream-request-id",
        "openai-processing-ms", "cf-ray", "server-timing", "retry-after",
    ]

    static func isReplayed(_ name: String) -> Bool {
        let name = name.lowercased()
        return !unreplayed.contains(name) && !name.hasPrefix("x-ratelimit-") && !name.hasPrefix("anthropic-ratelimit-")
    }

    private let cache: ResponseCache
    private let key: CacheKey
    private let ttl: Duration
    private let maxBytes: Int
    private var status = 0
    private var headers = HTTPHeaders()
    private var body = ByteBuffer()
    private var pieceEnds: [Int] = []
    /// Still copying: a 200 seen and not grown past the limit.
    private var keeping = false
    private var ended = false
    /// What the copy took of the cache's in-flight allowance.
    private var reserved = 0

    package init(cache: ResponseCache, key: CacheKey, ttl: Duration, maxBytes: Int) {
        self.cache = cache
        self.key = key
        self.ttl = ttl
        self.maxBytes = maxBytes
    }

    package func head(status: Int, headers: HTTPHeaders) {
        self.status = status
        keeping = status == 200 && !Self.forbidsStoring(headers)
        guard keeping else { return }
        var kept = HTTPHeaders()
        for header in headers where Self.isReplayed(header.name) { kept.add(name: header.name, value: header.value) }
        self.headers = kept
    }

    deinit { cache.releaseCopy(reserved) }

    package func body(_ buffer: ByteBuffer) -> ByteBuffer? {
        guard keeping, buffer.readableBytes > 0 else { return buffer }
        guard body.readableBytes + buffer.readableBytes <= maxBytes, cache.reserveCopy(buffer.readableBytes) else {
            // Too large to keep, or too many copies in flight: let go of what was copied.
            drop()
            return buffer
        }
        reserved += buffer.readableBytes
        body.writeImmutableBuffer(buffer)
        pieceEnds.append(body.readableBytes)
        return buffer
    }

    package func end() -> ByteBuffer? {
        ended = true
        return nil
    }

    package func finish(into record: inout RequestRecord) {
        defer { drop() }
        guard keeping, ended, record.errorCode == nil, status == 200 else { return }
        let isStream = headers.first(name: "content-type")?.lowercased().contains("text/event-stream") == true
        guard !isStream || StreamCompleteness.isComplete(body) else { return }
        // One buffer just large enough (NIO rounds its capacity to a power of two; the entry
        // counts the capacity, so what is counted against max_bytes is what is held).
        var exact = ByteBufferAllocator().buffer(capacity: body.readableBytes)
        exact.writeImmutableBuffer(body)
        let now = ContinuousClock.now
        let usage = TokenCounts(
            input: record.promptTokens, output: record.completionTokens, cachedInput: record.cachedTokens, reasoning: record.reasoningTokens)
        let entry = ResponseCache.Entry(
            status: status, headers: headers, body: exact, pieceEnds: pieceEnds, model: record.model, usage: usage, totalTokens: record.totalTokens,
            translation: record.translation, stored: now, expires: now + ttl)
        cache.store(key, entry)
    }

    /// Stops copying and gives the copy's bytes back.
    private func drop() {
        keeping = false
        body = ByteBuffer()
        pieceEnds = []
        cache.releaseCopy(reserved)
        reserved = 0
    }

    /// An upstream that says its answer must not be kept or reused (`Cache-Control:
    /// no-store`, `private`, `no-cache`, `max-age=0`, or `Vary: *`). Other `Vary` values are
    /// not a reason: providers behind CDNs send `Vary: Origin, Accept-Encoding` on every answer.
    static func forbidsStoring(_ headers: HTTPHeaders) -> Bool {
        if headers[canonicalForm: "vary"].contains("*") { return true }
        return headers[canonicalForm: "cache-control"].contains { token in
            ["no-store", "private", "no-cache", "max-age=0"].contains(token.lowercased())
        }
    }
}
