import Dialects
import NIOCore
import NIOHTTP1
import Testing

@testable import ProxyCore

/// The response cache's second level without a database: the outbox that feeds it, the
/// adoption of answers from it, the key's hex name and the entry's codec, which reads rows
/// as hostile input.
@Suite("Response cache: the store-backed second level")
struct CacheStoreLevelTests {
    static func key(_ n: Int) -> CacheKey { ResponseCacheTests.key(n) }

    @Test("keys travel as 64 hex digits and come back equal; anything else is no key")
    func keyHex() {
        for n in 0..<50 {
            let key = Self.key(n)
            #expect(key.hex.utf8.count == 64 && CacheKey(hex: key.hex) == key)
        }
        for bad in ["", String(repeating: "0", count: 63), String(repeating: "g", count: 64), String(repeating: "A", count: 64), Self.key(1).hex + "0"] {
            #expect(CacheKey(hex: bad) == nil)
        }
    }

    @Test("stored answers enter the outbox only while replicating, up to its bound; adopted ones never, and never over a fresher one")
    func outboxAndAdoption() {
        let cache = ResponseCache(maxBytes: 1 << 20)
        cache.store(Self.key(1), ResponseCacheTests.entry("one"))
        #expect(cache.takeOutbox().isEmpty)
        cache.setReplicating(true)
        cache.store(Self.key(2), ResponseCacheTests.entry("two"))
        #expect(cache.takeOutbox().map(\.key) == [Self.key(2)])
        #expect(cache.takeOutbox().isEmpty)
        for n in 0..<(ResponseCache.outboxLimit + 5) { cache.store(Self.key(100 + n), ResponseCacheTests.entry("x")) }
        #expect(cache.takeOutbox().count == ResponseCache.outboxLimit && cache.stats.outboxDropped == 5)
        // Adopted from the store: kept, not sent back.
        let start = ContinuousClock.now
        cache.adopt(Self.key(3), ResponseCacheTests.entry("three", now: start))
        #expect(cache.lookup(Self.key(3))?.body == ByteBuffer(string: "three") && cache.takeOutbox().isEmpty && cache.stats.adopted == 1)
        // An older answer does not replace a fresher one here; a newer one does.
        cache.adopt(Self.key(3), ResponseCacheTests.entry("older", now: start - .seconds(5)))
        #expect(cache.lookup(Self.key(3))?.body == ByteBuffer(string: "three"))
        cache.adopt(Self.key(3), ResponseCacheTests.entry("newer", now: start + .seconds(1)))
        #expect(cache.lookup(Self.key(3))?.body == ByteBuffer(string: "newer"))
        #expect(cache.contains(Self.key(3)) && !cache.contains(Self.key(4)))
        // Off again: the outbox empties and stays empty.
        cache.store(Self.key(5), ResponseCacheTests.entry("five"))
        cache.setReplicating(false)
        cache.store(Self.key(6), ResponseCacheTests.entry("six"))
        #expect(cache.takeOutbox().isEmpty)
    }

    @Test("an entry survives the codec: pieces, headers, usage, model, translation, age and time left")
    func roundTrip() throws {
        let now = ContinuousClock.now
        let nowMs: Int64 = 1_800_000_000_000
        var body = ByteBuffer()
        var ends: [Int] = []
        for piece in ["data: 1\n\n", "data: [DONE]\n\n"] {
            body.writeString(piece)
            ends.append(body.readableBytes)
        }
        let entry = ResponseCache.Entry(
            status: 200, headers: ["content-type": "text/event-stream", "x-llmproxy-warning": "ünïcode"], body: body, pieceEnds: ends, model: "gpt-4o",
            usage: TokenCounts(input: 5, output: 3, cachedInput: 2), totalTokens: 8, translation: "anthropic→openai", stored: now - .seconds(10),
            expires: now + .seconds(50))
        let (payload, created, expires) = CacheEntryCodec.encode(entry, now: now, nowMs: nowMs)
        #expect(created == nowMs - 10_000 && expires == nowMs + 50_000)
        // Read back by another process a second later.
        let later = now + .seconds(1)
        let back = try #require(
            CacheEntryCodec.decode(payload, createdMs: created, expiresMs: expires, now: later, nowMs: nowMs + 1000, maxBodyBytes: 1 << 20))
        #expect(back.pieces.map { String(buffer: $0) } == ["data: 1\n\n", "data: [DONE]\n\n"])
        #expect(back.headers.map(\.name) == ["content-type", "x-llmproxy-warning"] && back.headers["x-llmproxy-warning"] == ["ünïcode"])
        #expect(back.usage == entry.usage && back.totalTokens == 8 && back.model == "gpt-4o" && back.translation == "anthropic→openai")
        func near(_ duration: Duration, _ expected: Duration) -> Bool { duration > expected - .milliseconds(2) && duration < expected + .milliseconds(2) }
        #expect(near(later - back.stored, .seconds(11)))
        #expect(near(back.expires - later, .seconds(49)))
        // Too large for this instance's max_entry_bytes, or already expired: nothing.
        #expect(CacheEntryCodec.decode(payload, createdMs: created, expiresMs: expires, now: later, nowMs: nowMs, maxBodyBytes: 10) == nil)
        #expect(CacheEntryCodec.decode(payload, createdMs: created, expiresMs: nowMs, now: later, nowMs: nowMs, maxBodyBytes: 1 << 20) == nil)
    }

    @Test("hostile rows are no answers: bad JSON, another status, header injection, pieces outside the body, negative counts, absurd times")
    func hostileRows() {
        let nowMs: Int64 = 1_800_000_000_000
        let now = ContinuousClock.now
        func decode(_ payload: String, created: Int64 = 1_800_000_000_000, expires: Int64 = 1_800_000_060_000) -> ResponseCache.Entry? {
            CacheEntryCodec.decode(payload, createdMs: created, expiresMs: expires, now: now, nowMs: nowMs, maxBodyBytes: 1 << 20)
        }
        func row(
            status: String = "200", headers: String = #"[["content-type","application/json"]]"#, body: String = "aGk=", pieces: String = "[2]", usage: String = "[1,2,null,null]"
        ) -> String {
            #"{"v":1,"status":\#(status),"headers":\#(headers),"body":"\#(body)","pieces":\#(pieces),"model":"m","usage":\#(usage),"total":3,"translation":null}"#
        }
        #expect(decode(row()) != nil)
        #expect(decode(row()).map { String(buffer: $0.body) } == "hi")
        for bad in [
            "", "{", "[]", #"{"v":2}"#, row(status: "500"), row(headers: #"[["bad name","x"]]"#), row(headers: #"[["x-a","a\r\nset-cookie: s=1"]]"#),
            row(headers: #"[["x-a"]]"#), row(body: "!!!"), row(pieces: "[3]"), row(pieces: "[1]"), row(pieces: "[2,1]"), row(pieces: "[-1,2]"),
            row(usage: "[-1,2,null,null]"), row(usage: "[1,2]"), row(usage: #"["a",2,null,null]"#),
        ] {
            #expect(decode(bad) == nil, "\(bad)")
        }
        // Times from nowhere: never a crash, never fresh for longer than a time to live may be.
        #expect(decode(row(), created: Int64.min) == nil)
        let far = decode(row(), created: Int64.max, expires: Int64.max)
        #expect(far.map { $0.expires - now <= .seconds(30 * 86_400) && $0.stored <= now } == true)
        let headers = (0...CacheEntryCodec.maxHeaders).map { #"["x-h\#($0)","v"]"# }.joined(separator: ",")
        #expect(decode(row(headers: "[\(headers)]")) == nil)
    }
}
