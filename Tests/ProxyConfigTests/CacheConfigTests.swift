import Testing

@testable import ProxyConfig

@Suite("Response cache configuration")
struct CacheConfigTests {
    func problems(_ yaml: String, environment: [String: String] = [:]) -> [String] { configProblems(yaml, environment: environment) }

    @Test("cache: off by default; every key read, per model and per provider; LLMPROXY_CACHE_* over the file; the effective YAML reads back the same")
    func reads() throws {
        #expect(!GatewayConfig().cache.enabled && GatewayConfig().cache.scope == .owner && GatewayConfig().cache.ttl == 300)
        var config = try GatewayConfig.parse(
            yaml: """
                cache:
                  enabled: true
                  ttl: 60
                  max_bytes: 1048576
                  max_entry_bytes: 65536
                  scope: key
                  store: true
                  models: {"gpt-4*": {ttl: 10}, o3: {enabled: false}}
                providers:
                  - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", cache: {enabled: false}}
                """)
        #expect(config.cache.enabled && config.cache.ttl == 60 && config.cache.maxBytes == 1 << 20 && config.cache.maxEntryBytes == 65536)
        #expect(config.cache.scope == .key && config.cache.store)
        #expect(config.cache.models.map(\.pattern) == ["gpt-4*", "o3"])
        #expect(config.cache.models.map(\.override) == [.init(ttl: 10), .init(enabled: false)])
        #expect(config.providers[0].cache == .init(enabled: false))
        #expect(config.validate().isEmpty)
        let again = try GatewayConfig.parse(yaml: config.redactedYAML())
        #expect(again.cache == config.cache && again.providers[0].cache == config.providers[0].cache)
        try config.applyEnvironment([
            "LLMPROXY_CACHE_ENABLED": "false", "LLMPROXY_CACHE_TTL": "5", "LLMPROXY_CACHE_MAX_BYTES": "2048", "LLMPROXY_CACHE_MAX_ENTRY_BYTES": "1024",
            "LLMPROXY_CACHE_SCOPE": "GLOBAL", "LLMPROXY_CACHE_STORE": "false",
        ])
        #expect(!config.cache.enabled && config.cache.ttl == 5 && config.cache.maxBytes == 2048 && config.cache.maxEntryBytes == 1024)
        #expect(config.cache.scope == .global && !config.cache.store)
    }

    @Test("the second level needs the database")
    func storeNeedsDatabase() {
        let text = problems("cache: {enabled: true, store: true}\ndatabase: {enabled: false}").joined(separator: "\n")
        #expect(text.contains("cache.store") && text.contains("database.enabled"), "\(text)")
        #expect(problems("cache: {enabled: true, store: true}").isEmpty)
    }

    @Test("cache problems name the key and the fix")
    func problemsNameKeys() {
        let bad = problems(
            """
            cache: {ttl: 0, max_bytes: 10, max_entry_bytes: 20, scope: everyone, models: {"gpt-*": {ttl: -1}}, colour: red}
            providers:
              - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", cache: {ttl: 1e12}}
            """)
        let text = bad.joined(separator: "\n")
        #expect(text.contains("cache.scope") && text.contains("global"), "\(text)")
        #expect(text.contains("cache.colour"), "\(text)")
        let ranges = problems(
            """
            cache: {ttl: 0, max_bytes: 10, max_entry_bytes: 20, models: {"gpt-*": {ttl: -1}}}
            providers:
              - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", cache: {ttl: 1e12}}
            """
        ).joined(separator: "\n")
        for key in ["cache.ttl", "cache.max_bytes", "cache.max_entry_bytes", "cache.models.gpt-*.ttl", "providers[0].cache.ttl"] {
            #expect(ranges.contains(key), "\(key) not named in \(ranges)")
        }
        #expect(ranges.contains("the default is 300"))
        let env = problems("cache: {enabled: true}", environment: ["LLMPROXY_CACHE_SCOPE": "team", "LLMPROXY_CACHE_TTL": "soon"]).joined(separator: "\n")
        #expect(env.contains("$LLMPROXY_CACHE_SCOPE") && env.contains("$LLMPROXY_CACHE_TTL"), "\(env)")
    }
}
