import Dialects
import ProxyConfig
import Testing

@testable import Upstreams

@Suite("Routing decisions")
struct RouteTableTests {
    static func provider(_ name: String, _ type: ProviderType, models: [String] = [], host: String? = nil, weight: Double = 1) -> ProviderConfig {
        var config = ProviderConfig(name: name, type: type, baseURL: type == .mock ? "mock://local" : "http://\(name).test")
        config.models = models
        config.host = host
        config.weight = weight
        return config
    }

    static func table(_ providers: [ProviderConfig], routing: RoutingConfig = RoutingConfig(), catalog: ModelCatalog = ModelCatalog()) -> RouteTable {
        RouteTable(providers: providers.map { Provider(config: $0) }, routing: routing, catalog: catalog)
    }

    let table: RouteTable = {
        var routing = RoutingConfig()
        routing.aliases = ["fast": "gpt-4o-mini", "smart": "claude-3-5-sonnet"]
        let catalog = ModelCatalog()
        catalog.update(provider: "local", models: [ModelEntry(id: "llama3:8b")])
        return RouteTableTests.table(
            [
                provider("openai", .openai),
                provider("anthropic", .anthropic),
                provider("gemini", .gemini),
                provider("local", .openai, models: ["qwen-*"]),
                provider("hosted", .openai, models: ["x"], host: "api.example.com"),
                provider("prefixed", .anthropic, models: ["y"], host: "api.example.com/claude"),
            ], routing: routing, catalog: catalog)
    }()

    func route(_ dialect: Dialect = .openai, model: String?, host: String? = nil, path: String = "/v1/chat/completions") -> (
        providers: [String], model: String?, rule: String, path: String
    )? {
        guard case .success(let decision) = table.resolve(dialect: dialect, host: host, path: path, model: model) else { return nil }
        return (decision.providers.map(\.name), decision.upstreamModel, decision.rule, decision.path)
    }

    @Test(
        "well-known prefixes go to their provider type",
        arguments: [
            ("gpt-4o", "openai"), ("o3-mini", "openai"), ("text-embedding-3-small", "openai"),
            ("claude-3-5-haiku-latest", "anthropic"), ("gemini-2.0-flash", "gemini"),
        ])
    func prefixes(model: String, provider: String) {
        #expect(route(model: model)?.providers == [provider])
        #expect(route(model: model)?.rule == "prefix")
    }

    @Test("an alias routes by its target and rewrites the model sent upstream")
    func alias() {
        let decision = route(model: "fast")
        #expect(decision?.providers == ["openai"])
        #expect(decision?.model == "gpt-4o-mini")
        #expect(decision?.rule == "alias")
        #expect(route(.anthropic, model: "smart")?.providers == ["anthropic"])
    }

    @Test("globs, learnt names and provider/model")
    func modelRules() {
        #expect(route(model: "qwen-2.5")?.providers == ["local"])
        #expect(route(model: "qwen-2.5")?.rule == "glob")
        #expect(route(model: "llama3:8b")?.providers == ["local"])
        #expect(route(model: "llama3:8b")?.rule == "learnt")
        let scoped = route(model: "local/whatever")
        #expect(scoped?.providers == ["local"])
        #expect(scoped?.model == "whatever")
        #expect(route(model: "flm://local/other")?.model == "other")
        // A slash that does not name a provider is part of the model id.
        #expect(route(model: "meta-llama/Llama-3") == nil)
    }

    @Test("the Host header wins over the model; a prefixed host needs and strips its prefix")
    func hostRules() {
        #expect(route(model: "gpt-4o", host: "api.example.com")?.providers == ["hosted"])
        #expect(route(model: "gpt-4o", host: "API.example.com:443")?.providers == ["hosted"])
        let prefixed = route(.anthropic, model: "claude-3", host: "api.example.com", path: "/claude/v1/messages")
        #expect(prefixed?.providers == ["prefixed"])
        #expect(prefixed?.path == "/v1/messages")
        #expect(route(model: "gpt-4o", host: "other.example.com")?.providers == ["openai"])
    }

    @Test("a provider that cannot speak the client's dialect is not chosen, with a clear 404")
    func wrongDialect() {
        guard case .failure(let error) = table.resolve(dialect: .anthropic, host: nil, path: "/v1/messages", model: "gpt-4o") else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .modelNotFound)
        #expect(error.message.contains("does not speak the Anthropic Messages API"))
        // OpenAI clients reach Anthropic and Gemini through their OpenAI-compatible APIs.
        #expect(route(.openai, model: "claude-3-opus")?.providers == ["anthropic"])
    }

    @Test("unknown models fall back to the default model, then the default provider, then 404")
    func defaults() {
        var routing = RoutingConfig()
        #expect(Self.table([Self.provider("a", .openai, models: ["m"])], routing: routing).resolve(dialect: .openai, host: nil, path: "/", model: "zzz").isFailure)
        routing.defaultModel = "m"
        let viaModel = Self.table([Self.provider("a", .openai, models: ["m"])], routing: routing).resolve(dialect: .openai, host: nil, path: "/", model: "zzz")
        #expect(viaModel.decision?.rule == "default_model")
        #expect(viaModel.decision?.upstreamModel == nil)
        let noModel = Self.table([Self.provider("a", .openai, models: ["m"])], routing: routing).resolve(dialect: .openai, host: nil, path: "/", model: nil)
        #expect(noModel.decision?.upstreamModel == "m")
        routing = RoutingConfig()
        routing.defaultProvider = "a"
        #expect(
            Self.table([Self.provider("a", .openai, models: ["m"])], routing: routing).resolve(dialect: .openai, host: nil, path: "/", model: "zzz").decision?.rule
                == "default_provider")
    }

    @Test("a mock without a model list serves any model in any dialect")
    func mockCatchAll() {
        let table = Self.table([Self.provider("demo", .mock)])
        for dialect in Dialect.allCases {
            #expect(table.resolve(dialect: dialect, host: nil, path: "/", model: "anything").decision?.providers.map(\.name) == ["demo"])
        }
    }

    @Test("several providers serving one model are all candidates")
    func candidates() {
        let table = Self.table([Self.provider("a", .openai, models: ["m"]), Self.provider("b", .openai, models: ["m"]), Self.provider("c", .openai, models: ["n"])])
        #expect(table.resolve(dialect: .openai, host: nil, path: "/", model: "m").decision?.providers.map(\.name) == ["a", "b"])
    }
}

extension Result where Success == RouteDecision, Failure == GatewayError {
    var decision: RouteDecision? { if case .success(let d) = self { return d } else { return nil } }
    var isFailure: Bool { decision == nil }
}
