import ProxyConfig

/// The circuit breaker of one endpoint, as a state machine over live outcomes with the clock
/// passed in, so every transition is tested without a socket or a sleep.
///
/// - **closed**: requests flow. It opens after `consecutiveFailures` failures in a row, or when
///   at least `minimumRequests` outcomes in the last `window` failed in a share of at least
///   `failureRatio`.
/// - **open**: no requests until `openFor` has passed (doubling at each reopening, up to
///   `maxOpenFor`).
/// - **half-open**: up to `probes` requests at a time go through as probes; `probeSuccesses`
///   successful probes close it (and reset the back-off), one failed probe opens it again.
///
/// Only upstream-side failures are reported as failures (connect errors, 5xx, 529, first-byte
/// timeouts): a 4xx the request caused is a success of the endpoint, so one tenant's bad
/// requests never open the breaker for everyone.
package struct CircuitBreaker: Sendable {
    /// The numbers of `resilience.breaker` (see ``BreakerConfig``), as durations.
    package struct Settings: Sendable, Equatable {
        package var consecutiveFailures: Int
        package var failureRatio: Double
        package var minimumRequests: Int
        package var window: Duration
        package var openFor: Duration
        package var maxOpenFor: Duration
        package var probes: Int
        package var probeSuccesses: Int

        package init(_ config: BreakerConfig = BreakerConfig()) {
            consecutiveFailures = config.consecutiveFailures
            failureRatio = config.failureRatio
            minimumRequests = config.minimumRequests
            window = .milliseconds(Int64(config.window * 1000))
            openFor = .milliseconds(Int64(config.openFor * 1000))
            maxOpenFor = .milliseconds(Int64(config.maxOpenFor * 1000))
            probes = config.probes
            probeSuccesses = config.probeSuccesses
        }
    }

    package enum State: Sendable, Equatable {
        case closed
        case open(until: ContinuousClock.Instant)
        case halfOpen
    }

    /// What changed, for the log and the metrics.
    package enum Transition: Sendable, Equatable {
        case opened(reason: String)
        case halfOpened
        case closed
    }

    /// Replaced on a reload; the state carries over.
    package var settings: Settings
    package private(set) var state = State.closed
    private var consecutive = 0
    private var probesInFlight = 0
    private var probeSuccessCount = 0
    private var reopenings = 0
    /// Outcomes of the window in ten buckets: (bucket number, successes, failures).
    private var buckets: [(index: Int64, successes: Int, failures: Int)] = Array(repeating: (-1, 0, 0), count: 10)
    private let origin: ContinuousClock.Instant

    package init(settings: Settings = Settings(), origin: ContinuousClock.Instant = .now) {
        self.settings = settings
        self.origin = origin
    }

    /// Whether a request may be sent now (a pure question: choosing among endpoints asks it
    /// of every candidate). An open breaker whose time is up takes a probe.
    package func allows(now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until): return now >= until
        case .halfOpen: return probesInFlight < settings.probes
        }
    }

    /// A request was sent to the endpoint: returns whether it is a probe (to be reported as
    /// such), and the transition to half-open if this request started it.
    package mutating func begin(now: ContinuousClock.Instant) -> (probe: Bool, transition: Transition?) {
        switch state {
        case .closed:
            return (false, nil)
        case .open(let until):
            guard now >= until else { return (false, nil) }
            state = .halfOpen
            probesInFlight = 1
            probeSuccessCount = 0
            return (true, .halfOpened)
        case .halfOpen:
            probesInFlight += 1
            return (true, nil)
        }
    }

    package mutating func succeeded(probe: Bool, now: ContinuousClock.Instant) -> Transition? {
        consecutive = 0
        count(success: true, now: now)
        guard probe, case .halfOpen = state else { return nil }
        probesInFlight = max(0, probesInFlight - 1)
        probeSuccessCount += 1
        guard probeSuccessCount >= settings.probeSuccesses else { return nil }
        state = .closed
        reopenings = 0
        probesInFlight = 0
        clearWindow()
        return .closed
    }

    package mutating func failed(probe: Bool, now: ContinuousClock.Instant) -> Transition? {
        consecutive += 1
        count(success: false, now: now)
        switch state {
        case .halfOpen where probe:
            reopenings += 1
            return open(now: now, reason: "a probe failed")
        case .closed:
            if consecutive >= settings.consecutiveFailures {
                return open(now: now, reason: "\(consecutive) failures in a row")
            }
            let (successes, failures) = windowTotals(now: now)
            let total = successes + failures
            if total >= settings.minimumRequests, Double(failures) >= settings.failureRatio * Double(total) {
                return open(now: now, reason: "\(failures) of the last \(total) requests failed")
            }
            return nil
        default:
            return nil
        }
    }

    /// A probe ended without telling anything (the client left before an answer).
    package mutating func released(probe: Bool) {
        if probe, case .halfOpen = state { probesInFlight = max(0, probesInFlight - 1) }
    }

    private mutating func open(now: ContinuousClock.Instant, reason: String) -> Transition {
        var time = settings.openFor
        for _ in 0..<min(reopenings, 16) where time < settings.maxOpenFor { time = time * 2 }
        state = .open(until: now + min(time, settings.maxOpenFor))
        consecutive = 0
        probesInFlight = 0
        clearWindow()
        return .opened(reason: reason)
    }

    private func bucketIndex(_ now: ContinuousClock.Instant) -> Int64 {
        let width = settings.window / 10
        guard width > .zero else { return 0 }
        return Int64((now - origin) / width)
    }

    private mutating func count(success: Bool, now: ContinuousClock.Instant) {
        let index = bucketIndex(now)
        let slot = Int(((index % 10) + 10) % 10)
        if buckets[slot].index != index { buckets[slot] = (index, 0, 0) }
        if success { buckets[slot].successes += 1 } else { buckets[slot].failures += 1 }
    }

    private func windowTotals(now: ContinuousClock.Instant) -> (Int, Int) {
        let current = bucketIndex(now)
        var successes = 0
        var failures = 0
        for bucket in buckets where bucket.index > current - 10 && bucket.index <= current {
            successes += bucket.successes
            failures += bucket.failures
        }
        return (successes, failures)
    }

    private mutating func clearWindow() {
        buckets = Array(repeating: (-1, 0, 0), count: 10)
    }
}
