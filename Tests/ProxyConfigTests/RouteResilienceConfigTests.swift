import Testing

@testable import ProxyConfig

@Suite("Per-route resilience configuration")
struct RouteResilienceConfigTests {
    @Test("providers[].retries and providers[].fallbacks read, round-trip through the effective YAML, and their problems name the key")
    func reads() throws {
        let config = try GatewayConfig.parse(
            yaml: """
                providers:
                  - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", retries: {max_attempts: 2, total_timeout: 12.5}, fallbacks: [claude-sonnet-4-5, gemini-2.5-pro]}
                """)
        #expect(config.providers[0].retries == .init(maxAttempts: 2, totalTimeout: 12.5))
        #expect(config.providers[0].fallbacks == ["claude-sonnet-4-5", "gemini-2.5-pro"])
        #expect(config.validate().isEmpty)
        let again = try GatewayConfig.parse(yaml: config.redactedYAML())
        #expect(again.providers[0].retries == config.providers[0].retries && again.providers[0].fallbacks == config.providers[0].fallbacks)
        #expect(RetryConfig().applying(config.providers[0].retries).maxAttempts == 2)
        #expect(RetryConfig().applying(nil) == RetryConfig())

        let bad = configProblems(
            """
            providers:
              - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", retries: {max_attempts: 0, total_timeout: -1, tries: 3}, fallbacks: [a, b, c, d, e, f]}
            """
        ).joined(separator: "\n")
        #expect(bad.contains("providers[0].retries.tries"), "\(bad)")
        let ranges = configProblems(
            """
            providers:
              - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", retries: {max_attempts: 0, total_timeout: -1}, fallbacks: [a, b, c, d, e, f]}
            """
        ).joined(separator: "\n")
        for key in ["providers[0].retries.max_attempts", "providers[0].retries.total_timeout", "providers[0].fallbacks"] {
            #expect(ranges.contains(key), "\(key) not named in \(ranges)")
        }
    }
}
