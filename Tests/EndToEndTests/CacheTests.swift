import Foundation
import PostgresHarness
import Store
import Testing

/// The exact response cache through the running gateway and a mock upstream that counts what
/// it serves: hits and misses in the three dialects (translated ones too), streams replayed
/// byte for byte, `Cache-Control`, expiry, the memory bound, scopes and analytics.
@Suite("Exact response cache")
struct CacheTests {
    static func chat(_ content: String, model: String = "gpt-4o-mini", stream: Bool = false) -> String {
        #"{"model":"\#(model)","stream":\#(stream),"messages":[{"role":"user","content":"\#(content)"}]}"#
    }

    static func cacheHeader(_ response: TestResponse) -> String? { response.headers["x-llmproxy-cache"].first }

    @Test("miss then hit in each dialect, translated or not; streams replayed byte for byte; no-cache and no-store honoured")
    func hitsAndMisses() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "cache: {enabled: true}") }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            let anthropic = [("x-api-key", Configs.clientKey), ("anthropic-version", "2023-06-01")]
            let requests: [(String, [(String, String)], String)] = [
                ("/v1/chat/completions", Configs.auth, Self.chat("hello")),
                ("/v1/chat/completions", Configs.auth, Self.chat("stream please", model: "stream-6-20", stream: true)),
                // An Anthropic client on an OpenAI-type upstream: the translated answer is kept.
                ("/v1/messages", anthropic, #"{"model":"gpt-4o-mini","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}"#),
                ("/v1/messages", anthropic, #"{"model":"claude-stream-5-20","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#),
                (
                    "/v1beta/models/gemini-stream-4-20:streamGenerateContent?alt=sse", [("x-goog-api-key", Configs.clientKey)],
                    #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#
                ),
            ]
            for (path, headers, body) in requests {
                let servedBefore = upstream.served
                let first = try await TestHTTP.send(.POST, gateway.url + path, headers: headers, body: body)
                #expect(first.status == 200, "\(path): \(first.body)")
                #expect(Self.cacheHeader(first) == "miss", "\(path)")
                #expect(upstream.served == servedBefore + 1)
                let second = try await TestHTTP.send(.POST, gateway.url + path, headers: headers, body: body)
                #expect(second.status == 200)
                #expect(Self.cacheHeader(second) == "hit", "\(path)")
                #expect(upstream.served == servedBefore + 1, "\(path): the upstream was asked again")
                #expect(!first.body.isEmpty && second.body == first.body, "\(path): the replay differs")
                #expect(second.headers["content-type"] == first.headers["content-type"])
                #expect(second.headers["age"].first.flatMap(Int.init) != nil)
                #expect(second.headers["x-request-id"].first != first.headers["x-request-id"].first)
            }
            // The same request with its JSON reordered and spaced is the same request.
            let reordered = try await TestHTTP.send(
                .POST, gateway.url + "/v1/chat/completions", headers: Configs.auth,
                body: #"{ "messages": [ {"role": "user", "content": "hello"} ], "stream": false, "model": "gpt-4o-mini" }"#)
            #expect(Self.cacheHeader(reordered) == "hit")

            // no-cache: a fresh answer (the upstream is asked), kept for the next request.
            var served = upstream.served
            let fresh = try await TestHTTP.send(
                .POST, gateway.url + "/v1/chat/completions", headers: Configs.auth + [("Cache-Control", "no-cache")], body: Self.chat("hello"))
            #expect(Self.cacheHeader(fresh) == "miss" && upstream.served == served + 1)
            // no-store: neither read nor kept.
            served = upstream.served
            let private1 = try await TestHTTP.send(
                .POST, gateway.url + "/v1/chat/completions", headers: Configs.auth + [("Cache-Control", "no-store")], body: Self.chat("secret"))
            #expect(Self.cacheHeader(private1) == "bypass" && upstream.served == served + 1)
            let private2 = try await TestHTTP.send(.POST, gateway.url + "/v1/chat/completions", headers: Configs.auth, body: Self.chat("secret"))
            #expect(Self.cacheHeader(private2) == "miss" && upstream.served == served + 2)
            // Errors are not kept.
            for _ in 0..<2 {
                let failed = try await TestHTTP.send(.POST, gateway.url + "/v1/chat/completions", headers: Configs.auth, body: Self.chat("x", model: "fail-500"))
                #expect(failed.status == 500 && Self.cacheHeader(failed) == "miss")
            }
            // The counters say what happened.
            let metrics = try await TestHTTP.send(.GET, gateway.url + "/metrics").body
            #expect(metrics.contains(#"llmproxy_cache_requests_total{result="hit"} 6"#), "\(metrics.split(separator: "\n").filter { $0.contains("cache") })")
            #expect(metrics.contains(#"llmproxy_cache_requests_total{result="bypass"} 1"#))
        }
    }

    @Test("answers expire after their time to live; the memory bound keeps the most recently used")
    func expiryAndBound() async throws {
        let extra = """
            cache:
              enabled: true
              max_bytes: 4096
              max_entry_bytes: 2048
              models: {"stream-*": {ttl: 1}}
            """
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: extra) }) { gateway, upstreams in
            let url = gateway.url + "/v1/chat/completions"
            let short = Self.chat("soon stale", model: "stream-3-10", stream: true)
            #expect(Self.cacheHeader(try await TestHTTP.send(.POST, url, headers: Configs.auth, body: short)) == "miss")
            // Stored before the answer reached this client: stale 1.5 s later, however slow the machine.
            try await Task.sleep(for: .milliseconds(1500))
            #expect(Self.cacheHeader(try await TestHTTP.send(.POST, url, headers: Configs.auth, body: short)) == "miss")

            // Ten different answers of some 600 bytes each with their headers: no more than
            // 4 KiB is kept, the latest first.
            for index in 0..<10 {
                let response = try await TestHTTP.send(.POST, url, headers: Configs.auth, body: Self.chat("question \(index)"))
                #expect(Self.cacheHeader(response) == "miss")
            }
            #expect(Self.cacheHeader(try await TestHTTP.send(.POST, url, headers: Configs.auth, body: Self.chat("question 9"))) == "hit")
            #expect(Self.cacheHeader(try await TestHTTP.send(.POST, url, headers: Configs.auth, body: Self.chat("question 0"))) == "miss")
            let metrics = try await TestHTTP.send(.GET, gateway.url + "/metrics").body
            let bytes = metrics.split(separator: "\n").first { $0.hasPrefix("llmproxy_cache_bytes ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            let entries = metrics.split(separator: "\n").first { $0.hasPrefix("llmproxy_cache_entries ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            #expect(bytes.map { $0 > 0 && $0 <= 4096 } == true, "\(String(describing: bytes))")
            #expect(entries.map { $0 >= 2 && $0 < 10 } == true, "\(String(describing: entries))")
            _ = upstreams
        }
    }

    @Test("scopes: owner shares between one user's keys and never with another's; key keeps each key apart; hits cost nothing in analytics")
    func scopes() async throws {
        let path = ManagedKeyTests.sqlitePath()
        let store = try await Store.openSQLite(path: path, logger: ManagedKeyTests.quiet)
        let (alice1, alice1Secret) = KeyIssuer.issue(username: "alice", name: "one", expiresAt: nil, limits: KeyLimits(), now: WallClock.nowMs())
        let (alice2, alice2Secret) = KeyIssuer.issue(username: "alice", name: "two", expiresAt: nil, limits: KeyLimits(), now: WallClock.nowMs())
        let (bob, bobSecret) = KeyIssuer.issue(username: "bob", name: nil, expiresAt: nil, limits: KeyLimits(), now: WallClock.nowMs())
        for key in [alice1, alice2, bob] { try await store.insertKey(key) }
        func send(_ gateway: GatewayHarness, _ secret: String, _ content: String) async throws -> String? {
            let response = try await TestHTTP.send(.POST, gateway.url + "/v1/chat/completions", headers: ManagedKeyTests.bearer(secret), body: Self.chat(content))
            #expect(response.status == 200, "\(response.body)")
            return Self.cacheHeader(response)
        }
        for scope in ["owner", "key", "global"] {
            let extra = "database: {path: \(path)}\npricing: {models: {gpt-4o-mini: {input: 1, output: 2}}}\ncache: {enabled: true, scope: \(scope)}"
            try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: extra) }) { gateway, _ in
                let question = "what is \(scope)?"
                #expect(try await send(gateway, alice1Secret, question) == "miss")
                #expect(try await send(gateway, alice1Secret, question) == "hit")
                switch scope {
                case "owner":
                    #expect(try await send(gateway, alice2Secret, question) == "hit", "one owner's keys share")
                    #expect(try await send(gateway, bobSecret, question) == "miss", "leaked to another owner")
                case "key":
                    #expect(try await send(gateway, alice2Secret, question) == "miss", "leaked to another key")
                    #expect(try await send(gateway, bobSecret, question) == "miss", "leaked to another owner")
                default:
                    #expect(try await send(gateway, bobSecret, question) == "hit")
                }
                // A revoked key gets nothing, cached or not.
                if scope == "global" {
                    try await store.revokeKey(id: alice2.id, at: WallClock.nowMs())
                    let refused = try await ManagedKeyTests.within(.seconds(6)) {
                        try await TestHTTP.send(.POST, gateway.url + "/v1/chat/completions", headers: ManagedKeyTests.bearer(alice2Secret), body: Self.chat(question))
                            .status == 401
                    }
                    #expect(refused != nil)
                }
            }
        }
        // Every request left an event; the hits came from the cache and cost nothing.
        let events = try await store.events(keyID: alice1.id, from: 0, to: Int64.max)
        let hits = events.filter { $0.upstream == "cache" }
        let misses = events.filter { $0.upstream != "cache" && $0.status == 200 }
        #expect(hits.count == 3 && misses.count == 3, "\(events.map { ($0.upstream ?? "-", $0.costUSD ?? -1) })")
        #expect(hits.allSatisfy { $0.costUSD == 0 && $0.totalTokens == 8 })
        #expect(misses.allSatisfy { ($0.costUSD ?? 0) > 0 })
        await store.close()
    }

    /// A counter's value in the gateway's `/metrics` (0 when absent).
    static func counter(_ name: String, at gateway: GatewayHarness) async throws -> Double {
        let metrics = try await TestHTTP.send(.GET, gateway.url + "/metrics").body
        return metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Waits (up to 30 s: a sync every two seconds, on a loaded machine) until `gateway`
    /// brought over at least `count` answers from the store.
    static func waitForAdopted(_ count: Double, at gateway: GatewayHarness) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if try await counter("llmproxy_cache_adopted_total", at: gateway) >= count { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    @Test("cache.store: an answer one instance made is a hit on another sharing PostgreSQL after a sync; a restarted instance on SQLite starts warm")
    func secondLevel() async throws {
        let upstream = MockUpstream(name: "shared", requiredKey: "upstream-key-shared")
        try await upstream.start()
        func yaml(database: String) -> String {
            """
            auth:
              keys: ["\(Configs.clientKey)"]
            providers:
              - {name: up, type: openai, base_url: "\(upstream.baseURL)/v1", api_key: \(upstream.requiredKey), models: ["m1", "stream-*"], discover_models: false}
            cache: {enabled: true, store: true}
            database: \(database)
            """
        }
        func ask(_ gateway: GatewayHarness, _ question: String, stream: Bool = false) async throws -> TestResponse {
            let response = try await TestHTTP.send(
                .POST, gateway.url + "/v1/chat/completions", headers: Configs.auth, body: Self.chat(question, model: stream ? "stream-3-10" : "m1", stream: stream))
            #expect(response.status == 200, "\(response.body)")
            return response
        }

        // Two instances on one PostgreSQL database.
        let databaseURL = try await PostgresServer.sharedDatabase()
        let first = try await GatewayHarness.start(yaml: yaml(database: #"{url: "\#(databaseURL)"}"#))
        let second = try await GatewayHarness.start(yaml: yaml(database: #"{url: "\#(databaseURL)"}"#))
        let made = try await ask(first, "shared question")
        let streamed = try await ask(first, "shared stream", stream: true)
        #expect(Self.cacheHeader(made) == "miss" && Self.cacheHeader(streamed) == "miss")
        let served = upstream.served
        #expect(try await Self.waitForAdopted(2, at: second), "the second instance never brought the answers over")
        let replayed = try await ask(second, "shared question")
        let replayedStream = try await ask(second, "shared stream", stream: true)
        #expect(Self.cacheHeader(replayed) == "hit" && Self.cacheHeader(replayedStream) == "hit")
        #expect(replayed.body == made.body && replayedStream.body == streamed.body, "the replay differs from the answer")
        #expect(upstream.served == served, "the upstream was asked again")
        // The first instance does not adopt its own answers back.
        #expect(try await Self.counter("llmproxy_cache_adopted_total", at: first) == 0)
        await first.stop()
        await second.stop()

        // One instance on SQLite, stopped and started again: its answers come back.
        let path = NSTemporaryDirectory() + "llmproxy-cache-\(UUID().uuidString)/llmproxy.sqlite"
        let before = try await GatewayHarness.start(yaml: yaml(database: "{path: \(path)}"))
        let answer = try await ask(before, "remember me")
        #expect(Self.cacheHeader(answer) == "miss")
        // Stopping writes what is still in the outbox.
        await before.stop()
        let after = try await GatewayHarness.start(yaml: yaml(database: "{path: \(path)}"))
        let servedBefore = upstream.served
        #expect(try await Self.waitForAdopted(1, at: after), "the restarted instance did not start warm")
        let remembered = try await ask(after, "remember me")
        #expect(Self.cacheHeader(remembered) == "hit" && remembered.body == answer.body && upstream.served == servedBefore)
        await after.stop()
        await upstream.stop()
    }
}
