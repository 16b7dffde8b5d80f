import Dialects
import HTTPTypes
import NIOCore
import NIOHTTP1
import ProxyConfig
import Testing

@testable import ProxyCore

/// The exact response cache without sockets: the LRU table, the shared cache's expiry and
/// memory bound, the key's normalisation and scope, the policy's overrides, the fill stage
/// and the planner's lookup.
@Suite("Response cache: keys, bounds, expiry, fill and lookup")
struct ResponseCacheTests {
    static func entry(_ text: String, pieces: [String]? = nil, ttl: Duration = .seconds(60), now: ContinuousClock.Instant = .now) -> ResponseCache.Entry {
        let parts = pieces ?? [text]
        var body = ByteBuffer()
        var ends: [Int] = []
        for part in parts {
            body.writeString(part)
            ends.append(body.readableBytes)
        }
        return ResponseCache.Entry(
            status: 200, headers: ["content-type": "application/json"], body: body, pieceEnds: ends, model: "m", usage: TokenCounts(input: 3, output: 4), totalTokens: 7,
            stored: now, expires: now + ttl)
    }

    static func key(_ n: Int) -> CacheKey { CacheKey(scope: "", route: ["POST", "/v1/chat/completions"], body: ByteBuffer(string: #"{"n":\#(n)}"#)) }

    @Test("the LRU table drops the least recently used first, counts costs, replaces and reuses slots")
    func lruTable() {
        var table = LRUTable<String, Int>(limit: 30)
        table.set("a", 1, cost: 10)
        table.set("b", 2, cost: 10)
        table.set("c", 3, cost: 10)
        #expect(table.get("a") == 1) // a is now the most recent
        #expect(table.set("d", 4, cost: 10) == 1) // b goes
        #expect(table.peek("b") == nil)
        #expect(table.keysByUse == ["d", "a", "c"])
        #expect(table.totalCost == 30)
        // Replacing a key changes its cost, not the count.
        table.set("a", 5, cost: 5)
        #expect(table.count == 3 && table.totalCost == 25)
        #expect(table.keysByUse.first == "a")
        // Too costly for the limit: not stored, nothing dropped.
        #expect(table.set("huge", 9, cost: 31) == 0)
        #expect(table.peek("huge") == nil && table.count == 3)
        // A lower limit drops from the old end.
        #expect(table.setLimit(10) == 2)
        #expect(table.keysByUse == ["a"])
        #expect(table.remove("a") == 5)
        #expect(table.count == 0 && table.totalCost == 0 && table.oldestKey == nil)
        // Many inserts through a small table keep it within its limit.
        for index in 0..<1000 { table.set("k\(index)", index, cost: 3) }
        #expect(table.count == 3 && table.keysByUse == ["k999", "k998", "k997"])
    }

    @Test("the LRU table against a plain model: random sets, gets, removes and limits keep the same order, costs and bound")
    func lruTableRandomized() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let limit = Int.random(in: 10...60, using: &generator)
            var table = LRUTable<Int, Int>(limit: limit)
            // Most recent first: (key, value, cost).
            var model: [(key: Int, value: Int, cost: Int)] = []
            var modelLimit = limit
            func trim() -> Int {
                var dropped = 0
                while model.reduce(0, { $0 + $1.cost }) > modelLimit {
                    model.removeLast()
                    dropped += 1
                }
                return dropped
            }
            for step in 0..<400 {
                let key = Int.random(in: 0..<12, using: &generator)
                switch Int.random(in: 0..<10, using: &generator) {
                case 0..<5:
                    let cost = Int.random(in: 1...15, using: &generator)
                    var expected = 0
                    // The old value goes either way; one costing more than the limit is not stored.
                    model.removeAll { $0.key == key }
                    if cost <= modelLimit {
                        model.insert((key, step, cost), at: 0)
                        expected = trim()
                    }
                    #expect(table.set(key, step, cost: cost) == expected)
                case 5..<8:
                    let found = model.firstIndex { $0.key == key }
                    #expect(table.get(key) == found.map { model[$0].value })
                    if let found { model.insert(model.remove(at: found), at: 0) }
                case 8:
                    let found = model.firstIndex { $0.key == key }
                    #expect(table.remove(key) == found.map { model[$0].value })
                    if let found { model.remove(at: found) }
                default:
                    modelLimit = Int.random(in: 0...60, using: &generator)
                    #expect(table.setLimit(modelLimit) == trim())
                }
                #expect(table.keysByUse == model.map(\.key))
                #expect(table.totalCost == model.reduce(0) { $0 + $1.cost } && table.totalCost <= modelLimit && table.count == model.count)
            }
        }
    }

    @Test("the cache gives fresh answers, drops expired ones, and stays within max_bytes by dropping the least recently used")
    func boundsAndExpiry() {
        let cache = ResponseCache(maxBytes: 4096)
        let start = ContinuousClock.now
        cache.store(Self.key(1), Self.entry("one", ttl: .seconds(10), now: start))
        #expect(cache.lookup(Self.key(1), now: start + .seconds(9))?.body == ByteBuffer(string: "one"))
        #expect(cache.lookup(Self.key(1), now: start + .seconds(10)) == nil)
        #expect(cache.stats.expired == 1 && cache.stats.entries == 0)
        // Each entry costs its bytes plus bookkeeping: a 1 KiB answer takes more than 1 KiB.
        let big = String(repeating: "x", count: 1024)
        for index in 0..<10 { cache.store(Self.key(index), Self.entry(big, now: start)) }
        let stats = cache.stats
        #expect(stats.bytes <= 4096 && stats.entries == 3 && stats.evicted == 7)
        #expect(cache.lookup(Self.key(9), now: start) != nil)
        #expect(cache.lookup(Self.key(0), now: start) == nil)
        // An answer larger than the whole cache is not kept.
        cache.store(Self.key(99), Self.entry(String(repeating: "y", count: 5000), now: start))
        #expect(cache.lookup(Self.key(99), now: start) == nil)
        // A reload to 0 empties it.
        cache.setLimit(0)
        #expect(cache.stats.entries == 0 && cache.stats.bytes == 0)
    }

    @Test("keys: JSON member order and spacing do not matter; values, scope and route do")
    func keys() {
        let route = ["POST", "/v1/chat/completions", "", "gpt-4o", "oa"]
        func key(_ body: String, scope: String = "", route: [String] = route) -> CacheKey { CacheKey(scope: scope, route: route, body: ByteBuffer(string: body)) }
        let base = key(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0}"#)
        #expect(base == key(#"{ "temperature": 0, "messages": [ {"role": "user", "content": "hi"} ], "model": "gpt-4o" }"#))
        // Nested objects keep their order: a schema's property order is the answer's field order.
        #expect(base != key(#"{"model":"gpt-4o","messages":[{"content":"hi","role":"user"}],"temperature":0}"#))
        let schema = #"{"model":"m","response_format":{"type":"json_schema","json_schema":{"schema":{"properties":{"a":{},"b":{}}}}}}"#
        let swapped = #"{"model":"m","response_format":{"type":"json_schema","json_schema":{"schema":{"properties":{"b":{},"a":{}}}}}}"#
        #expect(key(schema) != key(swapped))
        #expect(base == key(#"{"model":"gpt-4o","messages":[{"role":"user","content":"h\u0069"}],"temperature":0}"#))
        #expect(base != key(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi!"}],"temperature":0}"#))
        #expect(base != key(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.0}"#))
        // Array order is meaning: two messages swapped are another conversation.
        #expect(key(#"{"messages":[1,2]}"#) != key(#"{"messages":[2,1]}"#))
        #expect(base != key(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0}"#, scope: "owner:alice"))
        #expect(
            key("{}", scope: "owner:alice") != key("{}", scope: "owner:bob") && key("{}", scope: "a", route: ["b"]) != key("{}", scope: "ab", route: [])
        )
        #expect(base != key(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0}"#, route: ["POST", "/v1/messages"]))
        // Not JSON: the bytes themselves.
        #expect(key("not json") == key("not json") && key("not json") != key("not  json"))
    }

    @Test("the headers that change an answer are part of the key, in any order; a credential header is not")
    func answerHeaders() {
        func text(_ fields: [(String, String)]) -> String {
            var headers = HTTPFields()
            for (name, value) in fields { headers.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            return CachePolicy.answerHeaders(headers)
        }
        let beta = text([("anthropic-version", "2023-06-01"), ("anthropic-beta", "prompt-caching-2024-07-31"), ("user-agent", "sdk/1")])
        #expect(beta == text([("Anthropic-Beta", "prompt-caching-2024-07-31"), ("anthropic-version", "2023-06-01")]))
        #expect(beta != text([("anthropic-version", "2023-06-01")]))
        #expect(text([("openai-organization", "org-a")]) != text([("openai-organization", "org-b")]))
        #expect(text([("x-goog-api-key", "secret-1")]) == text([("x-goog-api-key", "secret-2")]))
        #expect(text([("x-goog-user-project", "p1")]) != text([]))
        #expect(text([("authorization", "Bearer a")]) == "")
    }

    @Test("policy: a model's setting wins over its provider's, which wins over the section's; Cache-Control directives")
    func policy() throws {
        var config = try GatewayConfig.parse(
            yaml: """
                cache:
                  enabled: false
                  ttl: 120
                  models: {"gpt-4*": {enabled: true, ttl: 30}, "gpt-4o-mini": {enabled: false}}
                providers:
                  - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", cache: {enabled: true}}
                  - {name: other, type: openai, base_url: "http://127.0.0.1:10/v1"}
                """)
        config.discovery.localEngines = false
        let policy = CachePolicy(config.cache, providers: config.providers)
        #expect(policy.anyEnabled)
        #expect(policy.ttl(model: "o3", provider: "oa") == .seconds(120))
        #expect(policy.ttl(model: "o3", provider: "other") == nil)
        #expect(policy.ttl(model: "gpt-4.1", provider: "other") == .seconds(30))
        // First match wins: gpt-4o-mini matches gpt-4* first.
        #expect(policy.ttl(model: "gpt-4o-mini", provider: "other") == .seconds(30))
        #expect(CachePolicy(CacheConfig(), providers: []).anyEnabled == false)

        func directives(_ value: String) -> CachePolicy.Directives { CachePolicy.Directives([.cacheControl: value]) }
        #expect(directives("no-store").noStore && !directives("no-store").noCache)
        #expect(directives("max-age=0, private").noCache)
        #expect(directives(" No-Cache ").noCache)
        #expect(!directives("max-age=60").noCache && !directives("max-age=60").noStore)
    }

    @Test("the fill stage keeps a complete 200 with its pieces; not a cut, failed, oversized or non-200 answer")
    func fill() {
        func run(status: Int = 200, pieces: [String], max: Int = 1000, error: ErrorCode? = nil, ended: Bool = true, headers: HTTPHeaders = [:]) -> ResponseCache.Entry? {
            let cache = ResponseCache(maxBytes: 1 << 20)
            let key = Self.key(1)
            let stage = CacheFill(cache: cache, key: key, ttl: .seconds(60), maxBytes: max)
            let stages = ResponseStages([UsageTap(), stage])
            var status = status
            var headers: HTTPHeaders = headers
            headers.add(name: "content-type", value: "text/event-stream")
            headers.add(name: "date", value: "Tue, 01 Dec 2026 00:00:00 GMT")
            stages.head(status: &status, headers: &headers)
            for piece in pieces { _ = stages.body(ByteBuffer(string: piece)) }
            if ended { _ = stages.end() }
            var record = RequestRecord(id: "r", method: "POST", path: "/v1/chat/completions", start: .now)
            record.model = "m"
            record.errorCode = error
            stages.finish(into: &record)
            return cache.lookup(key)
        }
        let usage = #"data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"# + "\n\n"
        let kept = run(pieces: ["data: 1\n\n", "data: 2\n\n", usage, "data: [DONE]\n\n"])
        #expect(kept?.pieces.map { String(buffer: $0) } == ["data: 1\n\n", "data: 2\n\n", usage, "data: [DONE]\n\n"])
        #expect(kept?.usage == TokenCounts(input: 7, output: 3) && kept?.totalTokens == 10)
        #expect(kept?.headers["date"].isEmpty == true && kept?.headers["content-type"] == ["text/event-stream"])
        // Held in one buffer (at most the next power of two), and counted at its capacity.
        #expect(kept.map { $0.body.capacity < 2 * $0.body.readableBytes && $0.size >= $0.body.capacity } == true)
        #expect(run(status: 500, pieces: ["x"]) == nil)
        #expect(run(pieces: ["x"], error: .budgetExceeded) == nil)
        #expect(run(pieces: ["x"], error: .upstreamStreamError, ended: false) == nil)
        #expect(run(pieces: [String(repeating: "x", count: 600), String(repeating: "y", count: 600)], max: 1000) == nil)
        #expect(run(pieces: ["x"], headers: ["cache-control": "no-store"]) == nil)
        #expect(run(pieces: ["data: [DONE]\n\n"], headers: ["cache-control": "no-cache"]) == nil)
        #expect(run(pieces: ["data: [DONE]\n\n"], headers: ["vary": "*"]) == nil)
        #expect(run(pieces: ["data: [DONE]\n\n"], headers: ["vary": "Origin, Accept-Encoding"]) != nil)
        // A stream that never reached its end, or reported an error inside a 200: not kept.
        #expect(run(pieces: ["data: 1\n\n", "data: 2\n\n"]) == nil)
        #expect(run(pieces: [#"data: {"error":{"message":"overloaded"}}"# + "\n\n", "data: [DONE]\n\n"]) == nil)
        #expect(run(pieces: ["event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n"]) == nil)
        // Each dialect's end: Anthropic's message_stop, Gemini's finishReason.
        #expect(run(pieces: ["event: message_start\ndata: {\"type\":\"message_start\"}\n\n", "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"]) != nil)
        #expect(run(pieces: [#"data: {"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}"# + "\r\n\r\n"]) != nil)
        // The original exchange's ids and rate-limit state are not replayed.
        let replayed = run(
            pieces: ["data: [DONE]\n\n"],
            headers: ["x-request-id": "req_1", "x-ratelimit-remaining-requests": "9", "anthropic-ratelimit-tokens-remaining": "5", "openai-model": "m"])
        #expect(replayed.map { $0.headers.map(\.name).sorted() } == ["content-type", "openai-model"])
    }

    @Test("a translated answer that turns out to be an error is recorded as failed and never kept")
    func translatedFailure() {
        let cache = ResponseCache(maxBytes: 1 << 20)
        let translator = ResponseTranslator(
            client: .anthropicMessages, upstream: .openAIChat, streaming: false, context: TranslationContext(created: 0, model: "m", includeUsage: false, jsonToolName: nil))
        let stages = ResponseStages([
            UsageTap(), TranslationStage(translator: translator, warning: nil), CacheFill(cache: cache, key: Self.key(1), ttl: .seconds(60), maxBytes: 1 << 20),
        ])
        var status = 200
        var headers: HTTPHeaders = ["content-type": "application/json"]
        stages.head(status: &status, headers: &headers)
        _ = stages.body(ByteBuffer(string: "<html>not an answer</html>"))
        _ = stages.end()
        var record = RequestRecord(id: "r", method: "POST", path: "/v1/messages", start: .now)
        record.status = status
        stages.finish(into: &record)
        #expect(record.errorCode == .upstreamStreamError)
        #expect(cache.lookup(Self.key(1)) == nil && cache.stats.stored == 0)
    }

    @Test("only the first choice's answers are kept: an attempt on a fallback model carries no fill")
    func fallbackNotKept() throws {
        let state = try EngineFixtures.state(
            """
            auth:
              keys: ["\(EngineFixtures.key)"]
            cache: {enabled: true}
            routing: {fallbacks: {gpt-4o-mini: [claude-sonnet-4-5]}}
            providers:
              - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", models: ["gpt-4o-mini"]}
              - {name: an, type: anthropic, base_url: "http://127.0.0.1:10", models: ["claude-*"]}
            """)
        let plan = try #require(
            EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions"), body: #"{"model":"gpt-4o-mini","messages":[]}"#, state: state).forward)
        guard case .send(let first, _) = plan.attempts.next() else {
            Issue.record("no first attempt")
            return
        }
        let primary = try plan.attempt(to: first).get()
        #expect(primary.stages.stages.contains { $0 is CacheFill })
        guard case .send(let second, _) = plan.attempts.failed(.init(error: .badGateway("down"), retryable: true)), plan.attempts.leg == 1 else {
            Issue.record("no fallback attempt")
            return
        }
        let fallback = try plan.attempt(to: second).get()
        #expect(!fallback.stages.stages.contains { $0 is CacheFill })
    }

    @Test("answers on their way in share one copy allowance (max_bytes); a fill gives its share back when it ends or is dropped")
    func copyAllowance() {
        let cache = ResponseCache(maxBytes: 1000)
        func fill(_ n: Int) -> CacheFill { CacheFill(cache: cache, key: Self.key(n), ttl: .seconds(60), maxBytes: 1000) }
        var headers: HTTPHeaders = ["content-type": "application/json"]
        var status = 200
        let first = ResponseStages([fill(1)])
        let second = ResponseStages([fill(2)])
        first.head(status: &status, headers: &headers)
        second.head(status: &status, headers: &headers)
        _ = first.body(ByteBuffer(string: String(repeating: "a", count: 400)))
        #expect(cache.copyingBytes == 400)
        // The second answer does not fit beside the first: passed on, not copied.
        #expect(second.body(ByteBuffer(string: String(repeating: "b", count: 700)))?.readableBytes == 700)
        #expect(cache.copyingBytes == 400)
        for stages in [first, second] {
            _ = stages.end()
            var record = RequestRecord(id: "r", method: "POST", path: "/v1/embeddings", start: .now)
            stages.finish(into: &record)
        }
        #expect(cache.copyingBytes == 0)
        #expect(cache.lookup(Self.key(1)) != nil && cache.lookup(Self.key(2)) == nil)
        // A fill that never finishes (its attempt was retried elsewhere) gives back when it goes.
        do {
            let abandoned = ResponseStages([fill(3)])
            abandoned.head(status: &status, headers: &headers)
            _ = abandoned.body(ByteBuffer(string: "abc"))
            #expect(cache.copyingBytes == 3)
        }
        #expect(cache.copyingBytes == 0)
    }

    static let cachingYAML = """
        auth:
          keys: ["\(EngineFixtures.key)", "second-key-123456"]
        cache: {enabled: true, scope: key}
        providers:
          - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", models: ["gpt-4o-mini"]}
        """

    @Test("the planner looks up after the guards: a hit carries the entry and no fill, a miss a fill; no-store neither; scope by key")
    func plannerLookup() throws {
        let state = try EngineFixtures.state(Self.cachingYAML)
        let chat = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#
        let request = EngineFixtures.request("/v1/chat/completions")
        guard let miss = EngineFixtures.plan(request, body: chat, state: state).forward, let fill = miss.cacheFill else {
            Issue.record("no fill plan on a miss")
            return
        }
        #expect(miss.record.cache == .miss && miss.cacheHit == nil)
        fill.cache.store(fill.key, Self.entry("cached"))
        // Same request, reordered members: a hit.
        let reordered = #"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini"}"#
        let hit = EngineFixtures.plan(request, body: reordered, state: state).forward
        #expect(hit?.record.cache == .hit && hit?.cacheHit != nil && hit?.cacheFill == nil)
        // Another key (scope key): its own miss.
        let other = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions", key: "second-key-123456"), body: chat, state: state).forward
        #expect(other?.record.cache == .miss && other?.cacheHit == nil)
        // no-cache: a fresh answer, kept again; no-store: neither.
        let fresh = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions", headers: [("cache-control", "no-cache")]), body: chat, state: state).forward
        #expect(fresh?.record.cache == .miss && fresh?.cacheHit == nil && fresh?.cacheFill != nil)
        let bypass = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions", headers: [("cache-control", "no-store")]), body: chat, state: state).forward
        #expect(bypass?.record.cache == .bypass && bypass?.cacheHit == nil && bypass?.cacheFill == nil)
        // A refused key never reaches the cache.
        #expect(EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions", key: "wrong"), body: chat, state: state).rejection != nil)
        // A hit costs nothing and spends nothing.
        var record = hit!.record
        record.pricing = state.pricing
        record.promptTokens = 1000
        record.completionTokens = 1000
        #expect(record.costUSD == 0 && record.outcome.tokens == 0)
    }
}

@Suite("Per-route retry bounds and fallback chains")
struct RouteResilienceTests {
    static let yaml = """
        auth:
          keys: ["\(EngineFixtures.key)"]
        resilience: {retries: {max_attempts: 3, total_timeout: 30}}
        routing:
          fallbacks: {gpt-4.1: [claude-sonnet-4-5]}
        providers:
          - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", models: ["gpt-4.1", "gpt-4o-mini"], retries: {max_attempts: 1, total_timeout: 5}, fallbacks: [claude-sonnet-4-5, gpt-4o-mini, gemini-2.5-pro]}
          - {name: an, type: anthropic, base_url: "http://127.0.0.1:10", models: ["claude-*"]}
          - {name: gm, type: gemini, base_url: "http://127.0.0.1:11", models: ["gemini-*"]}
        """

    @Test("a route's provider bounds its attempts and total time, and its chain applies to models without their own")
    func routeBounds() throws {
        let state = try EngineFixtures.state(Self.yaml)
        func plan(_ model: String, path: String = "/v1/chat/completions") -> ForwardPlan? {
            EngineFixtures.plan(EngineFixtures.request(path), body: #"{"model":"\#(model)","messages":[]}"#, state: state).forward
        }
        // gpt-4o-mini leads with oa: its bounds, its chain (itself left out).
        let mini = try #require(plan("gpt-4o-mini"))
        #expect(mini.attempts.policy.maxAttempts == 1 && mini.attempts.policy.totalTimeout == .seconds(5))
        #expect(mini.legs.map(\.model) == ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-pro"])
        // gpt-4.1 has its own chain in routing.fallbacks: that one wins.
        let four = try #require(plan("gpt-4.1"))
        #expect(four.legs.map(\.model) == ["gpt-4.1", "claude-sonnet-4-5"])
        // A Claude route is led by an: the section's bounds, no chain.
        let claude = try #require(plan("claude-sonnet-4-5", path: "/v1/messages"))
        #expect(claude.attempts.policy.maxAttempts == 3 && claude.legs.count == 1)
    }
}
