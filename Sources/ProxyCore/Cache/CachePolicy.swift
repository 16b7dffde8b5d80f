import Dialects
import Guards
import HTTPTypes
import NIOCore
import ProxyConfig

/// The `cache:` section read once per configuration: whether a request may be answered from
/// the cache or fill it, for how long, and under which scope.
package struct CachePolicy: Sendable {
    package let config: CacheConfig
    private let models: [(glob: Glob, override: CacheConfig.Override)]
    private let providers: [String: CacheConfig.Override]
    /// Some request may be cached: the section, a model or a provider turns it on.
    package let anyEnabled: Bool

    package init(_ config: CacheConfig, providers: [ProviderConfig]) {
        self.config = config
        models = config.models.map { (Glob($0.pattern), $0.override) }
        self.providers = Dictionary(providers.compactMap { provider in provider.cache.map { (provider.name, $0) } }, uniquingKeysWith: { first, _ in first })
        anyEnabled = config.anyEnabled(providers: providers) && config.maxBytes > 0
    }

    /// How long an answer for `model` led by `provider` stays fresh; nil when it is not cached.
    /// A model's setting wins over its provider's, which wins over the section's.
    package func ttl(model: String?, provider: String?) -> Duration? {
        var enabled = config.enabled
        var ttl = config.ttl
        if let provider, let override = providers[provider] {
            enabled = override.enabled ?? enabled
            ttl = override.ttl ?? ttl
        }
        if let model, let override = models.first(where: { $0.glob.matches(model) })?.override {
            enabled = override.enabled ?? enabled
            ttl = override.ttl ?? ttl
        }
        guard enabled, ttl > 0 else { return nil }
        return .milliseconds(Int64(ttl * 1000))
    }

    /// Whose answers a request may share (see ``CacheConfig/Scope``): "" for everyone.
    package func scope(identity: ClientIdentity?, presentedKey: String?) -> String {
        switch config.scope {
        case .global: return ""
        case .owner:
            if let identity { return "owner:" + identity.username }
            return presentedKey.map { "key:" + $0 } ?? ""
        case .key:
            if let identity { return "id:" + identity.keyID }
            return presentedKey.map { "key:" + $0 } ?? ""
        }
    }

    /// The client's headers that change what the provider answers (`anthropic-beta`,
    /// `anthropic-version`, `openai-beta`, `openai-organization`, `openai-project`,
    /// `x-goog-user-project`, any other of those families), as one text for the cache key:
    /// sorted, so their order does not matter. Never a credential (`x-goog-api-key` is the
    /// scope's business).
    package static func answerHeaders(_ headers: HTTPFields) -> String {
        var parts: [String] = []
        for field in headers {
            let name = field.name.canonicalName
            guard name.hasPrefix("anthropic-") || name.hasPrefix("openai-") || name.hasPrefix("x-goog-"), name != "x-goog-api-key" else { continue }
            parts.append(name + ":" + field.value)
        }
        return parts.sorted().joined(separator: "\n")
    }

    /// What the client's `Cache-Control` allows: `no-store` (neither read nor keep) and
    /// `no-cache` or `max-age=0` (a fresh answer, which is then kept).
    package struct Directives: Equatable, Sendable {
        package var noStore = false
        package var noCache = false

        package init(_ headers: HTTPFields) {
            for value in headers[values: .cacheControl] {
                for part in value.split(separator: ",") {
                    let token = part.trimmingSpaces().lowercased()
                    if token == "no-store" { noStore = true }
                    if token == "no-cache" || token == "max-age=0" { noCache = true }
                }
            }
        }
    }
}

extension Operation {
    /// Answers that depend on the request alone: generation, embeddings, token counts. Not
    /// the Responses API (its answers are stored upstream and referenced by id), passthroughs
    /// or listings.
    package var isCacheable: Bool {
        switch kind {
        case .chatCompletions, .completions, .embeddings, .messages, .countTokens, .generateContent, .streamGenerateContent, .geminiCountTokens,
            .embedContent:
            return true
        default: return false
        }
    }
}
