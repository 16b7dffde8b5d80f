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

    @Test("metrics can be turned off")
    func off() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "server:\n  metrics: false") }) { gateway, _ in
            let response = try await TestHTTP.send(.GET, "\(gateway.url)/metrics", headers: Configs.auth)
            #expect(response.status == 404)
        }
    }
}
