import Dialects
import NIOCore
import NIOHTTP1

/// The last response stage of a request the cache may keep: copies what the client gets
/// (head as the stages left it, every body piece with its boundaries) and, when the answer
/// was a complete 200 that no stage cut short, stores it at the end. An answer that grows
/// past `cache.max_entry_bytes` stops being copied at once, so a long stream costs no memory.
package final class CacheFill: ResponseStage {
    /// Headers not replayed: they describe the original exchange, not the answer.
    static let unreplayed: Set<String> = ["date", "age", "set-cookie", "connection", "keep-alive", "transfer-encoding"]

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
        for header in headers where !Self.unreplayed.contains(header.name.lowercased()) { kept.add(name: header.name, value: header.value) }
        self.headers = kept
    }

    package func body(_ buffer: ByteBuffer) -> ByteBuffer? {
        guard keeping, buffer.readableBytes > 0 else { return buffer }
        guard body.readableBytes + buffer.readableBytes <= maxBytes else {
            // Too large to keep: let go of what was copied.
            keeping = false
            body = ByteBuffer()
            pieceEnds = []
            return buffer
        }
        body.writeImmutableBuffer(buffer)
        pieceEnds.append(body.readableBytes)
        return buffer
    }

    package func end() -> ByteBuffer? {
        ended = true
        return nil
    }

    package func finish(into record: inout RequestRecord) {
        guard keeping, ended, record.errorCode == nil, status == 200 else { return }
        keeping = false
        // One buffer of the exact size: what is counted against max_bytes is what is held.
        var exact = ByteBufferAllocator().buffer(capacity: body.readableBytes)
        exact.writeImmutableBuffer(body)
        body = ByteBuffer()
        let now = ContinuousClock.now
        let usage = TokenCounts(
            input: record.promptTokens, output: record.completionTokens, cachedInput: record.cachedTokens, reasoning: record.reasoningTokens)
        let entry = ResponseCache.Entry(
            status: status, headers: headers, body: exact, pieceEnds: pieceEnds, model: record.model, usage: usage, totalTokens: record.totalTokens,
            stored: now, expires: now + ttl)
        cache.store(key, entry)
    }

    /// An upstream that says its answer must not be kept (`Cache-Control: no-store` or `private`).
    static func forbidsStoring(_ headers: HTTPHeaders) -> Bool {
        headers[canonicalForm: "cache-control"].contains { $0.lowercased() == "no-store" || $0.lowercased() == "private" }
    }
}
