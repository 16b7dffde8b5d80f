import ProxyConfig
import Synchronization

/// Endpoint health outlives configuration reloads: an endpoint keeps its state (breaker,
/// latency, cool-down) as long as its id (`provider#index`) exists.
package final class HealthRegistry: Sendable {
    private let entries = Mutex<[String: EndpointHealth]>([:])
    private let observer = Mutex<(@Sendable (String, CircuitBreaker.Transition) -> Void)?>(nil)

    package init() {}

    /// Who hears of breaker transitions (the log and the metrics); set once at start.
    package func observeTransitions(_ observe: @escaping @Sendable (String, CircuitBreaker.Transition) -> Void) {
        observer.withLock { $0 = observe }
    }

    /// The health of `id`, made on first use, with the breaker settings of the current
    /// configuration (nil: breaker off).
    package func health(for id: String, breaker settings: CircuitBreaker.Settings? = CircuitBreaker.Settings()) -> EndpointHealth {
        let existing: EndpointHealth? = entries.withLock { $0[id] }
        if let existing {
            existing.apply(settings)
            return existing
        }
        let created = EndpointHealth(id: id, breaker: settings) { [weak self] id, transition in self?.observer.withLock { $0 }?(id, transition) }
        return entries.withLock { entries in
            if let raced = entries[id] { return raced }
            entries[id] = created
            return created
        }
    }
}
