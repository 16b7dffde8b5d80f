import Dialects
import ProxyConfig

/// A provider as the router sees it: what it serves, how it is reached, and its endpoints.
/// Built once per configuration snapshot; immutable afterwards (health lives in endpoints).
package final class Provider: Sendable {
    package let name: String
    package let type: ProviderType
    package let baseURL: UpstreamURL
    /// `Host` header this provider answers (lowercased, without port), if host-routed.
    package let hostName: String?
    /// Path prefix required (and stripped) under `hostName`, like `/openai`.
    package let hostPathPrefix: String?
    package let weight: Double
    /// How requests choose among the endpoints of the routes this provider leads.
    package let balancing: Balancing
    /// Prompt-cache affinity for the routes this provider leads.
    package let affinity: Affinity
    /// Retry bounds of the routes this provider leads, over `resilience.retries`.
    package let retries: RetryConfig.Override?
    /// The fallback chain of the routes this provider leads (after `routing.fallbacks`).
    package let fallbacks: [String]
    /// Exact model names from the configuration.
    package let modelNames: Set<String>
    /// Glob patterns from the configuration (`gpt-4*`).
    package let modelGlobs: [Glob]
    /// Serves any model of its type's well-known prefixes: a provider configured with no
    /// model list and not a discovered engine.
    package let isCatchAll: Bool
    package let discoverModels: Bool
    package let endpoints: [Endpoint]
    package let authKeys: [String]
    package let extraHeaders: [(String, String)]
    package let healthCheck: HealthCheckConfig?
    package let healthCheckInterval: Double
    /// Set for engines found by local discovery.
    package let isDiscoveredEngine: Bool
    /// How a `mock` provider answers.
    package let mock: MockConfig
    /// See ``ProviderConfig/responsesAPI``.
    package let responsesAPI: Bool
    /// See ``ProviderConfig/openAICompatible``.
    package let openAICompatible: Bool

    /// - Parameter publicOnly: connections must end at public addresses (``UpstreamURL/publicOnly``).
    package init(
        config: ProviderConfig, isDiscoveredEngine: Bool = false, publicOnly: Bool = false,
        healthFor: (String) -> EndpointHealth = { _ in EndpointHealth() }
    ) {
        name = config.name
        type = config.type
        var parsed = UpstreamURL(config.baseURL) ?? UpstreamURL("mock://local")!
        parsed.publicOnly = publicOnly
        baseURL = parsed
        if let host = config.host {
            let parts = host.split(separator: "/", maxSplits: 1)
            var name = String(parts[0]).lowercased()
            if let colon = name.lastIndex(of: ":"), !name.hasPrefix("[") { name = String(name[..<colon]) }
            hostName = name
            hostPathPrefix = parts.count > 1 ? "/" + String(parts[1]).trimmingAll("/") : nil
        } else {
            hostName = nil
            hostPathPrefix = nil
        }
        weight = config.weight
        balancing = config.balancing ?? .weighted
        affinity = config.affinity ?? .off
        retries = config.retries
        fallbacks = config.fallbacks
        modelNames = Set(config.models.filter { !Glob.isPattern($0) })
        modelGlobs = config.models.filter(Glob.isPattern).map(Glob.init)
        isCatchAll = config.models.isEmpty && !isDiscoveredEngine
        discoverModels = config.discoverModels
        authKeys = config.authKeys
        extraHeaders = config.headers.sorted { $0.key < $1.key }
        healthCheck = config.healthCheck
        healthCheckInterval = config.healthCheckInterval
        self.isDiscoveredEngine = isDiscoveredEngine
        mock = config.mock
        responsesAPI = config.responsesAPI
        openAICompatible = config.openAICompatible

        let keys = config.apiKeys.isEmpty ? [WeightedKey?.none] : config.apiKeys.map { Optional($0) }
        let totalKeyWeight = config.apiKeys.reduce(0) { $0 + $1.weight }
        let base = baseURL
        endpoints = keys.enumerated().map { index, key in
            let id = "\(config.name)#\(index)"
            let share = key.map { totalKeyWeight > 0 ? $0.weight / totalKeyWeight : 1 } ?? 1
            return Endpoint(
                id: id, providerName: config.name, type: config.type, baseURL: base, apiKey: key?.key,
                weight: config.weight * share, health: healthFor(id))
        }
    }

    /// Whether a client of `dialect` can be served by this provider without translation.
    /// OpenAI clients reach Anthropic and Gemini through their OpenAI-compatible endpoints.
    package func speaks(_ dialect: Dialect) -> Bool {
        switch (type, dialect) {
        case (.mock, _), (_, .openai): return true
        case (.anthropic, .anthropic), (.gemini, .gemini): return true
        default: return false
        }
    }

    /// The shape a request of `client` format is sent in: the same (untranslated) or the
    /// provider's native one. nil for operations translation does not cover, which go out as
    /// they came. The mock answers every dialect itself.
    package func upstreamFormat(for client: WireFormat?) -> WireFormat? {
        guard let client else { return nil }
        switch type {
        case .mock: return client
        case .openai:
            if client == .openAIResponses { return responsesAPI ? .openAIResponses : .openAIChat }
            return .openAIChat
        case .anthropic:
            return client == .openAIChat && openAICompatible ? .openAIChat : .anthropicMessages
        case .gemini:
            return client == .openAIChat && openAICompatible ? .openAIChat : .gemini
        }
    }

    /// Whether the configuration names `model` for this provider (exactly or by glob).
    package func configuredToServe(_ model: String) -> Bool {
        modelNames.contains(model) || modelGlobs.contains { $0.matches(model) }
    }
}

extension String {
    func trimmingAll(_ character: Character) -> String {
        var slice = Substring(self)
        while let first = slice.first, first == character { slice.removeFirst() }
        while let last = slice.last, last == character { slice.removeLast() }
        return String(slice)
    }
}
