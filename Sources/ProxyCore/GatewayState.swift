import Dialects
import Guards
import ProxyConfig
import Synchronization
import Upstreams

/// Everything a request needs, built from one configuration (plus discovered engines) and
/// never changed afterwards. A request reads the current state once and keeps it to the end,
/// so a reload never changes the rules under a request in flight.
package final class GatewayState: Sendable {
    package let config: GatewayConfig
    package let routes: RouteTable
    package let authenticator: ClientAuthenticator
    package let responseHeaders: ResponseHeaderPolicy
    package let publicPaths: Set<String>
    /// `server.trusted_proxies`, parsed once.
    package let trustedProxies: [CIDR]
    /// Engines found by local discovery that are part of this state.
    package let engines: [ProviderConfig]
    /// What outlives configurations: managed keys, guards installed by the embedder.
    package let environment: EngineEnvironment
    /// The admission guards for this configuration, cheapest first, built once.
    package let guards: GuardChain
    /// Where tunnel requests may go (the providers' origins and `tunnel.allow_hosts`).
    package let tunnelTargets: TunnelTargets

    /// What models cost (`pricing`), for every request's cost and money budgets.
    package let pricing: PriceTable

    /// `resilience.retries`, read once.
    package let retryPolicy: RetryPolicy
    /// The bounds of routes whose provider has its own (`providers[].retries`), by provider.
    private let routeRetryPolicies: [String: RetryPolicy]
    /// `cache`, read once; the answers themselves are in ``EngineEnvironment/cache``.
    package let cachePolicy: CachePolicy

    package let catalog: ModelCatalog
    package let health: HealthRegistry

    package init(
        config: GatewayConfig, engines: [ProviderConfig], catalog: ModelCatalog, health: HealthRegistry,
        environment: EngineEnvironment = EngineEnvironment()
    ) {
        self.config = config
        self.catalog = catalog
        self.health = health
        self.engines = engines
        self.retryPolicy = RetryPolicy(config.resilience.retries)
        self.environment = environment
        cachePolicy = CachePolicy(config.cache, providers: config.providers)
        // The answers outlive the configuration; a reload only changes how much they may take.
        environment.cache.setLimit(cachePolicy.anyEnabled ? config.cache.maxBytes : 0)
        environment.cache.setReplicating(cachePolicy.anyEnabled && config.cache.store && config.database.enabled)
        let breaker = config.resilience.breaker.enabled ? CircuitBreaker.Settings(config.resilience.breaker) : nil
        let healthFor: (String) -> EndpointHealth = { health.health(for: $0, breaker: breaker) }
        // A provider's own balancing and affinity, else the routing section's.
        func routed(_ provider: ProviderConfig) -> ProviderConfig {
            var provider = provider
            provider.balancing = provider.balancing ?? config.routing.balancing
            provider.affinity = provider.affinity ?? config.routing.affinity
            return provider
        }
        var providers = config.providers.map { Provider(config: routed($0), healthFor: healthFor) }
        providers += engines.map { Provider(config: routed($0), isDiscoveredEngine: true, healthFor: healthFor) }
        providers += config.targetURLs.enumerated().map { index, target in
            var provider = ProviderConfig(name: "target-\(index)", type: .openai, baseURL: target.url)
            provider.apiKeys = target.apiKey.map { [WeightedKey(key: $0)] } ?? []
            provider.discoverModels = true
            return Provider(config: routed(provider), isDiscoveredEngine: true, healthFor: healthFor)
        }
        routes = RouteTable(providers: providers, routing: config.routing, catalog: catalog)
        routeRetryPolicies = Dictionary(
            providers.compactMap { provider in provider.retries.map { (provider.name, RetryPolicy(config.resilience.retries.applying($0))) } },
            uniquingKeysWith: { first, _ in first })
        tunnelTargets = TunnelTargets(providers: providers, config: config.tunnel)
        authenticator = ClientAuthenticator(
            globalKeys: config.auth.keys,
            providerKeys: Dictionary(config.providers.map { ($0.name, $0.authKeys) }, uniquingKeysWith: { $0 + $1 })
        )
        responseHeaders = ResponseHeaderPolicy(config.server.responseHeaderFilter)
        var paths = Set(config.server.publicPaths)
        if config.server.authHealthCheck { paths.subtract(["/health", "/health/live", "/health/ready"]) }
        publicPaths = paths
        trustedProxies = config.server.trustedProxies.compactMap(CIDR.init)
        pricing = PriceTable(
            configured: config.pricing.models.map {
                PriceTable.Entry(pattern: $0.pattern, price: ModelPrice(input: $0.input, output: $0.output, cachedInput: $0.cachedInput, reasoning: $0.reasoning))
            }, defaults: config.pricing.builtIn)
        guards = GuardChain.standard(
            config: config, authenticator: authenticator, keys: environment.keys, publicPaths: paths, limits: environment.limits,
            pricing: pricing, extra: environment.extraGuards)
    }
}

extension GatewayState {
    /// The retry bounds of a route led by `provider`: its own, else `resilience.retries`.
    package func retryPolicy(leading provider: Provider?) -> RetryPolicy {
        provider.flatMap { routeRetryPolicies[$0.name] } ?? retryPolicy
    }

    /// The same engines, catalog, health and environment under a new configuration.
    package func rebuilt(with config: GatewayConfig) -> GatewayState {
        GatewayState(config: config, engines: engines, catalog: catalog, health: health, environment: environment)
    }

    /// The same configuration with another set of discovered engines.
    package func rebuilt(engines: [ProviderConfig]) -> GatewayState {
        GatewayState(config: config, engines: engines, catalog: catalog, health: health, environment: environment)
    }
}

/// The parts of the engine's world that are not configuration and survive reloads.
package struct EngineEnvironment: Sendable {
    /// Managed keys (nil when the database is off).
    package var keys: ManagedKeyIndex?
    /// Guards an embedder (or a test) adds after the standard ones.
    package var extraGuards: [any AdmissionGuard]
    /// Rate-limit counters, budget ledger and shedder: kept across reloads.
    package var limits: LimitState
    /// The exact response cache's answers: kept across reloads.
    package var cache: ResponseCache
    /// Paths the engine does not answer (admin, health, metrics, UI): the driver hands them
    /// to the HTTP application as they came.
    package var isLocalSurface: @Sendable (String) -> Bool
    /// Starts every request's span when tracing is on (`tracing`, read at start); nil when off.
    package var tracer: (any RequestTracer)?

    package init(
        keys: ManagedKeyIndex? = nil, extraGuards: [any AdmissionGuard] = [], limits: LimitState = LimitState(),
        cache: ResponseCache = ResponseCache(), isLocalSurface: @escaping @Sendable (String) -> Bool = { _ in false },
        tracer: (any RequestTracer)? = nil
    ) {
        self.tracer = tracer
        self.keys = keys
        self.limits = limits
        self.cache = cache
        self.extraGuards = extraGuards
        self.isLocalSurface = isLocalSurface
    }
}

/// Holds the current ``GatewayState`` and swaps it atomically.
package final class StateStore: Sendable {
    private let current: Mutex<GatewayState>

    package init(_ state: GatewayState) {
        current = Mutex(state)
    }

    package var state: GatewayState { current.withLock { $0 } }

    package func replace(with state: GatewayState) {
        current.withLock { $0 = state }
    }

    /// Derives the next state from the current one under the lock, so a reload and an
    /// engine-discovery update that race cannot undo each other.
    @discardableResult
    package func update(_ next: (GatewayState) -> GatewayState) -> (old: GatewayState, new: GatewayState) {
        current.withLock { state in
            let old = state
            state = next(old)
            return (old, state)
        }
    }
}
