/// The wire format and auth scheme a provider speaks.
///
package enum ProviderType: String, Sendable, Equatable, CaseIterable {
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
///
package struct ProviderConfig: Sendable, Equatable {
    /// A unique name used in logs, `/health` and `routing.default_provider`. Defaults to the
    /// type, suffixed with its position when several providers share a type.
    package var name: String
    package var type: ProviderType
    /// Host-header routing: requests whose `Host` equals this go to this provider. The form
    /// `name/prefix` also requires the path to start with `/prefix`, which is stripped.
    package var host: String?
    /// Where the provider lives. OpenAI's base URL includes the API version (`…/v1`);
    /// Anthropic's and Gemini's are the host root, as in their official SDKs.
    package var baseURL: String
    /// Relative weight among the providers that can serve a request. Must be > 0. Default 1.
    package var weight: Double = 1
    /// Overrides `routing.balancing` for the routes this provider leads. nil: the global one.
    package var balancing: Balancing?
    /// Overrides `routing.affinity` for the routes this provider leads.
    package var affinity: Affinity?
    /// Overrides the `cache` section for requests this provider leads (`{enabled, ttl}`).
    package var cache: CacheConfig.Override?
    /// Overrides `resilience.retries.max_attempts` and `total_timeout` for the routes this
    /// provider leads.
    package var retries: RetryConfig.Override?
    /// Models tried in order when every endpoint of a route this provider leads fails, for a
    /// model without its own chain in `routing.fallbacks`.
    package var fallbacks: [String] = []
    /// Upstream keys with their weights: each becomes its own weighted endpoint.
    package var apiKeys: [WeightedKey] = []
    /// Client keys accepted for this provider in addition to the global ones.
    package var authKeys: [String] = []
    /// Model names or globs (`gpt-4*`) this provider serves, beside those it lists itself.
    package var models: [String] = []
    /// Fetch the provider's model list (for `/v1/models` and to learn which names it
    /// serves). Default true (false for `mock`).
    package var discoverModels = true
    package var healthCheck: HealthCheckConfig?
    /// Seconds between active health checks. Default 60.
    package var healthCheckInterval: Double = 60
    /// Extra headers sent upstream with every request (e.g. `OpenAI-Organization`).
    package var headers: [String: String] = [:]
    /// How a `mock` provider streams: number of content chunks and the pause between them.
    package var mock = MockConfig()
    /// `openai` providers: whether the server implements the Responses API (`/v1/responses`).
    /// When true (the default) Responses requests pass through untouched; when false (many
    /// local engines) they are translated to Chat Completions.
    package var responsesAPI = true
    /// `anthropic` and `gemini` providers: send OpenAI Chat clients to the provider's own
    /// OpenAI-compatible endpoint untranslated, instead of translating them to its native API
    /// (the default, which keeps features such as thinking, signatures and cache counts).
    package var openAICompatible = false

    package init(name: String, type: ProviderType, baseURL: String) {
        self.name = name
        self.type = type
        self.baseURL = baseURL
    }
}

package struct WeightedKey: Sendable, Equatable {
    package var key: String
    package var weight: Double

    package init(key: String, weight: Double = 1) {
        self.key = key
        self.weight = weight
    }
}

/// An active health check: the request sent to each endpoint every interval. Connection
/// failure, a non-2xx answer or a 30 s timeout marks the endpoint unhealthy.
///
package struct HealthCheckConfig: Sendable, Equatable {
    package var method = "GET"
    package var path: String
    package var body: String?
    package var headers: [String: String] = [:]

    package init(path: String) {
        self.path = path
    }
}

/// Behaviour of a `mock` provider's answers.
///
package struct MockConfig: Sendable, Equatable {
    /// Content chunks per streamed answer. Default 8.
    package var chunks = 8
    /// Milliseconds between streamed chunks. Default 20.
    package var chunkDelayMilliseconds = 20
    /// Milliseconds before the response head, to imitate a model's latency. Default 0.
    package var latencyMilliseconds = 0

    package init() {}
}
