import ProxyConfig
import Upstreams

/// The upstream monitor's view of the state: it finds engines, refreshes model lists and
/// checks health through this, without depending on the engine.
extension StateStore: UpstreamDirectory {
    package var upstreams: MonitoredUpstreams { MonitoredUpstreams(state) }

    /// Under the store's lock (``update(_:)``), so a reload racing a discovery round keeps
    /// both the new configuration and the new engines.
    @discardableResult
    package func replaceEngines(with engines: [ProviderConfig]) -> (old: MonitoredUpstreams, new: MonitoredUpstreams) {
        let (old, new) = update { $0.rebuilt(engines: engines) }
        return (MonitoredUpstreams(old), MonitoredUpstreams(new))
    }
}

extension MonitoredUpstreams {
    init(_ state: GatewayState) {
        self.init(discovery: state.config.discovery, engines: state.engines, providers: state.routes.providers)
    }
}
