import Foundation
import Testing

@testable import ProxyConfig

@Suite("Loading configuration")
struct ConfigLoadingTests {
    @Test("a configuration written for the multi-provider seed loads as is")
    func seedConfig() throws {
        let yaml = """
            cert_file: "/certs/certificate.pem"
            private_key_file: "/certs/private-key.pem"
            auth_keys:
              - "client-api-key-1"
            health_check_interval: 45
            providers:
              - type: "openai"
                host: "openai.example.com"
                endpoint: "api.openai.com"
                port: 443
                tls: true
                weight: 1.0
                api_key: "sk-your-openai-api-key"
                health_check:
                  method: "GET"
                  path: "/v1/models"
                  body: "{}"
                  headers:
                    - "Content-Type: application/json"
              - type: "anthropic"
                host: "anthropic.example.com"
                endpoint: "api.anthropic.com"
                weight: 1.2
                api_key: "sk-ant-key"
              - type: "openai"
                host: "openai-backup.example.com/v2"
                endpoint: "localhost"
                port: 8000
                tls: false
                api_keys:
                  - key: "sk-key-1"
                    weight: 1.0
                  - key: "sk-key-2"
                    weight: 2.0
                auth_keys:
                  - "provider-specific-auth-key"
            """
        var config = try GatewayConfig.parse(yaml: yaml)
        config.assignProviderNames()
        #expect(config.validate().isEmpty)
        #expect(config.auth.keys == ["client-api-key-1"])
        #expect(config.providers.map(\.name) == ["openai", "anthropic", "openai-2"])
        #expect(config.providers[0].baseURL == "https://api.openai.com/v1")
        #expect(config.providers[0].healthCheck?.headers == ["Content-Type": "application/json"])
        #expect(config.providers[0].healthCheckInterval == 45)
        #expect(config.providers[1].baseURL == "https://api.anthropic.com")
        #expect(config.providers[2].baseURL == "http://localhost:8000/v1")
        #expect(config.providers[2].apiKeys == [WeightedKey(key: "sk-key-1", weight: 1), WeightedKey(key: "sk-key-2", weight: 2)])
        #expect(config.providers[2].authKeys == ["provider-specific-auth-key"])
        // The seed's certificate files turn HTTPS on with them.
        #expect(config.tls.mode == .https)
        #expect(config.tls.certFile == "/certs/certificate.pem" && config.tls.keyFile == "/certs/private-key.pem")
    }

    @Test("the commented example in examples/ is valid")
    func exampleFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("examples/llmproxy.yaml").path
        let loader = ConfigLoader(path: path, environment: [:])
        let config = try loader.load()
        #expect(!config.providers.isEmpty)
    }

    @Test("environment variables override the file, in our names and the seeds'")
    func environmentOverrides() throws {
        var config = try GatewayConfig.parse(yaml: "server: {port: 9000}\n")
        try config.applyEnvironment([
            "SERVER_ADDRESS": "0.0.0.0:7000",
            "API_KEYS": "key-one-1234, key-two-1234",
            "MAX_REQUEST_SIZE": "2048",
            "SERVER_TIMEOUT_SECONDS": "45",
            "LOG_LEVEL": "debug",
            "LLMPROXY_LOG_FORMAT": "text",
            "OPENAI_API_KEY": "sk-openai",
            "ANTHROPIC_API_KEY": "sk-ant",
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9999/",
            "GEMINI_API_KEY": "g-key",
            "TARGET_URLS": "http://127.0.0.1:8001,http://127.0.0.1:8002/v1|secret-key",
            "OLLAMA_BASE_URL": "http://127.0.0.1:12345",
            "VLLM_PORT": "8100",
            "LLAMA_CPP_PORT": "8081",
        ])
        #expect(config.server.host == "0.0.0.0")
        #expect(config.server.port == 7000)
        #expect(config.auth.keys == ["key-one-1234", "key-two-1234"])
        #expect(config.server.maxRequestSize == 2048)
        #expect(config.upstream.firstByteTimeout == 45)
        #expect(config.logging.level == .debug)
        #expect(config.logging.format == .text)
        #expect(config.providers.map(\.baseURL) == ["https://api.openai.com/v1", "http://127.0.0.1:9999", "https://generativelanguage.googleapis.com"])
        #expect(config.providers.map(\.apiKeys.first?.key) == ["sk-openai", "sk-ant", "g-key"])
        #expect(config.targetURLs == [TargetURL(url: "http://127.0.0.1:8001/v1", apiKey: nil), TargetURL(url: "http://127.0.0.1:8002/v1", apiKey: "secret-key")])
        #expect(config.discovery.ollamaURL == "http://127.0.0.1:12345")
        #expect(config.discovery.vllmURL == "http://127.0.0.1:8100")
        #expect(config.discovery.llamaCppURL == "http://127.0.0.1:8081")
        config.assignProviderNames()
        #expect(config.validate().isEmpty)
    }

    @Test("LLMPROXY_HOST and LLMPROXY_PORT win over SERVER_ADDRESS")
    func ownNamesWin() throws {
        var config = GatewayConfig()
        try config.applyEnvironment(["SERVER_ADDRESS": "0.0.0.0:7000", "LLMPROXY_HOST": "127.0.0.2", "LLMPROXY_PORT": "7100"])
        #expect(config.server.host == "127.0.0.2")
        #expect(config.server.port == 7100)
    }

    @Test("a bad environment value names the variable")
    func badEnvironment() {
        var config = GatewayConfig()
        #expect {
            try config.applyEnvironment(["LLMPROXY_PORT": "eighty", "SERVER_ADDRESS": "nowhere", "AUTH_ENABLED": "true", "LOG_LEVEL": "loud"])
        } throws: { error in
            let text = "\(error)"
            return text.contains("$LLMPROXY_PORT must be a whole number between -9223372036854775808 and 9223372036854775807 (got \"eighty\")")
                && text.contains("$SERVER_ADDRESS must look like HOST:PORT")
                && text.contains("$AUTH_ENABLED is true but no client key is configured")
                && text.contains("$LOG_LEVEL must be one of")
        }
    }

    @Test("AUTH_ENABLED=false turns client keys off, with a warning")
    func authDisabled() throws {
        var config = try GatewayConfig.parse(yaml: "auth: {keys: [some-key-1234]}")
        try config.applyEnvironment(["AUTH_ENABLED": "false"])
        #expect(config.auth.keys.isEmpty)
        #expect(config.warnings.contains { $0.contains("AUTH_ENABLED=false") })
    }

    @Test("the redacted configuration never contains a secret")
    func redaction() throws {
        var config = try GatewayConfig.parse(
            yaml: """
                auth: {keys: [client-secret-123]}
                providers:
                  - {type: openai, api_key: sk-upstream-secret, headers: {Authorization-Extra: header-secret, X-Org: visible-org}}
                  - type: anthropic
                    api_keys: [{key: sk-ant-secret, weight: 2}]
                    auth_keys: [provider-client-secret]
                target_urls: ["http://127.0.0.1:8001|target-secret"]
                """)
        config.assignProviderNames()
        let text = config.redactedYAML()
        for secret in ["client-secret-123", "sk-upstream-secret", "header-secret", "sk-ant-secret", "provider-client-secret", "target-secret"] {
            #expect(!text.contains(secret), "\(secret) leaked")
        }
        #expect(text.contains("visible-org"))
        #expect(text.contains("<redacted>"))
        // The redacted form is itself valid YAML in our schema.
        #expect(throws: Never.self) { _ = try GatewayConfig.parse(yaml: text) }
    }

    @Test("a missing file is reported with its path")
    func missingFile() {
        let loader = ConfigLoader(path: "/nonexistent/llmproxy.yaml", environment: [:])
        #expect { try loader.load() } throws: { "\($0)".contains("/nonexistent/llmproxy.yaml cannot be read") }
    }
}
