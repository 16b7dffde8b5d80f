import Testing

@testable import ProxyConfig

@Suite("Tunnel configuration")
struct TunnelConfigTests {
    static let key = String(repeating: "0a", count: 32)

    func problems(_ yaml: String, environment: [String: String] = [:], exists: Bool = true) -> [String] {
        configProblems(yaml, environment: environment, fileExists: exists)
    }

    @Test("tunnel: every key read; the xllm variables and LLMPROXY_TUNNEL_KEY honoured; the key redacted")
    func reads() throws {
        var config = try GatewayConfig.parse(
            yaml: """
                tunnel: {enabled: true, host: 127.0.0.1, port: 6000, key: "\(Self.key)", allow_hosts: ["api.example.com", "10.0.0.5:8000"],
                  allow_private_networks: true, max_document_bytes: 2048, max_response_bytes: 4096, read_timeout: 5, total_timeout: 60,
                  idle_timeout: 30, replay_window: 10, max_streams: 8, max_connections: 32}
                """)
        #expect(config.tunnel.enabled && config.tunnel.host == "127.0.0.1" && config.tunnel.port == 6000)
        #expect(config.tunnel.allowHosts == ["api.example.com", "10.0.0.5:8000"] && config.tunnel.allowPrivateNetworks)
        #expect(config.tunnel.maxStreams == 8 && config.tunnel.replayWindow == 10)
        #expect(config.validate().isEmpty)
        #expect(!config.redactedYAML().contains(Self.key))
        #expect(config.redactedYAML().contains("<redacted>"))
        try config.applyEnvironment(["XLLM_PROXY_HOST": "0.0.0.0", "XLLM_PROXY_PORT": "50052", "LLMPROXY_TUNNEL_KEY": String(repeating: "bb", count: 32)])
        #expect(config.tunnel.host == "0.0.0.0" && config.tunnel.port == 50052 && config.tunnel.key == String(repeating: "bb", count: 32))
        #expect(GatewayConfig().tunnel.port == 50051 && GatewayConfig().tunnel.host == "0.0.0.0" && !GatewayConfig().tunnel.enabled)
    }

    @Test("tunnel problems name the key and the fix")
    func problems() {
        #expect(problems("tunnel: {enabled: true}").contains { $0.contains("tunnel.key") && $0.contains("keygen") })
        #expect(problems("tunnel: {enabled: true, key: abc}").contains { $0.contains("tunnel.key") && $0.contains("32-byte") })
        #expect(problems("tunnel: {enabled: true, key_file: /nope}", exists: false).contains { $0.contains("tunnel.key_file") && $0.contains("keygen") })
        #expect(problems("tunnel: {enabled: true, key: \"\(Self.key)\", allow_hosts: [\"https://a/b\"]}").contains { $0.contains("tunnel.allow_hosts[0]") })
        #expect(problems("tunnel: {enabled: true, key: \"\(Self.key)\", max_streams: 0}").contains { $0.contains("tunnel.max_streams") })
        #expect(problems("tunnel: {enabled: true, key: \"\(Self.key)\", kee: 1}").contains { $0.contains("did you mean 'key'") })
        #expect(problems("tunnel: {key: bad}").isEmpty, "a disabled tunnel is not checked")
        #expect(problems("", environment: ["XLLM_PROXY_PORT": "99999"]).contains { $0.contains("XLLM_PROXY_PORT") })
    }
}
