import Testing

@testable import ProxyConfig

@Suite("Guard configuration: limits, budgets, pricing, security, shedding")
struct GuardsConfigTests {
    func problems(_ yaml: String) -> [String] { configProblems(yaml) }

    @Test("every section reads, in file order for patterns, and shows up redacted in config check")
    func reads() throws {
        let config = try GatewayConfig.parse(
            yaml: """
                limits:
                  ip: {requests_per_minute: 600, burst: 50, concurrency: 20}
                  key: {requests_per_minute: 60, tokens_per_minute: 100000, concurrency: 4}
                  key_model: {tokens_per_minute: 5000}
                  models: {"gpt-4o*": {requests_per_minute: 10}, "*": {concurrency: 100}}
                  providers: {openai: {requests_per_minute: 500, tokens_per_minute: 800000}}
                  across_instances: each
                  default_output_tokens: 2048
                providers: [{name: openai, type: openai, api_key: sk-test-0123456789}]
                budgets: {owners: {alice: {tokens: 1000000, cost_usd: 25.5, period: day}}, stream_cutoff: 1.2}
                pricing: {builtin: false, models: {my-model: {input: 1, output: 2, cached_input: 0.5}}}
                security: {allow_ips: [10.0.0.0/8], deny_ips: ["2001:db8::/32"], cors_origins: ["https://app.example"], auto_block: {threshold: 80, exempt: [127.0.0.1]}}
                shedding: {max_in_flight: 500, max_memory_mb: 2048, max_cpu_percent: 180, retry_after: 3}
                admin: {deny_cidrs: [192.0.2.0/24]}
                """)
        #expect(config.limits.ip == RateRule(requestsPerMinute: 600, burst: 50, concurrency: 20))
        #expect(config.limits.key.tokensPerMinute == 100_000)
        #expect(config.limits.models.map(\.pattern) == ["gpt-4o*", "*"])
        #expect(config.limits.defaultOutputTokens == 2048)
        #expect(config.limits.providers["openai"] == RateRule(requestsPerMinute: 500, tokensPerMinute: 800_000))
        #expect(config.limits.acrossInstances == .each)
        #expect(config.budgets.owners["alice"] == BudgetConfig(tokens: 1_000_000, costUSD: 25.5, period: "day"))
        #expect(config.budgets.streamCutoff == 1.2)
        #expect(!config.pricing.builtIn && config.pricing.models.first?.cachedInput == 0.5)
        #expect(config.security.autoBlock.threshold == 80 && config.security.autoBlock.exempt == ["127.0.0.1"])
        #expect(config.shedding.maxInFlight == 500 && config.shedding.retryAfter == 3)
        #expect(config.admin.denyCIDRs == ["192.0.2.0/24"])
        #expect(config.validate().isEmpty)
        let shown = config.redactedYAML()
        for text in [
            "requests_per_minute: 600", "across_instances: each", "tokens_per_minute: 800000", "gpt-4o*", "cost_usd: 25.5", "max_in_flight: 500", "threshold: 80", "deny_cidrs",
        ] {
            #expect(shown.contains(text), "\(text)")
        }
    }

    @Test(
        "a wrong value names its key, what was found and the fix",
        arguments: [
            ("limits: {key: {requests_per_minute: 0}}", "limits.key.requests_per_minute must be between 1 and 1000000000 (got 0)"),
            ("limits: {ip: {burst: 5}}", "limits.ip.burst is set without requests_per_minute"),
            ("limits: {key: {rpm: 5}}", "limits.key.rpm is not a known key"),
            ("limits: {models: {\"x*\": {concurrency: -1}}}", "limits.models.x*.concurrency must be between 1 and 1000000"),
            (
                "limits: {across_instances: all}",
                #"limits.across_instances must be split (instances share each limit) or each (every instance enforces the whole limit) (got "all")"#
            ),
            ("limits: {providers: {nope: {requests_per_minute: 5}}}", "limits.providers.nope names no configured provider"),
            ("limits: {providers: {nope: {concurrency: 0}}}", "limits.providers.nope.concurrency must be between 1 and 1000000"),
            ("budgets: {owners: {bob: {period: week, tokens: 5}}}", #"budgets.owners.bob.period must be day, month or total (got "week")"#),
            ("budgets: {owners: {bob: {period: day}}}", "budgets.owners.bob needs tokens or cost_usd"),
            ("budgets: {stream_cutoff: -1}", "budgets.stream_cutoff must be between 0 (never cut a stream) and 10 times the budget (got -1.0)"),
            ("budgets: {owners: {bob: {cost_usd: 0}}}", "budgets.owners.bob.cost_usd must be above 0"),
            ("pricing: {models: {m: {input: 1}}}", "pricing.models.m needs input and output"),
            ("pricing: {models: {m: {input: -1, output: 1}}}", "pricing.models.m.input must be between 0 and 1000000"),
            ("security: {deny_ips: [not-an-ip]}", #"security.deny_ips[0] is not an address or network (got "not-an-ip")"#),
            ("security: {cors_origins: [app.example]}", "security.cors_origins[0] must be an origin like https://app.example.com"),
            ("security: {auto_block: {max_block_seconds: 10}}", "security.auto_block.max_block_seconds must be at least block_seconds"),
            ("shedding: {max_cpu_percent: -5}", "shedding.max_cpu_percent must be between 0 and 100000"),
            ("admin: {deny_cidrs: [10.0.0.0/33]}", "admin.deny_cidrs[0] is not an address or network"),
        ])
    func messages(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.contains(expected) }, "\(found)")
    }

    @Test("the edge seed's RATE_LIMIT_ENABLED, RATE_LIMIT_RPM and RATE_LIMIT_BURST set the per-address limit")
    func seedRateLimit() throws {
        var config = GatewayConfig()
        try config.applyEnvironment(["RATE_LIMIT_ENABLED": "true"])
        #expect(config.limits.ip == RateRule(requestsPerMinute: 1000, burst: 100))
        var custom = GatewayConfig()
        try custom.applyEnvironment(["RATE_LIMIT_ENABLED": "1", "RATE_LIMIT_RPM": "120", "RATE_LIMIT_BURST": "10"])
        #expect(custom.limits.ip == RateRule(requestsPerMinute: 120, burst: 10))
        var off = try GatewayConfig.parse(yaml: "limits: {ip: {requests_per_minute: 5}}")
        try off.applyEnvironment(["RATE_LIMIT_ENABLED": "false", "RATE_LIMIT_RPM": "120"])
        #expect(off.limits.ip.isEmpty)
        #expect(!off.warnings.contains { $0.contains("RATE_LIMIT") })
        var wrong = GatewayConfig()
        #expect(throws: ConfigError.self) { try wrong.applyEnvironment(["RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_RPM": "lots"]) }
    }
}
