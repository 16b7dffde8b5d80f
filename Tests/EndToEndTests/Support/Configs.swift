/// The configuration most end-to-end tests share: one provider of each type, all served by
/// the same mock upstream, and one client key.
enum Configs {
    static let clientKey = "client-key-123456"

    static func threeProviders(_ upstream: MockUpstream, extra: String = "", idleTimeout: Double = 60, firstByteTimeout: Double = 5) -> String {
        """
        auth:
          keys: ["\(clientKey)"]
        upstream:
          first_byte_timeout: \(firstByteTimeout)
          idle_timeout: \(idleTimeout)
        providers:
          - name: oa
            type: openai
            base_url: \(upstream.baseURL)/v1
            api_key: \(upstream.requiredKey)
            models: ["gpt-4o-mini", "stream-*", "slow-head", "fail-500", "long-stream", "held"]
          - name: an
            type: anthropic
            base_url: \(upstream.baseURL)
            api_key: \(upstream.requiredKey)
          - name: gm
            type: gemini
            base_url: \(upstream.baseURL)
            api_key: \(upstream.requiredKey)
        \(extra)
        """
    }

    static let auth = [("Authorization", "Bearer \(clientKey)")]
}
