/// The wire format and auth scheme a provider speaks.
public enum ProviderType: String, Sendable, Equatable, CaseIterable {
    /// OpenAI or any OpenAI-compatible server (vLLM, LM Studio, llama.cpp, Ollama's `/v1`).
    case openai
    case anthropic
    case gemini
    /// Answers in every dialect from inside the gateway, without any network: for demos and
    /// load tests, and only when chosen explicitly.
    case mock
}

/// One provider entry. The seed multi-provider format (`type`, `host`, `endpoint`, `port`,
/// `tls`, `weight`, `api_key`, `api_keys`, `auth_keys`, `health_check`) loads as is.
public struct ProviderConfig: Sendable, Equatable {
    /// A unique name used in logs, `/health` and `routing.default_provider`. Defaults to the
    /// type, suffixed with its position when several providers share a type.
    public var name: String
    public var type: ProviderType
    /// Host-header routing: requests whose `Host` equals this go to this provider. The form
    /// `name/prefix` also requires the path to start with `/prefix`, which is stripped.
    public var host: String?
    /// Where the provider lives. OpenAI's base URL includes the API version (`…/v1`);
    /// Anthropic's and Gemini's are the host root, as in their official SDKs.
    public var baseURL: String
    /// Relative weight among the providers that can serve a request. Must be > 0. Default 1.
    public var weight: Double = 1
    /// Upstream keys with their weights: each becomes its own weighted endpoint.
    public var apiKeys: [WeightedKey] = []
    /// Client keys accepted for this provider in addition to the global ones.
    public var authKeys: [String] = []
    /// Model names or globs (`gpt-4*`) this provider serves, beside those it lists itself.
    public var models: [String] = []
    /// Fetch the provider's model list (for `/v1/models` and to learn which names it
    /// serves). Default true (false for `mock`).
    public var discoverModels = true
    public var healthCheck: HealthCheckConfig?
    /// Seconds between active health checks. Default 60.
    public var healthCheckInterval: Double = 60
    /// Extra headers sent upstream with every request (e.g. `OpenAI-Organization`).
    public var headers: [String: String] = [:]
    /// How a `mock` provider streams: number of content chunks and the pause between them.
    public var mock = MockConfig()

    public init(name: String, type: ProviderType, baseURL: String) {
        self.name = name
        self.type = type
        self.baseURL = baseURL
    }
}

public struct WeightedKey: Sendable, Equatable {
    public var key: String
    public var weight: Double

    public init(key: String, weight: Double = 1) {
        self.key = key
        self.weight = weight
    }
}

/// An active health check: the request sent to each endpoint every interval. Connection
/// failure, a non-2xx answer or a 30 s timeout marks the endpoint unhealthy.
public struct HealthCheckConfig: Sendable, Equatable {
    public var method = "GET"
    public var path: String
    public var body: String?
    public var headers: [String: String] = [:]

    public init(path: String) {
        self.path = path
    }
}

/// Behaviour of a `mock` provider's answers.
public struct MockConfig: Sendable, Equatable {
    /// Content chunks per streamed answer. Default 8.
    public var chunks = 8
    /// Milliseconds between streamed chunks. Default 20.
    public var chunkDelayMilliseconds = 20
    /// Milliseconds before the response head, to imitate a model's latency. Default 0.
    public var latencyMilliseconds = 0

    public init() {}
}
