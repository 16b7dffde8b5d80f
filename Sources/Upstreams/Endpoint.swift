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

    package init(id: String, providerName: String, type: ProviderType, baseURL: UpstreamURL, apiKey: String?, weight: Double, health: EndpointHealth = EndpointHealth()) {
        self.id = id
        self.providerName = providerName
        self.type = type
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.weight = weight
        self.health = health
    }
}

/// Health of one endpoint from two sources: the active checker's verdict, and passive
/// ejection after failures on live traffic (a short breaker, so an endpoint without active
/// checks is retried after a cool-down instead of being lost for good).
///
/// Read on every request: atomics only, no lock.
package final class EndpointHealth: Sendable {
    private let activeHealthy = Atomic<Bool>(true)
    private let ejectedUntilNanos = Atomic<UInt64>(0)
    private let consecutiveFailures = Atomic<Int>(0)
    /// Smoothed time to the response head, in microseconds (0 = none yet).
    private let latencyMicros = Atomic<UInt64>(0)
    private let lastErrorBox = Mutex<String?>(nil)

    package init() {}

    package func isAvailable(now: ContinuousClock.Instant = .now) -> Bool {
        activeHealthy.load(ordering: .relaxed) && Self.nanos(now) >= ejectedUntilNanos.load(ordering: .relaxed)
    }

    package var isActiveHealthy: Bool { activeHealthy.load(ordering: .relaxed) }
    package var lastError: String? { lastErrorBox.withLock { $0 } }
    package var isEjected: Bool { Self.nanos(.now) < ejectedUntilNanos.load(ordering: .relaxed) }

    /// The active checker's result.
    package func recordCheck(healthy: Bool, error: String?) {
        activeHealthy.store(healthy, ordering: .relaxed)
        if healthy {
            consecutiveFailures.store(0, ordering: .relaxed)
            ejectedUntilNanos.store(0, ordering: .relaxed)
        } else {
            lastErrorBox.withLock { $0 = error }
        }
    }

    /// A live request reached the upstream and got an answer (any status below 500).
    /// Folds one time-to-first-byte into the moving average (weight 1/8, as TCP's SRTT).
    /// Lock-free; a lost update under a race only skips one sample.
    package func recordLatency(_ duration: Duration) {
        let (seconds, atto) = duration.components
        let sample = UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, atto)) / 1_000_000_000_000
        let old = latencyMicros.load(ordering: .relaxed)
        latencyMicros.store(old == 0 ? max(sample, 1) : (old * 7 + sample) / 8, ordering: .relaxed)
    }

    /// The smoothed time to first byte in milliseconds, nil before the first answer.
    package var latencyMs: Double? {
        let micros = latencyMicros.load(ordering: .relaxed)
        return micros == 0 ? nil : Double(micros) / 1000
    }

    package func recordSuccess() {
        if consecutiveFailures.load(ordering: .relaxed) != 0 { consecutiveFailures.store(0, ordering: .relaxed) }
    }

    /// A live request failed to connect, timed out, or got a 5xx. After `threshold` failures
    /// in a row the endpoint is ejected for `cooldown`.
    package func recordFailure(_ error: String, threshold: Int = 3, cooldown: Duration = .seconds(10)) {
        lastErrorBox.withLock { $0 = error }
        let failures = consecutiveFailures.add(1, ordering: .relaxed).newValue
        if failures >= threshold {
            ejectedUntilNanos.store(Self.nanos(.now.advanced(by: cooldown)), ordering: .relaxed)
            consecutiveFailures.store(0, ordering: .relaxed)
        }
    }

    static let origin = ContinuousClock.now
    static func nanos(_ instant: ContinuousClock.Instant) -> UInt64 {
        let d = instant - origin
        let (s, atto) = d.components
        return UInt64(max(0, s)) &* 1_000_000_000 &+ UInt64(max(0, atto) / 1_000_000_000)
    }
}
