import Synchronization

/// Endpoint health outlives configuration reloads: an endpoint keeps its state as long as
/// its id (`provider#index`) exists.
package final class HealthRegistry: Sendable {
    private let entries = Mutex<[String: EndpointHealth]>([:])

    package init() {}

    package func health(for id: String) -> EndpointHealth {
        entries.withLock { entries in
            if let existing = entries[id] { return existing }
            let created = EndpointHealth()
            entries[id] = created
            return created
        }
    }
}
