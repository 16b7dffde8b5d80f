import Dialects
import ProxyConfig

/// Where one request goes: the candidate providers (balanced by weight), the model name to
/// send upstream when routing rewrote it, and the path after any host prefix was stripped.
package struct RouteDecision: Sendable {
    package var providers: [Provider]
    /// Set when the upstream must receive a different model name than the client sent
    /// (an alias, or `engine/model`).
    package var upstreamModel: String?
    package var path: String
    /// Which rule matched, for logs: `host`, `alias`, `engine`, `model`, `learnt`, `glob`,
    /// `prefix`, `mock`, `default_model`, `default_provider`.
    package var rule: String

    package init(providers: [Provider], upstreamModel: String?, path: String, rule: String) {
        self.providers = providers
        self.upstreamModel = upstreamModel
        self.path = path
        self.rule = rule
    }
}

/// The routing decision, as a pure function of an immutable configuration snapshot plus
/// what the model catalog has learnt. Order: Host header (+ prefix), then the client's
/// dialect, then the model (alias, `engine/model`, exact, learnt, glob, well-known prefix),
/// then the configured defaults.
package final class RouteTable: Sendable {
    package let providers: [Provider]
    let byName: [String: Provider]
    let aliases: [String: String]
    let defaultModel: String?
    let defaultProvider: String?
    let catalog: ModelCatalog

    package init(providers: [Provider], routing: RoutingConfig, catalog: ModelCatalog) {
        self.providers = providers
        self.byName = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.aliases = routing.aliases
        self.defaultModel = routing.defaultModel
        self.defaultProvider = routing.defaultProvider
        self.catalog = catalog
    }

    package func provider(named name: String) -> Provider? { byName[name] }

    /// Providers bound to the request's `Host` (and path prefix), with the path the upstream
    /// should see. nil when no provider is host-routed to this host and path.
    package func hostMatch(host: String?, path: String) -> (providers: [Provider], path: String)? {
        guard let host, !host.isEmpty else { return nil }
        var name = host.lowercased()
        if name.hasPrefix("[") {
            if let close = name.firstIndex(of: "]") { name = String(name[name.index(after: name.startIndex)..<close]) }
        } else if let colon = name.lastIndex(of: ":") {
            name = String(name[..<colon])
        }
        var withPrefix: [Provider] = [], bare: [Provider] = []
        var prefix: String?
        for provider in providers where provider.hostName == name {
            if let p = provider.hostPathPrefix {
                if path == p || path.hasPrefix(p + "/") {
                    if prefix == nil || prefix == p {
                        withPrefix.append(provider)
                        prefix = p
                    }
                }
            } else {
                bare.append(provider)
            }
        }
        if let prefix, !withPrefix.isEmpty {
            let stripped = String(path.dropFirst(prefix.count))
            return (withPrefix, stripped.isEmpty ? "/" : stripped)
        }
        return bare.isEmpty ? nil : (bare, path)
    }

    /// Decides where a request goes. `model` is the name the client sent (body or path).
    package func resolve(dialect: Dialect, host: String?, path: String, model: String?, translatable: Bool = false) -> Result<RouteDecision, GatewayError> {
        resolve(dialect: dialect, hostMatch: hostMatch(host: host, path: path), path: path, model: model, translatable: translatable)
    }

    /// As ``resolve(dialect:host:path:model:)``, with the host match already computed (the
    /// planner needs it first, to classify the path after a host prefix is stripped).
    /// `translatable`: the operation is a chat the gateway translates, so a provider of any
    /// dialect can serve it.
    package func resolve(
        dialect: Dialect, hostMatch: (providers: [Provider], path: String)?, path: String, model: String?, translatable: Bool = false
    ) -> Result<RouteDecision, GatewayError> {
        if let match = hostMatch {
            let usable = match.providers.filter { translatable || $0.speaks(dialect) }
            guard !usable.isEmpty else {
                return .failure(.modelNotFound(model, detail: "the provider for this host does not speak the \(dialect.displayName) API"))
            }
            let rewritten = model.flatMap { aliases[$0] }
            return .success(RouteDecision(providers: usable, upstreamModel: rewritten, path: match.path, rule: "host"))
        }

        if let model, !model.isEmpty {
            switch byModel(model, dialect: dialect, translatable: translatable) {
            case .found(var decision):
                decision.path = path
                return .success(decision)
            case .wrongDialect(let providerNames):
                return .failure(
                    .modelNotFound(
                        model,
                        detail:
                            "it is served by \(providerNames.joined(separator: ", ")), which does not speak the \(dialect.displayName) API; call it through /v1/chat/completions"))
            case .none: break
            }
        }
        if let fallback = defaultModel, fallback != model, case .found(var decision) = byModel(fallback, dialect: dialect, translatable: translatable) {
            decision.path = path
            decision.rule = "default_model"
            if model == nil || model?.isEmpty == true { decision.upstreamModel = decision.upstreamModel ?? fallback } else { decision.upstreamModel = nil }
            return .success(decision)
        }
        if let name = defaultProvider, let provider = byName[name], translatable || provider.speaks(dialect) {
            return .success(RouteDecision(providers: [provider], upstreamModel: nil, path: path, rule: "default_provider"))
        }
        return .failure(.modelNotFound(model))
    }

    enum ModelMatch {
        case found(RouteDecision)
        case wrongDialect([String])
        case none
    }

    func byModel(_ requested: String, dialect: Dialect, translatable: Bool = false) -> ModelMatch {
        var rule = "model"
        var model = requested
        var rewritten: String?
        if let target = aliases[requested] {
            model = target
            rewritten = target
            rule = "alias"
        }
        var matchedButWrongDialect: [String] = []
        func accept(_ found: [Provider], _ rule: String, upstreamModel: String?) -> ModelMatch? {
            guard !found.isEmpty else { return nil }
            let usable = found.filter { translatable || $0.speaks(dialect) }
            if usable.isEmpty {
                matchedButWrongDialect += found.map(\.name)
                return nil
            }
            return .found(RouteDecision(providers: usable, upstreamModel: upstreamModel, path: "", rule: rule))
        }

        // `engine/model` and `flm://engine/model`: the part before the first slash names a
        // provider. Checked first only when that name is a provider, since model ids may
        // contain slashes themselves (`meta-llama/Llama-3-8B`).
        var scoped = model
        if scoped.hasPrefix("flm://") { scoped = String(scoped.dropFirst(6)) }
        if let slash = scoped.utf8.firstIndex(of: UInt8(ascii: "/")) {
            let engine = String(scoped[..<slash])
            let rest = String(scoped[scoped.utf8.index(after: slash)...])
            if let provider = byName[engine] ?? byName["\(engine)-default"], !rest.isEmpty,
                let match = accept([provider], "engine", upstreamModel: rest)
            {
                return match
            }
        }
        if let match = accept(providers.filter { $0.modelNames.contains(model) }, rule, upstreamModel: rewritten) { return match }
        let learnt = catalog.providers(listing: model).compactMap { byName[$0] }.filter { $0.discoverModels }
        if let match = accept(learnt, rule == "alias" ? rule : "learnt", upstreamModel: rewritten) { return match }
        if let match = accept(providers.filter { p in p.modelGlobs.contains { $0.matches(model) } }, rule == "alias" ? rule : "glob", upstreamModel: rewritten) { return match }
        if let type = Self.wellKnownType(of: model),
            let match = accept(providers.filter { $0.type == type && $0.isCatchAll }, rule == "alias" ? rule : "prefix", upstreamModel: rewritten)
        {
            return match
        }
        if let match = accept(providers.filter { $0.type == .mock && $0.isCatchAll }, "mock", upstreamModel: rewritten) { return match }
        return matchedButWrongDialect.isEmpty ? .none : .wrongDialect(matchedButWrongDialect)
    }

    /// The provider type a well-known model-name prefix belongs to.
    package static func wellKnownType(of model: String) -> ProviderType? {
        let lower = model.lowercased()
        if lower.hasPrefix("gpt-") || lower.hasPrefix("o1") || lower.hasPrefix("o3") || lower.hasPrefix("o4")
            || lower.hasPrefix("text-embedding-") || lower.hasPrefix("chatgpt-") || lower.hasPrefix("dall-e")
            || lower.hasPrefix("whisper") || lower.hasPrefix("tts-") || lower.hasPrefix("omni-moderation")
        {
            return .openai
        }
        if lower.hasPrefix("claude-") { return .anthropic }
        if lower.hasPrefix("gemini-") || lower.hasPrefix("models/gemini-") {
            return .gemini
        }
        return nil
    }
}

extension Dialect {
    package var displayName: String {
        switch self {
        case .openai: return "OpenAI"
        case .anthropic: return "Anthropic Messages"
        case .gemini: return "Gemini"
        }
    }
}
