import Dialects
import ProxyConfig
import Testing

@testable import Upstreams

@Suite("Choosing an endpoint by weight")
struct EndpointSelectorTests {
    static func provider(_ name: String, weight: Double, keys: [WeightedKey]) -> Provider {
        var config = ProviderConfig(name: name, type: .openai, baseURL: "http://\(name).test/v1")
        config.weight = weight
        config.apiKeys = keys
        return Provider(config: config)
    }

    @Test("endpoint weights are provider weight × the key's share")
    func weights() {
        let p = Self.provider("p", weight: 2, keys: [WeightedKey(key: "k1", weight: 1), WeightedKey(key: "k2", weight: 3)])
        #expect(p.endpoints.map(\.weight) == [0.5, 1.5])
        #expect(Self.provider("q", weight: 1, keys: []).endpoints.map(\.weight) == [1])
    }

    @Test("the random draw maps onto cumulative weights")
    func draw() {
        let a = Self.provider("a", weight: 1, keys: [])
        let b = Self.provider("b", weight: 3, keys: [])
        #expect(EndpointSelector.pick(from: [a, b], random: 0.0)?.providerName == "a")
        #expect(EndpointSelector.pick(from: [a, b], random: 0.24)?.providerName == "a")
        #expect(EndpointSelector.pick(from: [a, b], random: 0.26)?.providerName == "b")
        #expect(EndpointSelector.pick(from: [a, b], random: 0.999)?.providerName == "b")
    }

    @Test("unhealthy and already-tried endpoints are skipped; none left is nil")
    func skipping() {
        let a = Self.provider("a", weight: 1, keys: [])
        let b = Self.provider("b", weight: 1, keys: [])
        a.endpoints[0].health.recordCheck(healthy: false, error: "down")
        for r in [0.0, 0.5, 0.99] { #expect(EndpointSelector.pick(from: [a, b], random: r)?.providerName == "b") }
        #expect(EndpointSelector.pick(from: [a, b], excluding: [b.endpoints[0]]) == nil)
        a.endpoints[0].health.recordCheck(healthy: true, error: nil)
        #expect(EndpointSelector.pick(from: [a, b], excluding: [b.endpoints[0]])?.providerName == "a")
    }

    @Test("three live failures in a row open the breaker; a success in between resets the count; an active check does not close it")
    func passiveEjection() {
        let health = EndpointHealth()
        health.recordFailure("x", probe: false)
        health.recordFailure("x", probe: false)
        health.recordSuccess(probe: false)
        health.recordFailure("x", probe: false)
        #expect(health.isAvailable())
        health.recordFailure("x", probe: false)
        health.recordFailure("x", probe: false)
        #expect(!health.isAvailable())
        #expect(health.lastError == "x")
        #expect(health.breakerState.name == "open")
        #expect((health.retryIn() ?? 0) > 9)
        // Only probes close it: a healthy active check does not let traffic back at once.
        health.recordCheck(healthy: true, error: nil)
        #expect(!health.isAvailable())
        #expect(!health.isAvailable(now: .now + .seconds(9)))
        #expect(health.isAvailable(now: .now + .seconds(11)))
    }

    @Test("a Retry-After cool-down takes the endpoint out until then, and a disabled breaker never opens")
    func coolDownAndDisabled() {
        let health = EndpointHealth()
        health.coolDown(for: .seconds(2), reason: "HTTP 429")
        #expect(!health.isAvailable())
        #expect(health.isAvailable(now: .now + .seconds(3)))
        let off = EndpointHealth(breaker: nil)
        for _ in 0..<10 { off.recordFailure("x", probe: false) }
        #expect(off.isAvailable())
        #expect(off.breakerState.name == "closed")
    }
}
