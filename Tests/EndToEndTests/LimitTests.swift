import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Store
import Synchronization
import Testing

/// Rate limits, concurrency, budgets, address lists, shedding and CORS over real sockets,
/// against the gateway's own `mock` provider (deterministic usage: prompt = body bytes / 4,
/// completion = 19 tokens).
@Suite("Guards: limits, budgets, addresses, shedding, CORS")
struct LimitTests {
    /// A client that opens a connection per concurrent request (the shared one queues past 8
    /// per host, which would serialise the "concurrent" requests these tests need).
    static let wide = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(
            timeout: .init(connect: .seconds(5), read: .seconds(30)),
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))

    static func send(_ url: String, headers: [(String, String)] = Configs.auth, body: String = #"{"model":"m1","messages":[]}"#) async throws -> TestResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await wide.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return TestResponse(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    /// `count` requests at once; their responses.
    static func burst(_ count: Int, _ make: @escaping @Sendable (Int) async throws -> TestResponse) async throws -> [TestResponse] {
        try await withThrowingTaskGroup(of: TestResponse.self) { group in
            for index in 0..<count { group.addTask { try await make(index) } }
            var all: [TestResponse] = []
            for try await response in group { all.append(response) }
            return all
        }
    }

    /// `count` requests at once for the upstream's `held` model, `holding` of which should be
    /// admitted: once that many wait upstream and every other one has been answered (or 30 s
    /// have passed, or more than `holding` got through), they are let go. Nothing here depends
    /// on how fast the machine is: the admitted ones stay in flight until the refusals are in.
    /// `held`: whether exactly that happened.
    static func heldBurst(
        _ count: Int, holding: Int, upstream: MockUpstream, _ make: @escaping @Sendable (Int) async throws -> TestResponse
    ) async throws -> (responses: [TestResponse], held: Bool) {
        let answered = Counter()
        return try await withThrowingTaskGroup(of: TestResponse.self) { group in
            for index in 0..<count {
                group.addTask {
                    let response = try await make(index)
                    answered.add()
                    return response
                }
            }
            let held = await eventually(timeout: .seconds(30)) {
                upstream.held > holding || upstream.held == holding && answered.value == count - holding
            }
            upstream.release()
            var all: [TestResponse] = []
            for try await response in group { all.append(response) }
            upstream.hold()
            return (all, held && upstream.held <= holding)
        }
    }

    final class Counter: Sendable {
        private let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
        func add() { count.withLock { $0 += 1 } }
    }

    /// One OpenAI-type provider on a ``MockUpstream`` whose `held` model waits for the test.
    static func heldConfig(_ upstream: MockUpstream, _ extra: String) -> String {
        """
        auth: {keys: ["\(Configs.clientKey)"]}
        providers:
          - {name: up, type: openai, base_url: "\(upstream.baseURL)/v1", api_key: \(upstream.requiredKey), models: ["held"], discover_models: false}
        \(extra)
        """
    }

    static let held = #"{"model":"held","messages":[]}"#

    static func mockConfig(latency: Int = 0, _ extra: String) -> String {
        """
        auth: {keys: ["\(Configs.clientKey)", "second-client-key"]}
        providers:
          - {name: m, type: mock, models: ["m1", "m2", "claude-*", "gemini-*"], mock: {latency_ms: \(latency), chunks: 3, chunk_delay_ms: 1}}
        \(extra)
        """
    }

    @Test(
        "N parallel requests against a limit of K admit exactly K, for each kind of limit; refusals are 429 with Retry-After, successes carry X-RateLimit-*",
        arguments: [
            "limits: {ip: {requests_per_minute: 5}}",
            "limits: {key: {requests_per_minute: 5}}",
            "limits: {key_model: {requests_per_minute: 5}}",
            #"limits: {models: {"m*": {requests_per_minute: 5}}}"#,
            "limits: {providers: {m: {requests_per_minute: 5}}}",
        ])
    func exactAdmission(limits: String) async throws {
        let gateway = try await GatewayHarness.start(yaml: Self.mockConfig(limits))
        defer { Task { await gateway.stop() } }
        let responses = try await Self.burst(20) { _ in try await Self.send("\(gateway.url)/v1/chat/completions") }
        let admitted = responses.filter { $0.status == 200 }
        let refused = responses.filter { $0.status == 429 }
        #expect(admitted.count == 5, "\(limits)")
        #expect(refused.count == 15)
        for response in refused {
            #expect(Int(response.headers["retry-after"].first ?? "") ?? 0 >= 1)
            #expect((response.json["error"] as? [String: Any])?["code"] as? String == "rate_limited")
        }
        for response in admitted {
            #expect(response.headers["x-ratelimit-limit"].first == "5")
            #expect(Int(response.headers["x-ratelimit-remaining"].first ?? "-1").map { (0...4).contains($0) } == true)
            #expect(Int(response.headers["x-ratelimit-reset"].first ?? "") ?? 0 >= 1)
        }
        #expect(Set(admitted.compactMap { $0.headers["x-ratelimit-remaining"].first }) == ["0", "1", "2", "3", "4"])
        await gateway.stop()
    }

    @Test("a provider at its limit is passed over for another of the route's providers; when all are at their limits, 429")
    func providerLimitsFailOver() async throws {
        let first = MockUpstream(name: "first", requiredKey: "upstream-key-first")
        let second = MockUpstream(name: "second", requiredKey: "upstream-key-second")
        try await first.start()
        try await second.start()
        let yaml = """
            auth: {keys: ["\(Configs.clientKey)"]}
            providers:
              - {name: first, type: openai, base_url: "\(first.baseURL)/v1", api_key: \(first.requiredKey), models: ["m1"], discover_models: false}
              - {name: second, type: openai, base_url: "\(second.baseURL)/v1", api_key: \(second.requiredKey), models: ["m1"], discover_models: false}
            limits: {providers: {first: {requests_per_minute: 3}, second: {requests_per_minute: 4}}}
            """
        let gateway = try await GatewayHarness.start(yaml: yaml)
        let responses = try await Self.burst(12) { _ in try await Self.send("\(gateway.url)/v1/chat/completions") }
        #expect(responses.filter { $0.status == 200 }.count == 7)
        #expect(responses.filter { $0.status == 429 }.count == 5)
        // Each provider got exactly its limit: the one at its limit was passed over, not tried.
        #expect(first.received.count == 3)
        #expect(second.received.count == 4)
        for refused in responses where refused.status == 429 {
            #expect(refused.headers["retry-after"].first != nil)
            #expect(((refused.json["error"] as? [String: Any])?["message"] as? String)?.contains("for provider") == true)
        }
        await gateway.stop()
        await first.stop()
        await second.stop()
    }

    @Test("a per-key limit counts each key apart, and a 429 has each dialect's error shape")
    func perKeyAndDialects() async throws {
        let gateway = try await GatewayHarness.start(yaml: Self.mockConfig("limits: {key: {requests_per_minute: 1}}"))
        #expect(try await Self.send("\(gateway.url)/v1/chat/completions").status == 200)
        let openai = try await Self.send("\(gateway.url)/v1/chat/completions")
        #expect(openai.status == 429)
        #expect((openai.json["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
        let anthropic = try await Self.send(
            "\(gateway.url)/v1/messages", headers: [("x-api-key", Configs.clientKey), ("anthropic-version", "2023-06-01")],
            body: #"{"model":"claude-x","max_tokens":10,"messages":[]}"#)
        #expect(anthropic.status == 429)
        #expect(anthropic.json["type"] as? String == "error" && (anthropic.json["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
        let gemini = try await Self.send("\(gateway.url)/v1beta/models/gemini-x:generateContent", headers: [("x-goog-api-key", Configs.clientKey)], body: "{}")
        #expect(gemini.status == 429)
        #expect((gemini.json["error"] as? [String: Any])?["status"] as? String == "RESOURCE_EXHAUSTED")
        #expect(gemini.headers["retry-after"].first != nil)
        // Another key has its own allowance.
        #expect(try await Self.send("\(gateway.url)/v1/chat/completions", headers: [("Authorization", "Bearer second-client-key")]).status == 200)
        await gateway.stop()
    }

    @Test("a managed key's concurrency admits exactly that many requests in flight, and slots come back when they end")
    func managedConcurrency() async throws {
        let path = NSTemporaryDirectory() + "llmproxy-limits-\(UUID().uuidString)/llmproxy.sqlite"
        let store = try await Store.openSQLite(path: path, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let (key, secret) = KeyIssuer.issue(username: "carol", name: nil, expiresAt: nil, limits: KeyLimits(concurrency: 3), now: WallClock.nowMs())
        try await store.insertKey(key)
        await store.close()
        // The upstream holds the first three in flight until the rest are refused.
        let upstream = MockUpstream(name: "held", requiredKey: "upstream-key-held")
        try await upstream.start()
        let gateway = try await GatewayHarness.start(yaml: Self.heldConfig(upstream, "database: {path: \(path)}"))
        let auth = [("Authorization", "Bearer \(secret)")]
        let url = "\(gateway.url)/v1/chat/completions"
        let (responses, responsesHeld) = try await Self.heldBurst(12, holding: 3, upstream: upstream) { _ in try await Self.send(url, headers: auth, body: Self.held) }
        #expect(responsesHeld)
        #expect(responses.filter { $0.status == 200 }.count == 3)
        #expect(responses.filter { $0.status == 429 }.count == 9)
        // All three ended: their slots are free again.
        let (again, againHeld) = try await Self.heldBurst(3, holding: 3, upstream: upstream) { _ in try await Self.send(url, headers: auth, body: Self.held) }
        #expect(againHeld && again.allSatisfy { $0.status == 200 })
        await gateway.stop()
        await upstream.stop()
    }

    @Test("tokens per minute are charged up front and settled from streamed usage, in all three dialects")
    func tokensSettleFromStreams() async throws {
        // 12000 tokens a minute (200 a second), each request reserves ~5000: without
        // settlement the third request within ~15 s would be refused.
        let gateway = try await GatewayHarness.start(yaml: Self.mockConfig("limits: {key: {tokens_per_minute: 12000}, default_output_tokens: 5000}"))
        let requests: [(String, [(String, String)], String)] = [
            ("/v1/chat/completions", Configs.auth, #"{"model":"m1","stream":true,"max_tokens":5000,"messages":[]}"#),
            (
                "/v1/messages", [("x-api-key", Configs.clientKey), ("anthropic-version", "2023-06-01")],
                #"{"model":"claude-x","stream":true,"max_tokens":5000,"messages":[]}"#
            ),
            ("/v1beta/models/gemini-x:streamGenerateContent?alt=sse", [("x-goog-api-key", Configs.clientKey)], #"{"contents":[]}"#),
        ]
        for (path, headers, body) in requests {
            var remaining: [Int] = []
            for _ in 0..<4 {
                let response = try await Self.send(gateway.url + path, headers: headers, body: body)
                #expect(response.status == 200, "\(path): \(response.body)")
                #expect(response.headers["x-ratelimit-limit-tokens"].first == "12000")
                remaining.append(Int(response.headers["x-ratelimit-remaining-tokens"].first ?? "") ?? -1)
            }
            // Each reports what is left after its own reservation: about 12000 − 5000 − the
            // few dozen tokens earlier requests really used.
            #expect(remaining.allSatisfy { $0 >= 6000 && $0 <= 7000 }, "\(path): \(remaining)")
        }
        await gateway.stop()
    }

    @Test("a token budget is hard under concurrency: 50 requests against a budget that covers 10 admit at most 10; money budgets too")
    func budgetsUnderConcurrency() async throws {
        let path = NSTemporaryDirectory() + "llmproxy-budget-\(UUID().uuidString)/llmproxy.sqlite"
        let store = try await Store.openSQLite(path: path, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let body = #"{"model":"held","max_tokens":1000,"messages":[]}"#
        // Each request reserves body/4 + 1 + 1000 tokens; the budget covers ten of them.
        let perRequest = Int64(body.utf8.count / 4 + 1 + 1000)
        let (tokenKey, tokenSecret) = KeyIssuer.issue(
            username: "dave", name: nil, expiresAt: nil, limits: KeyLimits(tokenBudget: perRequest * 10 + perRequest / 2, budgetPeriod: "day"), now: WallClock.nowMs())
        // `held` costs $1 per million input and $1000 per million output: a request reserves about $1.
        let (costKey, costSecret) = KeyIssuer.issue(
            username: "erin", name: nil, expiresAt: nil, limits: KeyLimits(costBudget: 10.5, budgetPeriod: "month"), now: WallClock.nowMs())
        try await store.insertKey(tokenKey)
        try await store.insertKey(costKey)
        await store.close()
        // The upstream holds the admitted requests until every other one has been refused: the
        // reservations they hold, not their settled usage, are what the budget is checked against.
        let upstream = MockUpstream(name: "held", requiredKey: "upstream-key-held")
        try await upstream.start()
        let gateway = try await GatewayHarness.start(
            yaml: Self.heldConfig(upstream, "database: {path: \(path)}\npricing: {models: {held: {input: 1, output: 1000}}}"))
        let url = "\(gateway.url)/v1/chat/completions"
        let (tokens, tokensHeld) = try await Self.heldBurst(50, holding: 10, upstream: upstream) { _ in
            try await Self.send(url, headers: [("Authorization", "Bearer \(tokenSecret)")], body: body)
        }
        #expect(tokensHeld)
        let admitted = tokens.filter { $0.status == 200 }.count
        #expect(admitted == 10)
        let refused = tokens.filter { $0.status == 429 }
        #expect(refused.count == 40)
        #expect(refused.allSatisfy { ($0.json["error"] as? [String: Any])?["code"] as? String == "budget_exceeded" && $0.headers["retry-after"].first != nil })

        let (money, moneyHeld) = try await Self.heldBurst(50, holding: 10, upstream: upstream) { _ in
            try await Self.send(url, headers: [("Authorization", "Bearer \(costSecret)")], body: body)
        }
        #expect(moneyHeld)
        #expect(money.filter { $0.status == 200 }.count == 10)
        #expect(money.filter { $0.status == 429 }.count == 40)
        await gateway.stop()
        await upstream.stop()
    }

    @Test("a stream without max_tokens is cut off at its budget in all three dialects: an error event in the dialect, the upstream cancelled, the spend booked")
    func streamCutOffAtBudget() async throws {
        let path = ManagedKeyTests.sqlitePath()
        let store = try await Store.openSQLite(path: path, logger: ManagedKeyTests.quiet)
        // A request reserves its prompt (body / 4) and default_output_tokens (20); the budget
        // of 100 tokens lets the stream run past that until about 85 output tokens (~340
        // bytes of text, some 50 of the upstream's chunks), then cuts it. The upstream would
        // send 400 chunks over 40 s: even a gateway delayed by seconds on a loaded machine cuts
        // the stream (and closes the upstream) long before the upstream could finish.
        var secrets: [String] = []
        for name in ["openai", "anthropic", "gemini"] {
            let (key, secret) = KeyIssuer.issue(
                username: "cut-\(name)", name: nil, expiresAt: nil, limits: KeyLimits(tokenBudget: 100, budgetPeriod: "day"), now: WallClock.nowMs())
            try await store.insertKey(key)
            secrets.append(secret)
        }
        await store.close()
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "database: {path: \(path)}\nlimits: {default_output_tokens: 20}") }) {
            gateway, upstreams in
            let upstream = upstreams["primary"]!
            let requests: [(String, [(String, String)], String, String)] = [
                ("/v1/chat/completions", [("Authorization", "Bearer \(secrets[0])")], #"{"model":"stream-400-100","stream":true,"messages":[]}"#, "data: [DONE]\n\n"),
                (
                    "/v1/messages", [("x-api-key", secrets[1]), ("anthropic-version", "2023-06-01")],
                    #"{"model":"claude-stream-400-100","stream":true,"messages":[]}"#, "event: error\ndata: "
                ),
                ("/v1beta/models/gemini-stream-400-100:streamGenerateContent?alt=sse", [("x-goog-api-key", secrets[2])], #"{"contents":[]}"#, "data: {\"error\":"),
            ]
            for (index, (route, headers, body, ending)) in requests.enumerated() {
                let cancelledBefore = upstream.closedEarly
                let response = try await Self.send(gateway.url + route, headers: headers, body: body)
                #expect(response.status == 200, "\(route): \(response.body)")
                // The upstream's chunks say "part0 ", "part1 ", …
                let parts = (0..<100).filter { response.body.contains("part\($0) ") }.count
                #expect(parts > 20 && parts < 90, "\(route): \(parts) chunks passed")
                // The last event is the dialect's error, naming the budget.
                let tail = response.body.suffix(400)
                #expect(tail.contains(ending) && tail.contains("budget of 100 tokens"), "\(route): \(tail)")
                #expect(index != 0 || tail.contains(#""code":"budget_exceeded""#), "\(tail)")
                // The gateway hung up on the upstream instead of letting it generate the rest.
                let hungUp = await eventually(timeout: .seconds(20)) { upstream.closedEarly > cancelledBefore }
                if !hungUp {
                    let metrics = (try? await TestHTTP.send(.GET, gateway.url + "/metrics", headers: Configs.auth))?.body ?? ""
                    let streams = metrics.split(separator: "\n").filter { $0.hasPrefix("llmproxy_streams_active") || $0.hasPrefix("llmproxy_upstream") }
                    Issue.record(
                        """
                        \(route): the gateway did not hang up: streams started \(upstream.streamsStarted), finished \(upstream.streamsFinished), \
                        cancelled \(upstream.streamsCancelled); \(upstream.connectionReport); sockets: \(upstream.socketReport); request \(response.headers["x-request-id"].first ?? "?"); \
                        gateway: \(streams.joined(separator: ", "))
                        """)
                }
                // What the stream generated was booked: the budget is spent.
                let again = try await Self.send(gateway.url + route, headers: headers, body: body)
                #expect(again.status == 429, "\(route): \(again.body)")
                #expect(again.body.contains("budget of 100 tokens per day cannot cover this request"), "\(route): \(again.body)")
            }
        }
    }

    @Test("address deny and allow lists, with the client address taken from X-Forwarded-For only through a trusted proxy")
    func addressLists() async throws {
        let denied = try await GatewayHarness.start(yaml: Self.mockConfig("security: {deny_ips: [127.0.0.0/8]}"))
        let refused = try await Self.send("\(denied.url)/v1/chat/completions")
        #expect(refused.status == 403)
        #expect((refused.json["error"] as? [String: Any])?["code"] as? String == "ip_denied")
        #expect(try await TestHTTP.send(.GET, "\(denied.url)/health").status == 200)
        await denied.stop()

        let allowed = try await GatewayHarness.start(
            yaml: Self.mockConfig("security: {allow_ips: [203.0.113.0/24]}\nserver: {trusted_proxies: [127.0.0.1]}"))
        #expect(try await Self.send("\(allowed.url)/v1/chat/completions").status == 403)
        let forwarded = Configs.auth + [("X-Forwarded-For", "203.0.113.9")]
        #expect(try await Self.send("\(allowed.url)/v1/chat/completions", headers: forwarded).status == 200)
        let outside = Configs.auth + [("X-Forwarded-For", "198.51.100.1")]
        #expect(try await Self.send("\(allowed.url)/v1/chat/completions", headers: outside).status == 403)
        await allowed.stop()

        // Without the proxy trusted, X-Forwarded-For names nobody.
        let untrusted = try await GatewayHarness.start(yaml: Self.mockConfig("security: {allow_ips: [203.0.113.0/24]}"))
        #expect(try await Self.send("\(untrusted.url)/v1/chat/completions", headers: forwarded).status == 403)
        await untrusted.stop()
    }

    @Test("shedding: past max_in_flight new requests get 503 with Retry-After while the admitted ones are in flight, and health keeps answering")
    func shedding() async throws {
        let upstream = MockUpstream(name: "held", requiredKey: "upstream-key-held")
        try await upstream.start()
        let gateway = try await GatewayHarness.start(yaml: Self.heldConfig(upstream, "shedding: {max_in_flight: 4, retry_after: 2}"))
        let url = "\(gateway.url)/v1/chat/completions"
        let shedSoFar = Counter()
        let (responses, held) = try await Self.heldBurst(40, holding: 4, upstream: upstream) { _ in
            let response = try await Self.send(url, body: Self.held)
            if response.status == 503 {
                shedSoFar.add()
                // Health keeps answering while the gateway is full.
                if shedSoFar.value == 36 { #expect(try await TestHTTP.send(.GET, "\(gateway.url)/health").status == 200) }
            }
            return response
        }
        // Every refusal came while the admitted four were held upstream: at once, not queued.
        #expect(held)
        let admitted = responses.filter { $0.status == 200 }
        let shed = responses.filter { $0.status == 503 }
        #expect(admitted.count == 4)
        #expect(shed.count == 36)
        for response in shed {
            #expect(response.headers["retry-after"].first == "2")
            #expect(response.body.contains(#""code":"overloaded""#), "\(response.body)")
        }
        upstream.release()
        #expect(try await Self.send(url, body: Self.held).status == 200)
        await gateway.stop()
        await upstream.stop()
    }

    @Test("CORS: a preflight is answered before authentication for listed origins, refused as JSON for others; answers carry the grant and nosniff")
    func cors() async throws {
        let gateway = try await GatewayHarness.start(yaml: Self.mockConfig("security: {cors_origins: [\"https://app.example\"]}"))
        let preflight = try await TestHTTP.send(
            .OPTIONS, "\(gateway.url)/v1/chat/completions",
            headers: [
                ("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "authorization, content-type, x-stainless-os"),
            ])
        #expect(preflight.status == 204)
        #expect(preflight.headers["access-control-allow-origin"].first == "https://app.example")
        #expect(preflight.headers["access-control-allow-headers"].first == "authorization, content-type, x-stainless-os")
        #expect(preflight.headers["access-control-allow-methods"].first?.contains("POST") == true)
        let other = try await TestHTTP.send(
            .OPTIONS, "\(gateway.url)/v1/messages", headers: [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")])
        #expect(other.status == 403)
        #expect(other.headers["access-control-allow-origin"].isEmpty)
        #expect((other.json["error"] as? [String: Any])?["type"] as? String == "permission_error")
        let real = try await Self.send("\(gateway.url)/v1/chat/completions", headers: Configs.auth + [("Origin", "https://app.example")])
        #expect(real.status == 200)
        #expect(real.headers["access-control-allow-origin"].first == "https://app.example")
        #expect(real.headers["access-control-expose-headers"].first?.contains("X-RateLimit-Remaining") == true)
        #expect(real.headers["x-content-type-options"].first == "nosniff")
        let foreign = try await Self.send("\(gateway.url)/v1/chat/completions", headers: Configs.auth + [("Origin", "https://evil.example")])
        #expect(foreign.status == 200 && foreign.headers["access-control-allow-origin"].isEmpty)
        await gateway.stop()
    }
}
