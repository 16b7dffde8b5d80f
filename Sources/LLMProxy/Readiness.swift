import ProxyCore
import Synchronization

/// Whether the gateway should receive traffic: false while it drains for shutdown.
package final class Readiness: Sendable {
    private let draining = Atomic<Bool>(false)

    package init() {}

    package var isDraining: Bool { draining.load(ordering: .relaxed) }

    package func startDraining() { draining.store(true, ordering: .relaxed) }
}
