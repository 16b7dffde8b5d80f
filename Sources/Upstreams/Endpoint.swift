import Dialects
import ProxyConfig
import Synchronization

/// One place a request can be sent: a provider's base URL with one of its upstream keys.
/// A provider with three keys has three endpoints, balanced by their weights.
package final class Endpoint: Sendable {
    /// `provider#index`, stable for a configuration; used in logs and `/health`.
    package let id: String
    package let providerName: String
    package let type: ProviderType
    package let baseURL: UpstreamURL
    /// The upstream credential, injected per dialect. Never logged.
    package let apiKey: String?
    /// Share of its provider's traffic among all candidates: provider weight × key share.
    package let weight: Double
    package let health: EndpointHealth
    /// A digest of `id`, for prompt-cache affinity's rendezvous hashing.
    package let idHash: UInt64

    package init(id: String, providerName: String, type: ProviderType, baseURL: UpstreamURL, apiKey: String?, weight: Double, health: EndpointHealth = EndpointHealth()) {
        self.id = id
        self.providerName = providerName
        self.type = type
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.weight = weight
        self.health = health
        self.idHash = PrefixHash.of(session: id)
    }
}
