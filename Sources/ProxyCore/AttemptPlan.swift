import Dialects
import NIOHTTP1
import ProxyConfig
import Upstreams

/// Which endpoint a forwarded request goes to next, and when to stop: the one state machine
/// for endpoint choice, retry, failover, fallback to other models and health feedback. It
/// returns actions and keeps no sockets or timers, so every rule is tested without a network
/// (the clock is passed in).
///
/// Rules (``RetryPolicy`` holds the numbers):
/// - Nothing is retried once a response byte went to the client.
/// - A failure is tried again only when the request cannot have been processed: no byte of
///   it reached the upstream (refused connect, TLS failure, a pooled connection found closed
///   before use — retried once on a fresh connection to the same endpoint first), or the
///   upstream *answered* that it failed or refused (429, 500, 502, 503, 504, 529 by default).
///   A connection that closed after the request was written, or no head within the first-
///   byte timeout, is retried only for an idempotent request (`GET`, or the client sent
///   `Idempotency-Key`): the upstream may be generating, and billing, a completion.
/// - Another endpoint first; the same one again only when no other is available and it said
///   it is overloaded (429, 503, 529), after its `Retry-After` (when at most
///   `max_retry_after`) or a short back-off, and only while its breaker lets requests through.
/// - At most `max_attempts` per model and no new attempt after `total_timeout`; then the
///   next model of the fallback chain, each routed as if the client had asked for it.
/// - When nothing is left, the last upstream answer reaches the client as it was (the real
///   429 or 500, not a stand-in); without one, the last error, or a 503 with the time until
///   an endpoint takes traffic again.
/// - Health feedback: upstream-side failures (connect errors, first-byte timeouts, 5xx, 529,
///   broken streams) feed the endpoint's breaker; any other answer — a 4xx the request
///   caused included — counts as a success, so one tenant's bad requests never take an
///   endpoint out for everyone. A 429 or 503 with `Retry-After` cools the endpoint down.
package struct AttemptPlan: Sendable {
    package enum Step: Sendable, Equatable {
        /// Send the request to `endpoint`; `freshConnection` asks for a new connection
        /// instead of an idle pooled one.
        case send(Endpoint, freshConnection: Bool)
        /// Send it to `endpoint` again after `delay` (its `Retry-After`, or a back-off).
        case retry(Endpoint, after: Duration)
        /// Give up and answer the client with this error.
        case fail(GatewayError)

        package static func == (lhs: Step, rhs: Step) -> Bool {
            switch (lhs, rhs) {
            case (.send(let a, let fa), .send(let b, let fb)): return a === b && fa == fb
            case (.retry(let a, let da), .retry(let b, let db)): return a === b && da == db
            case (.fail(let a), .fail(let b)): return a == b
            default: return false
            }
        }
    }

    /// Why an attempt failed before a response head arrived.
    package struct Failure: Sendable {
        package var error: GatewayError
        /// The request cannot have reached the upstream: another endpoint may take it.
        package var retryable: Bool
        /// Not one byte was written (a pooled connection found closed): the same endpoint may
        /// be asked again on a new connection.
        package var notSent: Bool

        package init(error: GatewayError, retryable: Bool, notSent: Bool = false) {
            self.error = error
            self.retryable = retryable
            self.notSent = notSent
        }
    }

    /// One entry per attempt, for the request log: `openai#0:503`, `anthropic#1:upstream_error`.
    /// Written out only once a second attempt starts: a request answered at the first try
    /// (nearly all of them) formats no string.
    package private(set) var trail: [String] = []
    /// The first attempt's outcome while it is the only one.
    private var firstOutcome: (endpoint: Endpoint, outcome: Outcome)?
    /// The trail when there was more than one attempt (nothing to tell otherwise).
    package var retries: [String] { trail.count > 1 ? trail : [] }

    private enum Outcome {
        case status(Int)
        case error(ErrorCode)

        func entry(_ endpoint: Endpoint) -> String {
            switch self {
            case .status(let status): return "\(endpoint.id):\(status)"
            case .error(let code): return "\(endpoint.id):\(code)"
            }
        }
    }

    /// One attempt's outcome for the trail.
    private mutating func note(_ endpoint: Endpoint, _ outcome: Outcome) {
        if trail.isEmpty, firstOutcome == nil {
            firstOutcome = (endpoint, outcome)
            return
        }
        if let first = firstOutcome {
            trail.append(first.outcome.entry(first.endpoint))
            firstOutcome = nil
        }
        trail.append(outcome.entry(endpoint))
    }
    package let legs: [[Provider]]
    /// The model of the fallback chain being tried (0: the one the client asked for).
    package private(set) var leg = 0
    package private(set) var tried: [Endpoint] = []
    /// Attempts sent, over every model.
    package private(set) var sent = 0
    let policy: RetryPolicy
    let idempotent: Bool
    let deadline: ContinuousClock.Instant
    let random: @Sendable () -> Double
    /// Prompt-cache affinity key, when the route has affinity on and the request a prefix.
    let affinity: UInt64?
    private var attemptsInLeg = 0
    private var sameEndpointRetries = 0
    private var freshRetryUsed = false
    private var probe = false
    private var lastError: GatewayError?
    /// Endpoints this request already reported a failure of: one request is one piece of
    /// evidence per endpoint, however often it was retried there.
    private var blamed: [ObjectIdentifier] = []

    package init(
        providers: [Provider], fallbacks: [[Provider]] = [], policy: RetryPolicy = RetryPolicy(), idempotent: Bool = false,
        start: ContinuousClock.Instant = .now, random: @escaping @Sendable () -> Double = BalancerRandom.next, affinity: UInt64? = nil
    ) {
        self.affinity = affinity
        self.legs = [providers] + fallbacks
        self.policy = policy
        self.idempotent = idempotent
        self.deadline = start + policy.totalTimeout
        self.random = random
    }

    /// The endpoint of the attempt in flight.
    package var current: Endpoint? { tried.last }
    package var providers: [Provider] { legs[leg] }

    /// The first attempt, or the next after a retryable failure.
    package mutating func next(now: ContinuousClock.Instant = .now) -> Step {
        while true {
            if attemptsInLeg < policy.maxAttempts, now < deadline,
                let endpoint = EndpointSelector.pick(from: legs[leg], excluding: tried, random: random(), affinity: affinity, now: now)
            {
                return start(endpoint, now: now)
            }
            guard moveToFallback(now: now) else { return .fail(lastError ?? unavailable(now: now)) }
        }
    }

    /// The attempt in flight failed before a response head: what to do instead.
    package mutating func failed(_ failure: Failure, now: ContinuousClock.Instant = .now) -> Step {
        if failure.notSent, !freshRetryUsed, let endpoint = current {
            freshRetryUsed = true
            return .send(endpoint, freshConnection: true)
        }
        if let endpoint = current {
            note(endpoint, .error(failure.error.code))
            if failure.error.code.isUpstreamFailure {
                blame(endpoint, failure.error.message, now: now)
            } else {
                endpoint.health.released(probe: probe)
            }
        }
        probe = false
        lastError = failure.error
        return failure.retryable || idempotent && failure.error.code.isUpstreamFailure ? next(now: now) : .fail(failure.error)
    }

    /// The attempt in flight got a response head. nil: deliver it to the client; a step: the
    /// response is an upstream failure worth another attempt (discard it, then take the step).
    /// `retryAfter` is the upstream's `Retry-After` (or `retry-after-ms`), if any; `firstByte`
    /// the time from this attempt's send to its head (not the request's whole history).
    package mutating func responded(status: Int, retryAfter: Duration?, firstByte: Duration, now: ContinuousClock.Instant = .now) -> Step? {
        guard let endpoint = current else { return nil }
        note(endpoint, .status(status))
        let upstreamFailure = status >= 500
        if upstreamFailure {
            // A failure counts as slow (at least a second), so that an upstream answering
            // 502 at once never looks like the fastest to latency balancing.
            endpoint.health.recordLatency(max(firstByte, .seconds(1)), now: now)
            blame(endpoint, "HTTP \(status)", now: now)
        } else {
            endpoint.health.recordSuccess(probe: probe, firstByte: firstByte, now: now)
        }
        probe = false
        // A refusal with a wait (or 1 s without one) takes this key out until then.
        let coolDown: Duration? = status == 429 || status == 503 ? retryAfter ?? .seconds(1) : nil
        if let coolDown {
            endpoint.health.coolDown(for: coolDown, reason: "HTTP \(status), asked to wait \(coolDown.components.seconds) s", now: now)
        }
        guard policy.statuses.contains(status) else { return nil }
        lastError = nil
        // Another endpoint of this model.
        if attemptsInLeg < policy.maxAttempts, now < deadline,
            let other = EndpointSelector.pick(from: legs[leg], excluding: tried, random: random(), affinity: affinity, now: now)
        {
            return start(other, now: now)
        }
        // The same endpoint again only when it said it is overloaded (429, 503, 529): after
        // the wait it asked for, or a back-off. A 500 there is not asked again (the client's
        // SDK has its own retries; multiplying them only adds load).
        let overloaded = status == 429 || status == 503 || status == 529
        let wait: Duration? = coolDown.map { $0 <= policy.maxRetryAfter ? $0 : nil } ?? (overloaded ? Self.backoff(sameEndpointRetries) : nil)
        if let wait, attemptsInLeg < policy.maxAttempts, now + wait < deadline, endpoint.health.isAvailable(now: now + wait) {
            sameEndpointRetries += 1
            attemptsInLeg += 1
            sent += 1
            return .retry(endpoint, after: wait)
        }
        // The next model.
        if moveToFallback(now: now) {
            let step = next(now: now)
            if case .fail = step { return nil }
            return step
        }
        return nil
    }

    /// The retried attempt of a ``Step/retry(_:after:)`` starts now (its wait is over).
    package mutating func retryStarted(now: ContinuousClock.Instant = .now) {
        probe = current?.health.begin(now: now) ?? false
    }

    /// The upstream answered that the prompt is too long for the model (a context-length
    /// error), and `routing.fallback_on_context_length` is on: the next model, if any.
    package mutating func contextTooLong(now: ContinuousClock.Instant = .now) -> Step? {
        guard moveToFallback(now: now) else { return nil }
        let step = next(now: now)
        if case .fail = step { return nil }
        return step
    }

    /// The response broke off after its head (nothing can be retried then).
    package mutating func failedMidResponse(_ error: GatewayError, now: ContinuousClock.Instant = .now) {
        if let endpoint = current {
            blame(endpoint, error.message, now: now)
            note(endpoint, .error(error.code))
        }
    }

    /// The client left while an attempt was in flight: a probe's slot is freed.
    package mutating func abandoned() {
        current?.health.released(probe: probe)
        probe = false
    }

    /// Whether a fallback model is left to try.
    package var hasFallback: Bool { leg + 1 < legs.count }

    private mutating func blame(_ endpoint: Endpoint, _ error: String, now: ContinuousClock.Instant) {
        let id = ObjectIdentifier(endpoint)
        if blamed.contains(id) {
            endpoint.health.released(probe: probe)
        } else {
            blamed.append(id)
            endpoint.health.recordFailure(error, probe: probe, now: now)
        }
    }

    private mutating func start(_ endpoint: Endpoint, now: ContinuousClock.Instant) -> Step {
        tried.append(endpoint)
        attemptsInLeg += 1
        sent += 1
        freshRetryUsed = false
        probe = endpoint.health.begin(now: now)
        return .send(endpoint, freshConnection: false)
    }

    private mutating func moveToFallback(now: ContinuousClock.Instant) -> Bool {
        guard leg + 1 < legs.count, now < deadline else { return false }
        leg += 1
        tried = []
        attemptsInLeg = 0
        sameEndpointRetries = 0
        return true
    }

    /// 503 for a route with no endpoint taking traffic, with the time until the first one
    /// will (a breaker's open time or a cool-down), at least 1 s.
    private func unavailable(now: ContinuousClock.Instant) -> GatewayError {
        let endpoints = legs.flatMap { $0.flatMap(\.endpoints) }
        let soonest = endpoints.compactMap { $0.health.retryIn(now: now) }.min() ?? 5
        return GatewayError(
            status: .serviceUnavailable, code: .upstreamUnavailable,
            message: "All \(endpoints.count) upstream endpoint(s) for this route are unhealthy or cooling down; try again shortly",
            retryAfter: max(1, min(3600, Int(soonest.rounded(.up)))))
    }

    /// 100 ms, 200 ms, 400 ms… (at most 2 s), with ±25 % jitter so retries of many requests
    /// do not arrive together.
    static func backoff(_ retries: Int) -> Duration {
        let base = 100.0 * Double(1 << min(retries, 5))
        let jitter = 0.75 + 0.5 * BalancerRandom.next()
        return .milliseconds(Int64(min(2000, base) * jitter))
    }
}

/// `resilience.retries` as the attempt plan uses it.
package struct RetryPolicy: Sendable, Equatable {
    package var maxAttempts: Int
    package var totalTimeout: Duration
    package var maxRetryAfter: Duration
    package var statuses: Set<Int>

    package init(_ config: RetryConfig = RetryConfig()) {
        maxAttempts = config.maxAttempts
        totalTimeout = .milliseconds(Int64(config.totalTimeout * 1000))
        maxRetryAfter = .milliseconds(Int64(config.maxRetryAfter * 1000))
        statuses = Set(config.onStatus)
    }

    /// The upstream's wait request: `retry-after-ms` (OpenAI), else `Retry-After` in seconds
    /// (an HTTP date is read as absent). nil when missing or unreadable; capped at an hour.
    package static func retryAfter(in headers: HTTPHeaders) -> Duration? {
        if let text = headers.first(name: "retry-after-ms"), let ms = Double(text), ms.isFinite, ms >= 0 {
            return .milliseconds(Int64(min(ms, 3_600_000)))
        }
        if let text = headers.first(name: "retry-after"), let seconds = Double(text), seconds.isFinite, seconds >= 0 {
            return .milliseconds(Int64(min(seconds, 3600) * 1000))
        }
        return nil
    }
}
