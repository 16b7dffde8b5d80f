import ProxyConfig

/// What the upstream monitor reads and writes of the gateway's state, so that Upstreams
/// need not know the state itself (the engine's `StateStore` conforms, in ProxyCore).
///
/// A reload and a discovery round may race: `replaceEngines(with:)` must derive the next
/// state from the current one atomically, keeping whatever configuration a reload just
/// installed, and the monitor must read each snapshot whole, not field by field.
package protocol UpstreamDirectory: Sendable {
    /// The current discovery settings, discovered engines and routed providers, read
    /// together from one state.
    var upstreams: MonitoredUpstreams { get }

    /// Swaps in another set of discovered engines and returns the snapshots before and after.
    @discardableResult
    func replaceEngines(with engines: [ProviderConfig]) -> (old: MonitoredUpstreams, new: MonitoredUpstreams)
}

/// One consistent view of what the monitor looks after.
package struct MonitoredUpstreams: Sendable {
    /// `discovery` of the configuration in force.
    package var discovery: DiscoveryConfig
    /// Engines local discovery found that are part of the routes.
    package var engines: [ProviderConfig]
    /// Every provider requests are routed to, discovered engines and target URLs included.
    package var providers: [Provider]

    package init(discovery: DiscoveryConfig, engines: [ProviderConfig], providers: [Provider]) {
        self.discovery = discovery
        self.engines = engines
        self.providers = providers
    }
}
