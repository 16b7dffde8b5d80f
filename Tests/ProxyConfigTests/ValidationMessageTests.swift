import Testing

@testable import ProxyConfig

/// Every validation message names the key path, the value found and the fix.
@Suite("Validation messages")
struct ValidationMessageTests {
    func problems(_ yaml: String) -> [String] {
        do {
            var config = try GatewayConfig.parse(yaml: yaml)
            config.assignProviderNames()
            return config.validate(fileExists: { _ in false }).map(\.description)
        } catch let error as ConfigError {
            return error.problems.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    @Test(
        "syntax and structure",
        arguments: [
            ("server: [1, 2", "config: (file) is not valid YAML"),
            ("servr: {}", "config: servr is not a known key; did you mean 'server'?"),
            ("server: {prot: 1}", "config: server.prot is not a known key; did you mean 'port'?"),
            ("server: {port: eighty}", #"config: server.port must be a whole number (got "eighty")"#),
            ("server: {allow_unauthenticated_public_bind: maybe}", #"config: server.allow_unauthenticated_public_bind must be true or false (got "maybe")"#),
            ("providers: {type: openai}", "config: providers must be a list of providers (got a mapping)"),
            ("providers: [{name: x}]", "config: providers[0].type is required: one of openai, anthropic, gemini, mock"),
            ("providers: [{type: azure}]", #"config: providers[0].type must be one of openai, anthropic, gemini, mock (got "azure")"#),
            ("providers: [{type: openai, weight: heavy}]", #"config: providers[0].weight must be a number (got "heavy")"#),
            ("providers: [{type: openai, api_keys: [{weight: 2}]}]", "config: providers[0].api_keys[0].key is required"),
            ("providers: [{type: openai, health_check: {method: GET}}]", "config: providers[0].health_check.path is required (for example /v1/models)"),
            (
                "providers: [{type: openai, health_check: {path: /x, headers: [NoColonHere]}}]",
                #"config: providers[0].health_check.headers[0] must look like "Name: value" (got "NoColonHere")"#
            ),
            ("logging: {format: xml}", #"config: logging.format must be auto, json or text (got "xml")"#),
            ("logging: {level: loud}", "config: logging.level must be one of trace, debug, info, notice, warning, error, critical (got \"loud\")"),
            ("server: {response_header_filter: some}", #"config: server.response_header_filter must be off, provider_headers or a list of header names (got "some")"#),
        ])
    func structure(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.hasPrefix(expected) }, "got \(found)")
    }

    @Test(
        "values",
        arguments: [
            ("server: {port: 70000}", "config: server.port must be between 1 and 65535, or 0 for any free port (got 70000); the default is 8080"),
            ("server: {max_request_size: 0}", "config: server.max_request_size must be between 1 and 1073741824 bytes (got 0); the default is 10485760 (10 MiB)"),
            ("server: {drain_timeout: -1}", "config: server.drain_timeout must be between 0 and 3600 seconds (got -1.0); the default is 30"),
            ("server: {public_paths: [health]}", #"config: server.public_paths[0] must start with / (got "health")"#),
            ("server: {host: 0.0.0.0}", "config: server.host is 0.0.0.0, reachable from other machines, but no client key is configured"),
            ("upstream: {connect_timeout: 0}", "config: upstream.connect_timeout must be above 0 and at most 3600 seconds (got 0.0); the default is 10"),
            ("upstream: {first_byte_timeout: -5}", "config: upstream.first_byte_timeout must be above 0 and at most 86400 seconds (got -5.0); the default is 120"),
            ("upstream: {idle_timeout: 0}", "config: upstream.idle_timeout must be above 0 and at most 86400 seconds (got 0.0); the default is 60"),
            ("upstream: {max_connections_per_host: 0}", "config: upstream.max_connections_per_host must be between 1 and 100000 (got 0); the default is 256"),
            ("upstream: {ca_file: /missing.pem}", "config: upstream.ca_file names /missing.pem, which does not exist"),
            ("auth: {keys: [short]}", "config: auth.keys[0] is shorter than 8 characters"),
            ("auth: {keys: [\"sha256:abc\"]}", "config: auth.keys[0] starts with sha256: but is not followed by 64 hex digits"),
            ("providers: [{type: openai, weight: 0}]", "config: providers[0].weight must be above 0 and at most 1000000 (got 0.0); the default is 1"),
            ("providers: [{type: openai, weight: -1}]", "config: providers[0].weight must be above 0 and at most 1000000 (got -1.0); the default is 1"),
            (
                "providers: [{type: openai, api_keys: [{key: k, weight: 0}]}]",
                "config: providers[0].api_keys[0].weight must be above 0 and at most 1000000 (got 0.0); the default is 1"
            ),
            ("providers: [{type: openai, base_url: ftp://x}]", #"config: providers[0].base_url must be an http:// or https:// URL without query or user info (got "ftp://x")"#),
            ("providers: [{type: openai, base_url: \"http://u:p@x\"}]", "config: providers[0].base_url must be an http:// or https:// URL without query or user info"),
            ("providers: [{type: openai, base_url: \"http://x\", endpoint: y}]", "config: providers[0].endpoint cannot be combined with base_url"),
            ("providers: [{type: openai, name: a}, {type: gemini, name: a}]", #"config: providers[1].name "a" is already used by providers[0]"#),
            ("providers: [{type: openai, host: \"/x\"}]", #"config: providers[0].host must be a host name, optionally followed by /prefix (got "/x")"#),
            (
                "providers: [{type: openai, health_check: {path: /x, method: DELETE}}]",
                #"config: providers[0].health_check.method must be GET, POST, HEAD, PUT or OPTIONS (got "DELETE")"#
            ),
            (
                "providers: [{type: openai, health_check: {path: x}}]",
                #"config: providers[0].health_check.path must start with / and hold no space or control character (got "x")"#
            ),
            (
                "providers: [{type: openai, health_check: {path: \"/x y\"}}]",
                #"config: providers[0].health_check.path must start with / and hold no space or control character (got "/x y")"#
            ),
            (
                "providers: [{type: openai, api_key: \"sk-a\\r\\nX-Evil: 1\"}]",
                "config: providers[0].api_keys[0].key must be one line of visible characters without a line break"
            ),
            (
                "providers: [{type: openai, headers: {OpenAI-Organization: \"org\\nX-Evil: 1\"}}]",
                "config: providers[0].headers.OpenAI-Organization must be one line of visible characters without a line break"
            ),
            ("providers: [{type: openai, headers: {\"Bad Name\": x}}]", #"config: providers[0].headers.Bad Name is not a header name"#),
            ("providers: [{type: openai, headers: {Content-Length: \"5\"}}]", "config: providers[0].headers.Content-Length is set by the gateway for each request"),
            (
                "providers: [{type: openai, health_check: {path: /x, headers: [\"Host: other\"]}}]",
                "config: providers[0].health_check.headers.Host is set by the gateway for each request"
            ),
            ("target_urls: [\"http://x:1|k\\r\\nX-Evil: 1\"]", "config: target_urls[0] has a key with a line break, control character"),
            (
                "providers: [{type: openai, health_check_interval: 0}]",
                "config: providers[0].health_check_interval must be between 0.1 and 86400 seconds (got 0.0); the default is 60"
            ),
            ("providers: [{type: mock, mock: {chunks: 0}}]", "config: providers[0].mock.chunks must be between 1 and 10000 (got 0); the default is 8"),
            ("providers: [{type: openai, auth_keys: [tiny]}]", "config: providers[0].auth_keys[0] is shorter than 8 characters"),
            ("routing: {default_provider: nowhere}", #"config: routing.default_provider names "nowhere", which is not a provider"#),
            ("routing: {aliases: {fast: \"\"}}", "config: routing.aliases.fast must map a non-empty name to a non-empty model"),
            ("discovery: {interval: 0}", "config: discovery.interval must be between 0.1 and 86400 seconds (got 0.0); the default is 30"),
            ("discovery: {ollama_url: nonsense}", #"config: discovery.ollama_url must be an http:// URL (got "nonsense")"#),
            ("target_urls: [\"not a url\"]", "config: target_urls[0] must be an http:// or https:// URL"),
        ])
    func values(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.hasPrefix(expected) }, "got \(found)")
    }

    @Test("every problem is reported at once, not only the first")
    func allProblems() {
        let found = problems("server: {port: 0, max_request_size: -1}\nproviders: [{type: openai, weight: 0}, {type: gemini, weight: -2}]")
        #expect(found.count >= 3)
    }

    @Test("a public address is accepted with client keys or the explicit opt-in")
    func publicBind() {
        #expect(problems("server: {host: 0.0.0.0}\nauth: {keys: [long-enough-key]}").isEmpty)
        #expect(problems("server: {host: 0.0.0.0, allow_unauthenticated_public_bind: true}").isEmpty)
        #expect(problems("server: {host: 127.0.0.1}").isEmpty)
    }
}
