import Dialects
import Guards
import ProxyConfig
import Synchronization
import Upstreams

/// Everything a request needs, built from one configuration (plus discovered engines) and
/// never changed afterwards. A request reads the current state once and keeps it to the end,
/// so a reload never changes the rules under a request in flight.
public final class GatewayState: Sendable {
    public let config: GatewayConfig
    public let routes: RouteTable
    public let authenticator: ClientAuthenticator
    public let responseHeaders: ResponseHeaderPolicy
    let publicPaths: Set<String>
    /// `server.trusted_proxies`, parsed once.
    let trustedProxies: [CIDR]
    /// Engines found by local discovery that are part of this state.
    public let engines: [ProviderConfig]

    let catalog: ModelCatalog
    let health: HealthRegistry

    public init(config: GatewayConfig, engines: [ProviderConfig], catalog: ModelCatalog, health: HealthRegistry) {
        self.config = config
        self.catalog = catalog
        self.health = health
        self.engines = engines
        var providers = config.providers.map { Provider(config: $0, healthFor: health.health(for:)) }
        providers += engines.map { Provider(config: $0, isDiscoveredEngine: true, healthFor: health.health(for:)) }
        providers += config.targetURLs.enumerated().map { index, target in
            var provider = ProviderConfig(name: "target-\(index)", type: .openai, baseURL: target.url)
            provider.apiKeys = target.apiKey.map { [WeightedKey(key: $0)] } ?? []
            provider.discoverModels = true
            return Provider(config: provider, isDiscoveredEngine: true, healthFor: health.health(for:))
        }
        routes = RouteTable(providers: providers, routing: config.routing, catalog: catalog)
        authenticator = ClientAuthenticator(
            globalKeys: config.auth.keys,
            providerKeys: Dictionary(config.providers.map { ($0.name, $0.authKeys) }, uniquingKeysWith: { $0 + $1 })
        )
        responseHeaders = ResponseHeaderPolicy(config.server.responseHeaderFilter)
        var paths = Set(config.server.publicPaths)
        if config.server.authHealthCheck { paths.subtract(["/health", "/health/live", "/health/ready"]) }
        publicPaths = paths
        trustedProxies = config.server.trustedProxies.compactMap(CIDR.init)
    }
}

extension GatewayState {
    /// The same engines, catalog and health under a new configuration.
    func rebuilt(with config: GatewayConfig) -> GatewayState {
        GatewayState(config: config, engines: engines, catalog: catalog, health: health)
    }
}

/// Endpoint health outlives configuration reloads: an endpoint keeps its state as long as
/// its id (`provider#index`) exists.
public final class HealthRegistry: Sendable {
    private let entries = Mutex<[String: EndpointHealth]>([:])

    public init() {}

    public func health(for id: String) -> EndpointHealth {
        entries.withLock { entries in
            if let existing = entries[id] { return existing }
            let created = EndpointHealth()
            entries[id] = created
            return created
        }
    }
}

/// Holds the current ``GatewayState`` and swaps it atomically.
public final class StateStore: Sendable {
    private let current: Mutex<GatewayState>

    public init(_ state: GatewayState) {
        current = Mutex(state)
    }

    public var state: GatewayState { current.withLock { $0 } }

    public func replace(with state: GatewayState) {
        current.withLock { $0 = state }
    }

    /// Derives the next state from the current one under the lock, so a reload and an
    /// engine-discovery update that race cannot undo each other.
    @discardableResult
    func update(_ next: (GatewayState) -> GatewayState) -> (old: GatewayState, new: GatewayState) {
        current.withLock { state in
            let old = state
            state = next(old)
            return (old, state)
        }
    }
}
