import ProxyConfig
import Synchronization

/// Health of one endpoint from three sources: the active checker's verdict, the circuit
/// breaker fed by live outcomes (``CircuitBreaker``), and a cool-down the upstream asked for
/// (a 429 or 503 with `Retry-After` keeps this key out until then, so the next request goes
/// to another key instead of being refused the same way).
///
/// Read on every request: when the breaker is closed and nothing cools down, two atomic
/// loads and no lock. Outcomes take the breaker's lock (uncontended but for two event loops
/// finishing on the same endpoint at once).
package final class EndpointHealth: Sendable {
    package let id: String
    private let activeHealthy = Atomic<Bool>(true)
    private let coolingUntilNanos = Atomic<UInt64>(0)
    /// When the active checker looks again (0 = not known), for the `Retry-After` of a 503
    /// while the check says the endpoint is down.
    private let nextCheckNanos = Atomic<UInt64>(0)
    /// The breaker's state as a number (0 closed, 1 open, 2 half-open), so the request path
    /// reads an atomic while the breaker is closed.
    private let breakerCode = Atomic<UInt8>(0)
    /// nil when `resilience.breaker.enabled` is false.
    private let breaker: Mutex<CircuitBreaker?>
    private let openings = Atomic<Int>(0)
    /// Smoothed time to the response head, in microseconds (0 = none yet).
    private let latencyMicros = Atomic<UInt64>(0)
    /// When the last sample came (0: none), so that latency-aware balancing lets an old
    /// average fade instead of shunning an endpoint for good.
    private let latencySampleNanos = Atomic<UInt64>(0)
    /// Requests sent here whose response has not ended (streams included).
    private let inFlightCount = Atomic<Int>(0)
    private let lastErrorBox = Mutex<String?>(nil)
    private let observer: @Sendable (String, CircuitBreaker.Transition) -> Void

    package init(
        id: String = "", breaker settings: CircuitBreaker.Settings? = CircuitBreaker.Settings(),
        observer: @escaping @Sendable (String, CircuitBreaker.Transition) -> Void = { _, _ in }
    ) {
        self.id = id
        self.breaker = Mutex(settings.map { CircuitBreaker(settings: $0) })
        self.observer = observer
    }

    /// Whether a request may go to this endpoint now (a pure question, asked of every
    /// candidate when choosing).
    /// `ignoringCoolDown`: whether it would be, but for a cool-down (the selector's second
    /// choice: when every candidate is cooling down, the upstream's own 429 is a better
    /// answer than a 503 of the gateway's).
    package func isAvailable(now: ContinuousClock.Instant = .now, ignoringCoolDown: Bool = false) -> Bool {
        guard activeHealthy.load(ordering: .relaxed), ignoringCoolDown || Self.nanos(now) >= coolingUntilNanos.load(ordering: .relaxed) else { return false }
        if breakerCode.load(ordering: .relaxed) == 0 { return true }
        return breaker.withLock { $0?.allows(now: now) ?? true }
    }

    package var isActiveHealthy: Bool { activeHealthy.load(ordering: .relaxed) }
    package var lastError: String? { lastErrorBox.withLock { $0 } }
    /// Out because of the breaker or a cool-down (not the active check).
    package var isEjected: Bool {
        let now = ContinuousClock.now
        return Self.nanos(now) < coolingUntilNanos.load(ordering: .relaxed) || breakerCode.load(ordering: .relaxed) != 0 && !isAvailable(now: now)
    }

    /// The breaker's state for `/health`, `/api/upstreams` and the metrics:
    /// `closed`, `open` (with the seconds left) or `half_open`.
    package var breakerState: (name: String, retryIn: Double?) {
        breaker.withLock { breaker in
            switch breaker?.state ?? .closed {
            case .closed: return ("closed", nil)
            case .halfOpen: return ("half_open", nil)
            case .open(let until):
                let left = until - .now
                return left <= .zero ? ("half_open", nil) : ("open", Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18)
            }
        }
    }

    /// Seconds until this endpoint takes traffic again (a breaker's open time or a
    /// cool-down; when the active check found it down, until the check looks again); nil
    /// when it does now, or when nobody knows.
    package func retryIn(now: ContinuousClock.Instant = .now) -> Double? {
        guard activeHealthy.load(ordering: .relaxed) else {
            let nextCheck = nextCheckNanos.load(ordering: .relaxed)
            guard nextCheck != 0 else { return nil }
            return max(Double(Int64(bitPattern: nextCheck &- Self.nanos(now))) / 1e9, 0.001)
        }
        guard !isAvailable(now: now) else { return nil }
        var seconds = 0.0
        let cooling = Int64(bitPattern: coolingUntilNanos.load(ordering: .relaxed) &- Self.nanos(now))
        if cooling > 0 { seconds = Double(cooling) / 1e9 }
        let open: Double? = breaker.withLock { breaker in
            guard case .open(let until)? = breaker?.state else { return nil }
            let left = until - now
            return Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18
        }
        return max(seconds, open ?? 0, 0.001)
    }

    /// Times the breaker opened since start.
    package var breakerOpenings: Int { openings.load(ordering: .relaxed) }

    /// Seconds until the cool-down the upstream asked for ends (nil when none).
    package var coolingFor: Double? {
        let left = Int64(bitPattern: coolingUntilNanos.load(ordering: .relaxed) &- Self.nanos(.now))
        return left > 0 ? Double(left) / 1e9 : nil
    }

    /// Applies the settings of a reloaded configuration (state carries over); nil turns the
    /// breaker off (and closes it).
    package func apply(_ settings: CircuitBreaker.Settings?) {
        breaker.withLock { breaker in
            guard let settings else {
                breaker = nil
                breakerCode.store(0, ordering: .relaxed)
                return
            }
            if breaker == nil {
                breaker = CircuitBreaker(settings: settings)
            } else if breaker?.settings != settings {
                breaker?.settings = settings
            }
        }
    }

    /// The active checker's result; `nextIn`: when it checks again.
    package func recordCheck(healthy: Bool, error: String?, nextIn: Duration? = nil, now: ContinuousClock.Instant = .now) {
        activeHealthy.store(healthy, ordering: .relaxed)
        nextCheckNanos.store(nextIn.map { Self.nanos(now + $0) } ?? 0, ordering: .relaxed)
        if !healthy { lastErrorBox.withLock { $0 = error } }
    }

    /// A request is being sent here: whether it is a half-open breaker's probe (to be passed
    /// back with its outcome).
    package func begin(now: ContinuousClock.Instant = .now) -> Bool {
        guard breakerCode.load(ordering: .relaxed) != 0 else { return false }
        return update { $0.begin(now: now) }
    }

    /// An answer that says nothing against the upstream (below 500, and not 529).
    /// Folds the time to first byte into the moving average (weight 1/8, as TCP's SRTT).
    package func recordSuccess(probe: Bool, firstByte: Duration? = nil, now: ContinuousClock.Instant = .now) {
        if let firstByte { recordLatency(firstByte, now: now) }
        _ = update { (false, $0.succeeded(probe: probe, now: now)) }
    }

    /// An upstream-side failure: a connect error, a first-byte timeout, a 5xx or 529, a
    /// stream broken by the upstream.
    package func recordFailure(_ error: String, probe: Bool, now: ContinuousClock.Instant = .now) {
        lastErrorBox.withLock { $0 = error }
        _ = update { (false, $0.failed(probe: probe, now: now)) }
    }

    /// A probe ended without an outcome (the client left first).
    package func released(probe: Bool) {
        guard probe else { return }
        _ = update { breaker in
            breaker.released(probe: true)
            return (false, nil)
        }
    }

    /// The upstream asked for a pause (`Retry-After` on a 429 or 503): no requests until then.
    package func coolDown(for duration: Duration, reason: String, now: ContinuousClock.Instant = .now) {
        lastErrorBox.withLock { $0 = reason }
        let until = Self.nanos(now + duration)
        if until > coolingUntilNanos.load(ordering: .relaxed) { coolingUntilNanos.store(until, ordering: .relaxed) }
    }

    /// Folds one time to first byte into the moving average. Lock-free; a lost update under
    /// a race only skips one sample.
    package func recordLatency(_ duration: Duration, now: ContinuousClock.Instant = .now) {
        let (seconds, atto) = duration.components
        // At most a day: a bound for the arithmetic below, far above any timeout.
        let sample = UInt64(min(max(0, seconds), 86_400)) * 1_000_000 + UInt64(max(0, atto)) / 1_000_000_000_000
        let old = latencyMicros.load(ordering: .relaxed)
        latencyMicros.store(old == 0 ? max(sample, 1) : (old * 7 + sample) / 8, ordering: .relaxed)
        latencySampleNanos.store(Self.nanos(now), ordering: .relaxed)
    }

    /// A response from here is under way (``ended()`` when it is over).
    package func started() { inFlightCount.add(1, ordering: .relaxed) }
    package func ended() { inFlightCount.subtract(1, ordering: .relaxed) }
    package var inFlight: Int { max(0, inFlightCount.load(ordering: .relaxed)) }

    /// Latency-aware balancing's cost: the average time to first byte, fading linearly to
    /// nothing over ``Balancing/decaySeconds`` without a new sample, times the requests in
    /// flight plus one. An endpoint never measured costs least, so it gets tried.
    package func latencyCost(now: ContinuousClock.Instant = .now) -> Double {
        let micros = Double(latencyMicros.load(ordering: .relaxed))
        let sampled = latencySampleNanos.load(ordering: .relaxed)
        let age = sampled == 0 ? Balancing.decaySeconds : Double(Int64(bitPattern: Self.nanos(now) &- sampled)) / 1e9
        let fade = max(0, 1 - max(0, age) / Balancing.decaySeconds)
        // A floor of 1 ms: requests in flight count even where no average is left.
        return (micros * fade + 1000) * Double(inFlight + 1)
    }

    /// The smoothed time to first byte in milliseconds, nil before the first answer.
    package var latencyMs: Double? {
        let micros = latencyMicros.load(ordering: .relaxed)
        return micros == 0 ? nil : Double(micros) / 1000
    }

    /// Runs `change` on the breaker under its lock, mirrors its state into the atomic and
    /// reports a transition (outside the lock).
    private func update(_ change: (inout CircuitBreaker) -> (Bool, CircuitBreaker.Transition?)) -> Bool {
        let (result, transition): (Bool, CircuitBreaker.Transition?) = breaker.withLock { breaker in
            guard var current = breaker else { return (false, nil) }
            let outcome = change(&current)
            breaker = current
            let code: UInt8
            switch current.state {
            case .closed: code = 0
            case .open: code = 1
            case .halfOpen: code = 2
            }
            breakerCode.store(code, ordering: .relaxed)
            return outcome
        }
        if let transition {
            if case .opened = transition { openings.add(1, ordering: .relaxed) }
            observer(id, transition)
        }
        return result
    }

    /// A day before first use: instants taken just before the first call (or injected by
    /// tests) still map to positive nanoseconds, and 0 keeps meaning "never".
    static let origin = ContinuousClock.now - .seconds(86_400)
    static func nanos(_ instant: ContinuousClock.Instant) -> UInt64 {
        let d = instant - origin
        let (s, atto) = d.components
        return UInt64(max(0, s)) &* 1_000_000_000 &+ UInt64(max(0, atto) / 1_000_000_000)
    }
}
