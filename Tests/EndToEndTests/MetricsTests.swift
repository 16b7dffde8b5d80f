import Foundation
import Testing

@Suite("Prometheus metrics")
struct MetricsTests {
    @Test("/metrics counts requests by dialect and status class, bytes, latency, and endpoint health")
    func metrics() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, _ in
            for _ in 0..<3 {
                _ = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            }
            _ = try await TestHTTP.send(.POST, "\(gateway.url)/v1/messages", body: #"{"model":"claude-3"}"#)
            let response = try await TestHTTP.send(.GET, "\(gateway.url)/metrics")
            #expect(response.status == 200)
            #expect(response.headers["content-type"].first?.hasPrefix("text/plain") == true)
            let text = response.body
            #expect(text.contains(#"llmproxy_requests_total{dialect="openai",code="2xx"} 3"#))
            #expect(text.contains(#"llmproxy_requests_total{dialect="anthropic",code="4xx"} 1"#))
            #expect(text.contains("llmproxy_request_duration_seconds_count 4"))
            #expect(text.contains("llmproxy_upstream_first_byte_seconds_count 3"))
            #expect(text.contains(#"llmproxy_upstream_healthy{endpoint="oa#0"} 1"#))
            #expect(!text.contains(Configs.clientKey))
        }
    }

    @Test("requests, tokens and cost by route, provider and model; streams under way counted while they run")
    func byRoute() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, _ in
            for _ in 0..<2 {
                let answer = try await TestHTTP.send(
                    .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#)
                #expect(answer.status == 200)
            }
            func lines(_ prefix: String) async throws -> [Substring] {
                try await TestHTTP.send(.GET, "\(gateway.url)/metrics").body.split(separator: "\n").filter { $0.hasPrefix(prefix) }
            }
            func value(_ line: Substring?) -> Double? { line.flatMap { Double($0.split(separator: " ").last ?? "") } }
            let routed = try await lines("llmproxy_route_requests_total{")
            let requests = routed.first { $0.contains(#"provider="oa",model="gpt-4o-mini",code="2xx""#) }
            #expect(value(requests) == 2, "\(routed)")
            let tokens = try await lines("llmproxy_tokens_total{").filter { $0.contains(#"provider="oa",model="gpt-4o-mini""#) }
            #expect(value(tokens.first { $0.contains(#"type="input""#) }) == 10, "\(tokens)")
            #expect(value(tokens.first { $0.contains(#"type="output""#) }) == 6, "\(tokens)")
            let cost = try await lines("llmproxy_cost_usd_total{").first { $0.contains(#"model="gpt-4o-mini""#) }
            #expect((value(cost) ?? 0) > 0, "\(String(describing: cost))")

            // A stream that runs for 20 s: counted while it runs, not once its client left.
            let stream = Task {
                try await TestHTTP.send(
                    .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth,
                    body: #"{"model":"long-stream","stream":true,"messages":[{"role":"user","content":"go on"}]}"#)
            }
            var active: Double?
            for _ in 0..<100 where active != 1 {
                active = value(try await lines("llmproxy_streams_active").first)
                if active != 1 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(active == 1)
            stream.cancel()
            for _ in 0..<100 where active != 0 {
                active = value(try await lines("llmproxy_streams_active").first)
                if active != 0 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(active == 0)
        }
    }

    @Test("metrics can be turned off")
    func off() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "server:\n  metrics: false") }) { gateway, _ in
            let response = try await TestHTTP.send(.GET, "\(gateway.url)/metrics", headers: Configs.auth)
            #expect(response.status == 404)
        }
    }
}
