import Foundation
import Testing

@Suite("Upstream failures become clear errors")
struct UpstreamFailureTests {
    @Test("an upstream 5xx reaches the client as the upstream sent it")
    func upstreamErrorPassesThrough() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, _ in
            let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"fail-500","messages":[]}"#)
            #expect(response.status == 500)
            #expect(response.body.contains("mock upstream failure"))
            #expect(response.headers["x-request-id"].count == 1)
        }
    }

    @Test("no response head within the first-byte timeout is a 504 in the client's dialect")
    func firstByteTimeout() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "routing:\n  aliases: {slow-claude: slow-head}\n") }) { gateway, _ in
            let openai = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"slow-head","messages":[]}"#)
            #expect(openai.status == 504)
            #expect((openai.json["error"] as? [String: Any])?["code"] as? String == "upstream_timeout")
        }
    }

    @Test("an upstream that stops answering is a 502, then a 503 with Retry-After once it is ejected")
    func unreachableUpstream() async throws {
        let upstream = MockUpstream(name: "gone", requiredKey: "upstream-key-gone")
        try await upstream.start()
        let gateway = try await GatewayHarness.start(
            yaml: """
                providers:
                  - {name: soon-gone, type: anthropic, base_url: "\(upstream.baseURL)", api_key: upstream-key-gone, discover_models: false}
                """)
        // The upstream stops answering: every connection is closed unanswered. It keeps its
        // port: once stopped, another test's server could take the port and answer instead.
        await upstream.closeConnectionsAtAccept(true)
        let headers = [("anthropic-version", "2023-06-01")]
        let body = #"{"model":"claude-3-haiku","max_tokens":1,"messages":[]}"#
        for _ in 0..<3 {
            let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/messages", headers: headers, body: body)
            #expect(response.status == 502)
            #expect(response.json["type"] as? String == "error")
            #expect((response.json["error"] as? [String: Any])?["type"] as? String == "api_error")
        }
        let ejected = try await TestHTTP.send(.POST, "\(gateway.url)/v1/messages", headers: headers, body: body)
        #expect(ejected.status == 503)
        // The breaker's open time (resilience.breaker.open_for, 10 s) is what is left to wait.
        #expect((1...10).contains(Int(ejected.headers["retry-after"].first ?? "") ?? 0))
        #expect((ejected.json["error"] as? [String: Any])?["type"] as? String == "overloaded_error")
        await gateway.stop()
        await upstream.stop()
    }

    @Test("an upstream the active health check cannot reach is reported in /health and not used")
    func activeHealthCheck() async throws {
        let dead = try RefusingPort()
        try await withGateway(
            upstreams: [],
            yaml: { _ in
                """
                providers:
                  - {name: dead, type: openai, base_url: "\(dead.baseURL)/v1", api_key: some-upstream-key, discover_models: false}
                """
            }
        ) { gateway, _ in
            var reported = false
            for _ in 0..<100 {
                let health = try await TestHTTP.send(.GET, "\(gateway.url)/health")
                let endpoint = ((health.json["upstreams"] as? [[String: Any]])?.first?["endpoints"] as? [[String: Any]])?.first
                if endpoint?["healthy"] as? Bool == false, endpoint?["last_error"] is String {
                    reported = true
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(reported)
            let ready = try await TestHTTP.send(.GET, "\(gateway.url)/health/ready")
            #expect(ready.status == 503)
            let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"gpt-4o","messages":[]}"#)
            #expect(response.status == 503)
            #expect((response.json["error"] as? [String: Any])?["code"] as? String == "upstream_unavailable")
        }
        withExtendedLifetime(dead) {}
    }

    @Test("a request whose endpoint refuses the connection is retried on another endpoint")
    func retryOnAnotherEndpoint() async throws {
        let dead = try RefusingPort()
        try await withGateway(yaml: { ups in
            """
            providers:
              - {name: dead, type: openai, base_url: "\(dead.baseURL)/v1", api_key: k-dead-key, models: [shared], discover_models: false}
              - {name: live, type: openai, base_url: "\(ups["primary"]!.baseURL)/v1", api_key: \(ups["primary"]!.requiredKey), models: [shared]}
            """
        }) { gateway, _ in
            for _ in 0..<10 {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"shared","messages":[]}"#)
                #expect(response.status == 200)
            }
        }
        withExtendedLifetime(dead) {}
    }
}
