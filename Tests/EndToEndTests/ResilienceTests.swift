import Foundation
import HTTPTypes
import PostgresHarness
import Testing

/// Retries, failover, cool-downs, the circuit breaker and fallback chains against mock
/// upstreams with injected faults (``MockUpstream/inject(_:)``): what the client sees, what
/// each upstream received, and what `/health` and `/metrics` say.
@Suite("Resilience: retries, breaker, fallback")
struct ResilienceTests {
    static let chat = #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#
    static let anthropicHeaders = [("anthropic-version", "2023-06-01"), ("x-api-key", Configs.clientKey)]

    /// Two OpenAI-type providers for `gpt-4o` (one per upstream), with `extra` appended.
    /// `weightA`: a's weight against b's 1 (1000: a is the first choice in all but a
    /// thousandth of requests, so a test can count on it).
    static func twoProviders(_ a: MockUpstream, _ b: MockUpstream, weightA: Double = 1, extra: String = "") -> String {
        """
        auth:
          keys: ["\(Configs.clientKey)"]
        upstream:
          first_byte_timeout: 10
        providers:
          - {name: a, type: openai, base_url: "\(a.baseURL)/v1", api_key: \(a.requiredKey), weight: \(weightA), models: [gpt-4o], discover_models: false}
          - {name: b, type: openai, base_url: "\(b.baseURL)/v1", api_key: \(b.requiredKey), models: [gpt-4o], discover_models: false}
        \(extra)
        """
    }

    static func endpoint(_ id: String, in gateway: GatewayHarness) async throws -> [String: Any]? {
        let health = try await TestHTTP.send(.GET, "\(gateway.url)/health", headers: Configs.auth)
        let upstreams = health.json["upstreams"] as? [[String: Any]] ?? []
        return upstreams.flatMap { $0["endpoints"] as? [[String: Any]] ?? [] }.first { $0["id"] as? String == id }
    }

    @Test("an endpoint dying mid-load (502s, then its breaker opens) with another healthy: no client sees a failure")
    func dyingEndpoint() async throws {
        try await withGateway(upstreams: ["a", "b"], yaml: { Self.twoProviders($0["a"]!, $0["b"]!) }) { gateway, upstreams in
            let a = upstreams["a"]!, b = upstreams["b"]!
            var seen: [Int] = []
            try await withThrowingTaskGroup(of: [Int].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var statuses: [Int] = []
                        for index in 0..<15 {
                            // A quarter of the way in, `a` starts failing every request.
                            if worker == 0, index == 4 { a.inject(.init(status: 502)) }
                            let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: Self.chat)
                            statuses.append(response.status)
                        }
                        return statuses
                    }
                }
                for try await statuses in group { seen += statuses }
            }
            #expect(seen.count == 60)
            #expect(seen.allSatisfy { $0 == 200 }, "\(seen)")
            #expect(a.faulted >= 1, "a failed some requests")
            #expect(b.served >= 40)
            // Three failures in a row (one per request) opened a's breaker: it gets no more.
            let endpoint = try await Self.endpoint("a#0", in: gateway)
            #expect(endpoint?["breaker"] as? String == "open", "\(String(describing: endpoint))")
            #expect(endpoint?["healthy"] as? Bool == false)
            let faultedBefore = a.faulted
            for _ in 0..<5 {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: Self.chat)
                #expect(response.status == 200)
            }
            #expect(a.faulted == faultedBefore, "an open breaker sends nothing")
            let metrics = try await TestHTTP.send(.GET, "\(gateway.url)/metrics", headers: Configs.auth).body
            #expect(metrics.contains(#"llmproxy_upstream_retries_total{outcome="502"}"#))
            #expect(metrics.contains(#"llmproxy_breaker_transitions_total{endpoint="a#0",to="open"}"#))
            #expect(metrics.contains(#"llmproxy_breaker_state{endpoint="a#0"} 2"#))
        }
    }

    @Test("a 429 storm with Retry-After: the key cools down and traffic goes to the other; alone, a short wait is waited out")
    func rateLimitStorm() async throws {
        try await withGateway(upstreams: ["a", "b"], yaml: { Self.twoProviders($0["a"]!, $0["b"]!, weightA: 1000) }) { gateway, upstreams in
            let a = upstreams["a"]!, b = upstreams["b"]!
            a.inject(.init(status: 429, retryAfter: 30))
            for _ in 0..<10 {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: Self.chat)
                #expect(response.status == 200)
            }
            // One request learnt the limit; the cool-down kept the rest away from a, the
            // first choice by weight.
            #expect(a.faulted == 1)
            #expect(b.served >= 9)
            let endpoint = try await Self.endpoint("a#0", in: gateway)
            #expect((endpoint?["cooling_down_s"] as? Double ?? 0) > 1, "\(String(describing: endpoint))")
            #expect(endpoint?["breaker"] as? String == "closed", "a 429 is not a failure of the endpoint")
        }

        // One endpoint: a Retry-After of 1 s is waited out, and the client never sees the 429.
        try await withGateway(upstreams: ["solo"], yaml: { Configs.threeProviders($0["solo"]!) }) { gateway, upstreams in
            let solo = upstreams["solo"]!
            solo.inject(.init(status: 429, retryAfter: 1, remaining: 1))
            let started = ContinuousClock.now
            let response = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            #expect(response.status == 200)
            #expect(ContinuousClock.now - started >= .milliseconds(900), "the gateway waited for the Retry-After")
            #expect(solo.faulted == 1)
            // A wait longer than max_retry_after (5 s) reaches the client as the upstream sent it.
            solo.inject(.init(status: 429, retryAfter: 60, remaining: 1))
            let refused = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            #expect(refused.status == 429)
            #expect(refused.headers["retry-after"].first == "60")
        }
    }

    @Test("529 overloaded (Anthropic) is retried after a back-off and answered; every endpoint refusing connections is a 503 in the dialect")
    func overloadAndAllDown() async throws {
        try await withGateway(upstreams: ["an"], yaml: { Configs.threeProviders($0["an"]!) }) { gateway, upstreams in
            let upstream = upstreams["an"]!
            upstream.inject(.init(status: 529, remaining: 2))
            let response = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/messages", headers: Self.anthropicHeaders, body: #"{"model":"claude-3-haiku","max_tokens":5,"messages":[]}"#)
            #expect(response.status == 200, "\(response.body)")
            #expect(upstream.faulted == 2)
            #expect(response.headers["x-llmproxy-model"].first == "claude-3-haiku")
        }
        let first = try RefusingPort(), second = try RefusingPort()
        let gateway = try await GatewayHarness.start(
            yaml: """
                providers:
                  - {name: one, type: anthropic, base_url: "\(first.baseURL)", api_key: k1, models: [claude-x], discover_models: false, health_check_interval: 600}
                  - {name: two, type: anthropic, base_url: "\(second.baseURL)", api_key: k2, models: [claude-x], discover_models: false, health_check_interval: 600}
                """)
        // The active check (a TCP connect at start, then every 600 s) finds both down.
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let health = try await TestHTTP.send(.GET, "\(gateway.url)/health", headers: [])
            let endpoints = (health.json["upstreams"] as? [[String: Any]] ?? []).flatMap { $0["endpoints"] as? [[String: Any]] ?? [] }
            if endpoints.count == 2, endpoints.allSatisfy({ $0["active_check"] as? Bool == false }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let body = #"{"model":"claude-x","max_tokens":1,"messages":[]}"#
        let down = try await TestHTTP.send(.POST, "\(gateway.url)/v1/messages", headers: [("anthropic-version", "2023-06-01")], body: body)
        #expect(down.status == 503)
        #expect(down.json["type"] as? String == "error")
        #expect((down.json["error"] as? [String: Any])?["type"] as? String == "overloaded_error")
        // Retry-After: the time until the next check (not the 5 s said when nothing is known).
        #expect((60...600).contains(Int(down.headers["retry-after"].first ?? "") ?? 0), "\(down.headers)")
        await gateway.stop()
    }

    @Test("flapping upstream: the breaker opens, a half-open probe finds it well again, and it closes")
    func halfOpenProbe() async throws {
        let extra = """
            resilience:
              breaker: {consecutive_failures: 2, open_for: 1, probe_successes: 1}
            """
        try await withGateway(upstreams: ["a", "b"], yaml: { Self.twoProviders($0["a"]!, $0["b"]!, extra: extra) }) { gateway, upstreams in
            let a = upstreams["a"]!
            a.inject(.init(status: 500))
            // Until a has failed twice (a request's retries go to b, so clients see 200s).
            for _ in 0..<40 where a.faulted < 2 {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: Self.chat)
                #expect(response.status == 200)
            }
            // (Its state may already be half-open on a loaded machine: the transition counts.)
            let opened = try await TestHTTP.send(.GET, "\(gateway.url)/metrics", headers: Configs.auth).body
            #expect(opened.contains(#"llmproxy_breaker_transitions_total{endpoint="a#0",to="open"}"#))
            a.recover()
            try await Task.sleep(for: .milliseconds(1200))
            // After open_for, requests find a again (one probe, then closed).
            for _ in 0..<40 where a.served == 0 {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: Self.chat)
                #expect(response.status == 200)
            }
            #expect(a.served >= 1)
            #expect(try await Self.endpoint("a#0", in: gateway)?["breaker"] as? String == "closed")
            let metrics = try await TestHTTP.send(.GET, "\(gateway.url)/metrics", headers: Configs.auth).body
            #expect(metrics.contains(#"llmproxy_breaker_transitions_total{endpoint="a#0",to="half_open"}"#))
            #expect(metrics.contains(#"llmproxy_breaker_transitions_total{endpoint="a#0",to="closed"}"#))
        }
    }

    @Test("a fallback chain across providers: the Anthropic SDK asks for a Claude model that is overloaded and gets GPT's answer in Anthropic's shape")
    func fallbackWithSDK() async throws {
        try await withGateway(
            upstreams: ["an", "oa"],
            yaml: { upstreams in
                """
                auth:
                  keys: ["\(Configs.clientKey)"]
                providers:
                  - {name: claude, type: anthropic, base_url: "\(upstreams["an"]!.baseURL)", api_key: \(upstreams["an"]!.requiredKey), models: [claude-sonnet-4-5], discover_models: false}
                  - {name: gpt, type: openai, base_url: "\(upstreams["oa"]!.baseURL)/v1", api_key: \(upstreams["oa"]!.requiredKey), models: [gpt-4.1, big-context, context-too-long], discover_models: false}
                routing:
                  fallbacks: {claude-sonnet-4-5: [gpt-4.1], context-too-long: [big-context]}
                  fallback_on_context_length: true
                """
            }
        ) { gateway, upstreams in
            upstreams["an"]!.inject(.init(status: 529))
            let script = """
                import sys, anthropic
                client = anthropic.Anthropic(api_key=sys.argv[2], base_url=sys.argv[1], max_retries=0, timeout=30)
                raw = client.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
                message = raw.parse()
                assert raw.headers.get("x-llmproxy-model") == "gpt-4.1", raw.headers
                assert message.type == "message" and message.role == "assistant", message
                assert message.content and message.content[0].type == "text", message
                print("OK", message.content[0].text)
                """
            try await PostgresServer.runAside("/usr/bin/env", ["python3", "-c", script, gateway.url, Configs.clientKey])
            #expect(upstreams["an"]!.faulted >= 1)
            let sent = upstreams["oa"]!.received.filter { $0.path == "/v1/chat/completions" }
            #expect(sent.count == 1)
            #expect(sent.first?.body.contains(#""model":"gpt-4.1""#) == true, "the fallback's own model name went upstream")

            // A context-length 400 moves on to the model with the larger window.
            let response = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"context-too-long","messages":[]}"#)
            #expect(response.status == 200, "\(response.body)")
            #expect(response.headers["x-llmproxy-model"].first == "big-context")
        }
    }

    @Test("an upstream that resets a written request: not retried for a plain POST, retried elsewhere when the client sent Idempotency-Key")
    func idempotency() async throws {
        let extra = """
            resilience:
              breaker: {consecutive_failures: 1000}
            """
        try await withGateway(upstreams: ["a", "b"], yaml: { Self.twoProviders($0["a"]!, $0["b"]!, weightA: 1000, extra: extra) }) { gateway, upstreams in
            let a = upstreams["a"]!
            // a reads each request whole, then drops the connection unanswered.
            a.inject(.init(status: 0))
            var plain: [Int] = []
            var keyed: [Int] = []
            for index in 0..<6 {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: Self.chat)
                plain.append(response.status)
                let retried = try await TestHTTP.send(
                    .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth + [("Idempotency-Key", "k-\(index)")], body: Self.chat)
                keyed.append(retried.status)
            }
            #expect(keyed.allSatisfy { $0 == 200 }, "\(keyed)")
            #expect(plain.filter { $0 == 502 }.count >= 5, "a POST that reached the upstream is not sent again: \(plain)")
            #expect(upstreams["b"]!.served >= 6)
        }
    }

    @Test("latency balancing: with one upstream answering 300 ms slower, nearly every request goes to the fast one; weighted splits them")
    func latencyBalancing() async throws {
        for balancing in ["latency", "weighted"] {
            try await withGateway(upstreams: ["a", "b"], yaml: { Self.twoProviders($0["a"]!, $0["b"]!, extra: "routing: {balancing: \(balancing)}") }) {
                gateway, upstreams in
                let a = upstreams["a"]!, b = upstreams["b"]!
                a.headDelayMs.store(300, ordering: .relaxed)
                for _ in 0..<30 {
                    let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: Self.chat)
                    #expect(response.status == 200)
                }
                if balancing == "latency" {
                    // Each is measured once (or twice: an unmeasured endpoint costs least), then
                    // the pair drawn is always both, and the faster wins.
                    #expect(a.served <= 3, "slow a served \(a.served) of 30")
                    #expect(b.served >= 27)
                } else {
                    #expect(a.served >= 5 && b.served >= 5, "weighted: a \(a.served), b \(b.served)")
                }
            }
        }
    }

    @Test("prompt-cache affinity: requests sharing a long system prompt stay on one upstream; when it fails they move, and a session header pins its own")
    func affinity() async throws {
        try await withGateway(upstreams: ["a", "b"], yaml: { Self.twoProviders($0["a"]!, $0["b"]!, extra: "routing: {affinity: prefix}") }) { gateway, upstreams in
            let a = upstreams["a"]!, b = upstreams["b"]!
            let system = String(repeating: "You answer in French, briefly and politely. ", count: 40)
            func body(_ question: Int) -> String {
                #"{"model":"gpt-4o","messages":[{"role":"system","content":"\#(system)"},{"role":"user","content":"question \#(question)"}]}"#
            }
            for question in 0..<12 {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: body(question))
                #expect(response.status == 200)
            }
            #expect(Set([a.served, b.served]) == [0, 12], "a \(a.served), b \(b.served): one prefix, one upstream")
            let (sticky, other) = a.served == 12 ? (a, b) : (b, a)
            // The chosen one fails: the requests go to the other (retried there at first, then
            // directly once its breaker opened), and none fails.
            sticky.inject(.init(status: 502))
            for question in 12..<20 {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: body(question))
                #expect(response.status == 200)
            }
            #expect(other.served == 8)
            #expect(sticky.faulted <= 3, "the breaker took it out after three failures")
            sticky.recover()
            // A session header pins requests whatever their bodies (here: to the healthy one, or
            // to its own next-best while the breaker keeps the other out).
            var servedBy: Set<String> = []
            for question in 0..<6 {
                let response = try await TestHTTP.send(
                    .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth + [("x-llmproxy-session", "conversation-42")],
                    body: #"{"model":"gpt-4o","messages":[{"role":"user","content":"different \#(question)"}]}"#)
                #expect(response.status == 200)
                servedBy.insert(response.headers["x-upstream-name"].first ?? "?")
            }
            #expect(servedBy.count == 1, "\(servedBy)")
            // The session key is the gateway's: it never reaches an upstream.
            #expect((a.received + b.received).allSatisfy { $0.headers[HTTPField.Name("x-llmproxy-session")!] == nil })
        }
    }
}
