import Testing

@testable import ProxyConfig

/// Every number from a file or the environment is either refused with a message naming its
/// key, the allowed range and the default, or lies in a range where every later conversion
/// (seconds × 1000 into Int64, `Duration`, sums of weights) is safe.
@Suite("Number ranges")
struct NumberRangeTests {
    func problems(_ yaml: String, environment: [String: String] = [:]) -> [String] {
        var (config, found) = GatewayConfig.parseCollecting(yaml: yaml)
        do {
            try config.applyEnvironment(environment)
        } catch let error as ConfigError {
            found += error.problems
        } catch {
            return ["\(error)"]
        }
        config.assignProviderNames()
        found += config.validate()
        return found.map(\.description)
    }

    @Test(
        "huge, infinite and NaN numbers in the file are refused with the key, the range and the default",
        arguments: [
            ("server: {drain_timeout: 1e300}", "config: server.drain_timeout must be between 0 and 3600 seconds (got 1e+300); the default is 30"),
            ("server: {drain_timeout: .inf}", #"config: server.drain_timeout must be a finite number (got ".inf")"#),
            ("server: {drain_timeout: -.inf}", #"config: server.drain_timeout must be a finite number (got "-.inf")"#),
            ("server: {drain_timeout: .nan}", #"config: server.drain_timeout must be a finite number (got ".nan")"#),
            ("server: {drain_timeout: nan}", #"config: server.drain_timeout must be a finite number (got "nan")"#),
            ("server: {drain_timeout: 1e400}", #"config: server.drain_timeout must be a finite number (got "1e400")"#),
            ("server: {request_head_timeout: 1e300}", "config: server.request_head_timeout must be above 0 and at most 3600 seconds (got 1e+300); the default is 10"),
            ("server: {request_body_timeout: 0}", "config: server.request_body_timeout must be above 0 and at most 3600 seconds (got 0.0); the default is 30"),
            ("server: {request_head_timeout: -0}", "config: server.request_head_timeout must be above 0 and at most 3600 seconds (got 0.0); the default is 10"),
            ("server: {keep_alive_timeout: 86401}", "config: server.keep_alive_timeout must be above 0 and at most 86400 seconds (got 86401.0); the default is 75"),
            ("server: {max_connections: 15}", "config: server.max_connections must be between 16 and 1000000 (got 15); the default is 8192"),
            ("server: {max_connections: 0x7fffffffffffffff}", "config: server.max_connections must be between 16 and 1000000 (got 9223372036854775807); the default is 8192"),
            (
                "server: {max_request_size: -0x8000000000000000}",
                "config: server.max_request_size must be between 1 and 1073741824 bytes (got -9223372036854775808); the default is 10485760 (10 MiB)"
            ),
            ("server: {max_request_size: 1073741825}", "config: server.max_request_size must be between 1 and 1073741824 bytes (got 1073741825)"),
            (
                "server: {port: 99999999999999999999}",
                #"config: server.port must be a whole number between -9223372036854775808 and 9223372036854775807 (got "99999999999999999999")"#
            ),
            ("server: {port: 8080.5}", #"config: server.port must be a whole number (got "8080.5")"#),
            ("server: {port: 1e3}", #"config: server.port must be a whole number (got "1e3")"#),
            ("server: {port: .nan}", #"config: server.port must be a whole number (got ".nan")"#),
            ("server: {port: 0x-10}", #"config: server.port must be a whole number (got "0x-10")"#),
            // YAML 1.1's base 60: Yams multiplies its parts unchecked and traps on a long one.
            ("server: {port: 1:0:0:0:0:0:0:0:0:0:0:0}", #"config: server.port must be a whole number (got "1:0:0:0:0:0:0:0:0:0:0:0")"#),
            ("server: {drain_timeout: 1:0:0:0:0:0:0:0:0:0:0:0:0}", #"config: server.drain_timeout must be a number (got "1:0:0:0:0:0:0:0:0:0:0:0:0")"#),
            ("upstream: {connect_timeout: 3601}", "config: upstream.connect_timeout must be above 0 and at most 3600 seconds (got 3601.0); the default is 10"),
            ("upstream: {first_byte_timeout: 1e300}", "config: upstream.first_byte_timeout must be above 0 and at most 86400 seconds (got 1e+300); the default is 120"),
            ("upstream: {idle_timeout: 1e18}", "config: upstream.idle_timeout must be above 0 and at most 86400 seconds (got 1e+18); the default is 60"),
            ("upstream: {max_connections_per_host: 100001}", "config: upstream.max_connections_per_host must be between 1 and 100000 (got 100001); the default is 256"),
            ("database: {event_queue_limit: 99999999999}", "config: database.event_queue_limit must be between 1 and 10000000 (got 99999999999); the default is 100000"),
            (
                "database: {event_retention_days: -1}",
                "config: database.event_retention_days must be between 0 and 36500 days (0 keeps events forever) (got -1.0); the default is 90"
            ),
            ("database: {event_retention_days: 1e300}", "config: database.event_retention_days must be between 0 and 36500 days"),
            ("admin: {session_hours: 1e300}", "config: admin.session_hours must be above 0 and at most 8760 hours (got 1e+300); the default is 24"),
            ("admin: {session_hours: .nan}", #"config: admin.session_hours must be a finite number (got ".nan")"#),
            ("providers: [{type: openai, weight: 1e308}]", "config: providers[0].weight must be above 0 and at most 1000000 (got 1e+308); the default is 1"),
            ("providers: [{type: openai, api_keys: [{key: k, weight: 1e300}]}]", "config: providers[0].api_keys[0].weight must be above 0 and at most 1000000 (got 1e+300)"),
            (
                "providers: [{type: openai, health_check_interval: 0.01}]",
                "config: providers[0].health_check_interval must be between 0.1 and 86400 seconds (got 0.01); the default is 60"
            ),
            ("health_check_interval: 1e300\nproviders: [{type: openai}]", "config: providers[0].health_check_interval must be between 0.1 and 86400 seconds (got 1e+300)"),
            (
                "providers: [{type: openai, endpoint: api.example.com, port: 70000}]",
                "config: providers[0].port must be between 1 and 65535 (got 70000); the default is 443 with tls, else 80"
            ),
            ("providers: [{type: openai, endpoint: api.example.com, port: -1}]", "config: providers[0].port must be between 1 and 65535 (got -1)"),
            (
                "providers: [{type: mock, mock: {chunk_delay_ms: 9223372036854775807}}]",
                "config: providers[0].mock.chunk_delay_ms must be between 0 and 60000 milliseconds (got 9223372036854775807); the default is 20"
            ),
            ("providers: [{type: mock, mock: {latency_ms: -1}}]", "config: providers[0].mock.latency_ms must be between 0 and 600000 milliseconds (got -1); the default is 0"),
            ("providers: [{type: mock, mock: {chunks: 10001}}]", "config: providers[0].mock.chunks must be between 1 and 10000 (got 10001); the default is 8"),
            ("discovery: {interval: 1e300}", "config: discovery.interval must be between 0.1 and 86400 seconds (got 1e+300); the default is 30"),
            ("discovery: {interval: 0.001}", "config: discovery.interval must be between 0.1 and 86400 seconds (got 0.001)"),
        ])
    func fileNumbers(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.hasPrefix(expected) }, "got \(found)")
    }

    @Test(
        "odd but meaningful number forms are read as written",
        arguments: [
            ("server: {port: 0x1F90}", 8080),
            ("server: {port: 0o17620}", 8080),
            ("server: {port: 0b1111110010000}", 8080),
            ("server: {port: 8_080}", 8080),
            ("server: {port: +8080}", 8080),
            // YAML 1.1 would read a leading zero as octal (4176); nobody writing a port means that.
            ("server: {port: 08080}", 8080),
            ("server: {port: -0}", 0),
        ])
    func oddForms(yaml: String, port: Int) throws {
        #expect(try GatewayConfig.parse(yaml: yaml).server.port == port)
    }

    @Test(
        "huge, infinite and NaN numbers in the environment are refused naming the variable",
        arguments: [
            ("LLMPROXY_DRAIN_TIMEOUT", "nan", #"config: $LLMPROXY_DRAIN_TIMEOUT must be a finite number of seconds (got "nan")"#),
            ("LLMPROXY_DRAIN_TIMEOUT", "inf", #"config: $LLMPROXY_DRAIN_TIMEOUT must be a finite number of seconds (got "inf")"#),
            ("LLMPROXY_CONNECT_TIMEOUT", "-infinity", #"config: $LLMPROXY_CONNECT_TIMEOUT must be a finite number of seconds (got "-infinity")"#),
            ("SERVER_TIMEOUT_SECONDS", "1e400", #"config: $SERVER_TIMEOUT_SECONDS must be a finite number of seconds (got "1e400")"#),
            ("LLMPROXY_IDLE_TIMEOUT", "1e300", "config: upstream.idle_timeout must be above 0 and at most 86400 seconds (got 1e+300)"),
            ("LLMPROXY_CONNECT_TIMEOUT", "-0", "config: upstream.connect_timeout must be above 0 and at most 3600 seconds (got -0.0)"),
            (
                "LLMPROXY_PORT", "99999999999999999999",
                #"config: $LLMPROXY_PORT must be a whole number between -9223372036854775808 and 9223372036854775807 (got "99999999999999999999")"#
            ),
            ("LLMPROXY_PORT", "0x10", #"config: $LLMPROXY_PORT must be a whole number"#),
            ("LLMPROXY_PORT", "-1", "config: server.port must be between 1 and 65535, or 0 for any free port (got -1)"),
            ("MAX_REQUEST_SIZE", "9223372036854775807", "config: server.max_request_size must be between 1 and 1073741824 bytes (got 9223372036854775807)"),
            ("SERVER_ADDRESS", "127.0.0.1:99999999999999999999", #"config: $SERVER_ADDRESS must look like HOST:PORT"#),
            ("VLLM_PORT", "70000", #"config: $VLLM_PORT must be a port between 1 and 65535 (got "70000")"#),
            ("LLAMA_CPP_PORT", "99999999999999999999", #"config: $LLAMA_CPP_PORT must be a whole number"#),
        ])
    func environmentNumbers(name: String, value: String, expected: String) {
        let found = problems("", environment: [name: value])
        #expect(found.contains { $0.hasPrefix(expected) }, "got \(found)")
    }

    @Test("-0 from the environment is the same as 0", arguments: ["LLMPROXY_PORT"])
    func negativeZero(name: String) throws {
        var config = GatewayConfig()
        try config.applyEnvironment([name: "-0"])
        #expect(config.server.port == 0 && config.validate().isEmpty)
    }

    @Test("the largest and smallest accepted values convert to durations and milliseconds without trapping")
    func boundsConvert() {
        let seconds: [ConfigRange] = [
            .drainTimeout, .requestHeadTimeout, .requestBodyTimeout, .keepAliveTimeout, .connectTimeout,
            .firstByteTimeout, .idleTimeout, .healthCheckInterval, .discoveryInterval,
        ]
        for range in seconds {
            // What Gateway, UpstreamClient and UpstreamMonitor do with a number of seconds.
            #expect(Int64(range.upper * 1000) > 0 && Int64(range.upper * 1_000_000_000) > 0)
            #expect(Duration.seconds(range.upper) > .zero)
            #expect(range.contains(range.upper) && !range.contains(range.upper.nextUp))
            #expect(!range.contains(.nan) && !range.contains(.infinity) && !range.contains(-.infinity))
        }
        #expect(Int64(ConfigRange.sessionHours.upper * 3600 * 1000) > 0)
        #expect(Int64(ConfigRange.eventRetentionDays.upper * 86_400_000) > 0)
        #expect(ConfigRange.healthCheckInterval.lower * 1000 >= 100 && ConfigRange.discoveryInterval.lower * 1000 >= 100)
        // Every provider and key at the largest weight still sums to a finite total.
        #expect((ConfigRange.weight.upper * ConfigRange.weight.upper * 1_000_000).isFinite)
        #expect(Int(exactly: ConfigRange.maxRequestSize.upper)! < Int(UInt32.max))
        #expect(Int64(ConfigRange.mockChunks.upper * ConfigRange.mockChunkDelay.upper) < Int64.max / 1_000_000)
    }

    @Test("a configuration with every number at its largest accepted value is valid")
    func largestValid() throws {
        var config = try GatewayConfig.parse(
            yaml: """
                server: {port: 65535, max_request_size: 1073741824, drain_timeout: 3600, request_head_timeout: 3600,
                         request_body_timeout: 3600, keep_alive_timeout: 86400, max_connections: 1000000}
                upstream: {connect_timeout: 3600, first_byte_timeout: 86400, idle_timeout: 86400, max_connections_per_host: 100000}
                database: {event_queue_limit: 10000000, event_retention_days: 36500}
                admin: {session_hours: 8760}
                discovery: {interval: 86400}
                providers:
                  - {type: mock, weight: 1000000, health_check_interval: 86400, mock: {chunks: 10000, chunk_delay_ms: 60000, latency_ms: 600000}}
                  - {type: openai, endpoint: api.example.com, port: 65535, api_keys: [{key: k1, weight: 1000000}, {key: k2, weight: 0.000001}]}
                """)
        config.assignProviderNames()
        #expect(config.validate().isEmpty, "\(config.validate())")
    }
}
