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

    @Test("three live failures in a row eject an endpoint; a success in between resets the count")
    func passiveEjection() {
        let health = EndpointHealth()
        health.recordFailure("x")
        health.recordFailure("x")
        health.recordSuccess()
        health.recordFailure("x")
        #expect(health.isAvailable())
        health.recordFailure("x")
        health.recordFailure("x")
        #expect(!health.isAvailable())
        #expect(health.lastError == "x")
        health.recordCheck(healthy: true, error: nil)
        #expect(health.isAvailable())
    }
}

@Suite("Model-name globs")
struct GlobTests {
    @Test(
        "patterns",
        arguments: [
            ("gpt-4*", "gpt-4o", true), ("gpt-4*", "gpt-3.5", false), ("*", "", true), ("a?c", "abc", true),
            ("a?c", "ac", false), ("*-mini", "gpt-4o-mini", true), ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false),
        ])
    func matches(pattern: String, text: String, expected: Bool) {
        #expect(Glob(pattern).matches(text) == expected)
    }

    @Test("the balancer's draws stay in [0, 1) and spread evenly: ten buckets within 10 % of their share over 100,000 draws")
    func balancerRandom() {
        var buckets = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 {
            let draw = BalancerRandom.next()
            #expect(draw >= 0 && draw < 1)
            buckets[min(9, Int(draw * 10))] += 1
        }
        for count in buckets { #expect((9_000...11_000).contains(count), "\(buckets)") }
    }
}
