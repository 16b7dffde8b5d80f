import Dialects
import ProxyConfig
import Testing
import Upstreams

@testable import ProxyCore

@Suite("Attempt plan: endpoint choice, retry, failover and fallback without sockets")
struct AttemptPlanTests {
    static func providers(_ names: [String], breaker: BreakerConfig = BreakerConfig()) -> [Provider] {
        names.map { name in
            Provider(config: ProviderConfig(name: name, type: .openai, baseURL: "http://\(name).test/v1")) { _ in
                EndpointHealth(id: name, breaker: CircuitBreaker.Settings(breaker))
            }
        }
    }

    static let refused = AttemptPlan.Failure(error: .badGateway("refused"), retryable: true)
    static let timedOut = AttemptPlan.Failure(error: .gatewayTimeout("no head"), retryable: false)
    static let ms5 = Duration.milliseconds(5)

    static func endpoint(_ step: AttemptPlan.Step?) -> Endpoint? {
        switch step {
        case .send(let endpoint, _)?, .retry(let endpoint, _)?: return endpoint
        default: return nil
        }
    }

    @Test("a connect failure moves to another endpoint; each endpoint is tried once; max_attempts at most")
    func failover() {
        let providers = Self.providers(["a", "b", "c", "d"])
        var plan = AttemptPlan(providers: providers, random: { 0 })
        var seen: [String] = []
        var step = plan.next()
        while case .send(let endpoint, let fresh) = step {
            #expect(!fresh)
            seen.append(endpoint.providerName)
            step = plan.failed(Self.refused)
        }
        #expect(seen.count == 3)
        #expect(Set(seen).count == seen.count)
        #expect(step == .fail(Self.refused.error))
        #expect(plan.retries.count == 3)
    }

    @Test("a failure after the request may have reached the upstream is not retried, unless the request is idempotent")
    func noRetryAfterSend() {
        var plan = AttemptPlan(providers: Self.providers(["a", "b"]), random: { 0 })
        _ = plan.next()
        #expect(plan.failed(Self.timedOut) == .fail(Self.timedOut.error))
        #expect(plan.tried.count == 1)
        var idempotent = AttemptPlan(providers: Self.providers(["a", "b"]), idempotent: true, random: { 0 })
        let first = Self.endpoint(idempotent.next())
        let second = Self.endpoint(idempotent.failed(Self.timedOut))
        #expect(second != nil && second !== first)
    }

    @Test("a pooled connection found closed before a byte went out is retried once, on a fresh connection to the same endpoint")
    func freshRetry() {
        var plan = AttemptPlan(providers: Self.providers(["a", "b"]), random: { 0 })
        guard case .send(let first, false) = plan.next() else {
            Issue.record("no endpoint")
            return
        }
        let notSent = AttemptPlan.Failure(error: .badGateway("closed"), retryable: true, notSent: true)
        #expect(plan.failed(notSent) == .send(first, freshConnection: true))
        guard case .send(let second, false) = plan.failed(notSent) else {
            Issue.record("no failover")
            return
        }
        #expect(second !== first)
    }

    @Test("a retryable status goes to another endpoint; the last answer reaches the client when nothing is left")
    func statusFailover() {
        var plan = AttemptPlan(providers: Self.providers(["a", "b"]), random: { 0 })
        let first = Self.endpoint(plan.next())
        let second = Self.endpoint(plan.responded(status: 503, retryAfter: nil, firstByte: Self.ms5))
        #expect(second != nil && second !== first)
        // b answers 502: a is cooling down (503 without Retry-After: 1 s) and a 500-class
        // error is not asked again of the same endpoint: the 502 is delivered as it is.
        #expect(plan.responded(status: 502, retryAfter: nil, firstByte: Self.ms5) == nil)
        #expect(plan.retries.map { $0.split(separator: ":").last.map(String.init) ?? "" } == ["503", "502"])
    }

    @Test("an overloaded only endpoint (529) is asked again after a back-off, up to max_attempts, and counts once for its breaker")
    func overloadedRetry() {
        let providers = Self.providers(["a"])
        var plan = AttemptPlan(providers: providers)
        let only = Self.endpoint(plan.next())
        for _ in 0..<2 {
            guard case .retry(let again, let delay)? = plan.responded(status: 529, retryAfter: nil, firstByte: Self.ms5) else {
                Issue.record("expected a back-off retry")
                return
            }
            #expect(again === only)
            #expect(delay <= .seconds(2))
            plan.retryStarted()
        }
        #expect(plan.responded(status: 529, retryAfter: nil, firstByte: Self.ms5) == nil)
        #expect(plan.sent == 3)
        // Three attempts of one request are one failure: the breaker (3 in a row) stays closed.
        #expect(only!.health.breakerState.name == "closed")
    }

    @Test("a 4xx the request caused is delivered, not retried, and counts as a success of the endpoint")
    func clientErrors() {
        let providers = Self.providers(
            ["a", "b"],
            breaker: {
                var b = BreakerConfig()
                b.consecutiveFailures = 1
                return b
            }())
        for status in [400, 401, 404, 413, 422] {
            var plan = AttemptPlan(providers: providers, random: { 0 })
            _ = plan.next()
            #expect(plan.responded(status: status, retryAfter: nil, firstByte: Self.ms5) == nil)
        }
        #expect(providers.allSatisfy { $0.endpoints[0].health.isAvailable() })
    }

    @Test("429: a short Retry-After is waited out on the only endpoint; a long one reaches the client; the key cools down either way")
    func retryAfter() {
        let single = Self.providers(["a"])
        var plan = AttemptPlan(providers: single)
        let only = Self.endpoint(plan.next())
        #expect(plan.responded(status: 429, retryAfter: .seconds(2), firstByte: Self.ms5) == .retry(only!, after: .seconds(2)))
        #expect(!only!.health.isAvailable())
        #expect(only!.health.isAvailable(now: .now + .seconds(3)))

        let other = Self.providers(["x"])
        var long = AttemptPlan(providers: other)
        _ = long.next()
        #expect(long.responded(status: 429, retryAfter: .seconds(60), firstByte: Self.ms5) == nil)
        #expect((other[0].endpoints[0].health.retryIn() ?? 0) > 50)

        // With two keys the long wait fails over instead.
        let two = Self.providers(["p", "q"])
        var failover = AttemptPlan(providers: two, random: { 0 })
        let first = Self.endpoint(failover.next())
        let next = Self.endpoint(failover.responded(status: 429, retryAfter: .seconds(60), firstByte: Self.ms5))
        #expect(next != nil && next !== first)
    }

    @Test("when every endpoint of the model fails, the fallback models are tried in order; the leg says which")
    func fallbacks() {
        let primary = Self.providers(["claude"]), second = Self.providers(["gpt"]), third = Self.providers(["gemini"])
        var plan = AttemptPlan(providers: primary, fallbacks: [second, third], random: { 0 })
        _ = plan.next()
        #expect(Self.endpoint(plan.failed(Self.refused))?.providerName == "gpt")
        #expect(plan.leg == 1)
        // 529 (overloaded) on the fallback, no time for a back-off retry to matter: third model.
        var step = plan.responded(status: 529, retryAfter: nil, firstByte: Self.ms5)
        if case .retry? = step {
            plan.retryStarted()
            step = plan.responded(status: 529, retryAfter: nil, firstByte: Self.ms5)
            if case .retry? = step {
                plan.retryStarted()
                step = plan.responded(status: 529, retryAfter: nil, firstByte: Self.ms5)
            }
        }
        #expect(Self.endpoint(step)?.providerName == "gemini")
        #expect(plan.leg == 2)
        #expect(plan.responded(status: 200, retryAfter: nil, firstByte: Self.ms5) == nil)
        // A context-length error moves on only when a model is left.
        var context = AttemptPlan(providers: Self.providers(["small"]), fallbacks: [Self.providers(["large"])], random: { 0 })
        _ = context.next()
        #expect(Self.endpoint(context.contextTooLong())?.providerName == "large")
        #expect(context.contextTooLong() == nil)
    }

    @Test("no attempt starts after total_timeout")
    func totalTimeout() {
        var config = RetryConfig()
        config.totalTimeout = 1
        let start = ContinuousClock.now
        var plan = AttemptPlan(providers: Self.providers(["a", "b"]), policy: RetryPolicy(config), start: start, random: { 0 })
        _ = plan.next(now: start)
        #expect(plan.responded(status: 503, retryAfter: nil, firstByte: Self.ms5, now: start + .seconds(2)) == nil)
    }

    @Test("upstream failures open the breaker; then the route answers 503 with the time until a probe; a probe's success closes it")
    func breaker() {
        var settings = BreakerConfig()
        settings.openFor = 0.2
        settings.probeSuccesses = 1
        let providers = Self.providers(["a"], breaker: settings)
        let endpoint = providers[0].endpoints[0]
        var config = RetryConfig()
        config.maxAttempts = 1
        for _ in 0..<3 {
            var plan = AttemptPlan(providers: providers, policy: RetryPolicy(config))
            _ = plan.next()
            _ = plan.failed(Self.refused)
        }
        #expect(endpoint.health.breakerState.name == "open")
        var none = AttemptPlan(providers: providers)
        guard case .fail(let error) = none.next() else {
            Issue.record("an open endpoint was chosen")
            return
        }
        #expect(error.status == .serviceUnavailable)
        #expect(error.retryAfter == 1)
        let later = ContinuousClock.now + .seconds(1)
        var probe = AttemptPlan(providers: providers)
        #expect(Self.endpoint(probe.next(now: later)) === endpoint)
        #expect(endpoint.health.breakerState.name == "half_open")
        // One probe at a time.
        var second = AttemptPlan(providers: providers)
        guard case .fail = second.next(now: later) else {
            Issue.record("a second probe was let through")
            return
        }
        #expect(probe.responded(status: 200, retryAfter: nil, firstByte: Self.ms5, now: later) == nil)
        #expect(endpoint.health.breakerState.name == "closed")
    }

    @Test("Retry-After is read from retry-after-ms or seconds; dates and junk are ignored")
    func retryAfterHeader() {
        #expect(RetryPolicy.retryAfter(in: ["retry-after": "3"]) == .seconds(3))
        #expect(RetryPolicy.retryAfter(in: ["retry-after-ms": "250", "retry-after": "3"]) == .milliseconds(250))
        #expect(RetryPolicy.retryAfter(in: ["retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"]) == nil)
        #expect(RetryPolicy.retryAfter(in: ["retry-after": "-1"]) == nil)
        #expect(RetryPolicy.retryAfter(in: ["retry-after": "1e308"]) == .seconds(3600))
        #expect(RetryPolicy.retryAfter(in: ["retry-after": "nan"]) == nil)
    }

    @Test("an upstream that fails fast counts as slow, and only the attempt's own time to first byte is its latency")
    func failuresCountAsSlow() {
        let providers = Self.providers(["fails", "works"])
        var plan = AttemptPlan(providers: providers, random: { 0 })
        guard case .send(let first, _) = plan.next() else {
            Issue.record("no first attempt")
            return
        }
        #expect(first.providerName == "fails")
        // 502 after 1 ms: recorded as a second.
        let second = Self.endpoint(plan.responded(status: 502, retryAfter: nil, firstByte: .milliseconds(1)))
        #expect(second?.providerName == "works")
        #expect((first.health.latencyMs ?? 0) >= 1000)
        // The retry's own 20 ms, not the request's history.
        _ = plan.responded(status: 200, retryAfter: nil, firstByte: .milliseconds(20))
        #expect(providers[1].endpoints[0].health.latencyMs == 20)
    }
}
