import Dialects
import ProxyConfig
import Testing
import Upstreams

@testable import ProxyCore

@Suite("Attempt plan: endpoint choice, retry and failover without sockets")
struct AttemptPlanTests {
    static func providers(_ names: [String]) -> [Provider] {
        names.map { Provider(config: ProviderConfig(name: $0, type: .openai, baseURL: "http://\($0).test/v1")) }
    }

    static let refused = AttemptPlan.Failure(error: .badGateway("refused"), retryable: true)
    static let timedOut = AttemptPlan.Failure(error: .gatewayTimeout("no head"), retryable: false)

    @Test("a connect failure moves to another endpoint; each endpoint is tried once; three at most")
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
        #expect(seen.count == AttemptPlan.maxAttempts)
        #expect(Set(seen).count == seen.count)
        #expect(step == .fail(Self.refused.error))
    }

    @Test("a failure after the request may have reached the upstream is not retried")
    func noRetryAfterSend() {
        var plan = AttemptPlan(providers: Self.providers(["a", "b"]), random: { 0 })
        _ = plan.next()
        #expect(plan.failed(Self.timedOut) == .fail(Self.timedOut.error))
        #expect(plan.tried.count == 1)
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
        // The second time it counts as a failure of that endpoint and the next one is tried.
        guard case .send(let second, false) = plan.failed(notSent) else {
            Issue.record("no failover")
            return
        }
        #expect(second !== first)
    }

    @Test("failures feed the endpoint's health: three in a row eject it; an answer resets the count")
    func health() {
        let providers = Self.providers(["a"])
        let endpoint = providers[0].endpoints[0]
        for _ in 0..<2 {
            var plan = AttemptPlan(providers: providers)
            _ = plan.next()
            _ = plan.failed(Self.refused)
        }
        var answered = AttemptPlan(providers: providers)
        _ = answered.next()
        answered.responded(status: 200, firstByte: .milliseconds(5))
        #expect(endpoint.health.isAvailable())
        #expect(endpoint.health.latencyMs != nil)
        for _ in 0..<3 {
            var plan = AttemptPlan(providers: providers)
            _ = plan.next()
            _ = plan.failed(Self.refused)
        }
        #expect(!endpoint.health.isAvailable())
        var none = AttemptPlan(providers: providers)
        guard case .fail(let error) = none.next() else {
            Issue.record("an ejected endpoint was chosen")
            return
        }
        #expect(error.status == .serviceUnavailable)
    }
}
