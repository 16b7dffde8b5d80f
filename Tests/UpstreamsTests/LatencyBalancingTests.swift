import ProxyConfig
import Testing

@testable import Upstreams

/// Power of two choices over a decaying time to first byte and requests in flight
/// (`balancing: latency`), without sockets: samples and counts are fed to the endpoints'
/// health by hand, and the two draws are pinned.
@Suite("Latency-aware balancing")
struct LatencyBalancingTests {
    static func provider(_ name: String, balancing: Balancing = .latency) -> Provider {
        var config = ProviderConfig(name: name, type: .openai, baseURL: "http://\(name).test/v1")
        config.balancing = balancing
        return Provider(config: config)
    }

    @Test("of the two drawn, the one answering faster wins, whichever was drawn first")
    func fasterWins() {
        let now = ContinuousClock.now
        let fast = Self.provider("fast"), slow = Self.provider("slow")
        fast.endpoints[0].health.recordLatency(.milliseconds(50), now: now)
        slow.endpoints[0].health.recordLatency(.milliseconds(800), now: now)
        // random 0.0 draws `fast` first, 0.9 draws `slow` first; the second draw is the other.
        #expect(EndpointSelector.pick(from: [fast, slow], random: 0.0, second: 0.0, now: now)?.providerName == "fast")
        #expect(EndpointSelector.pick(from: [fast, slow], random: 0.9, second: 0.0, now: now)?.providerName == "fast")
        // Weighted balancing ignores the latency.
        let a = Self.provider("a", balancing: .weighted), b = Self.provider("b", balancing: .weighted)
        b.endpoints[0].health.recordLatency(.milliseconds(10), now: now)
        a.endpoints[0].health.recordLatency(.milliseconds(900), now: now)
        #expect(EndpointSelector.pick(from: [a, b], random: 0.0, second: 0.0, now: now)?.providerName == "a")
    }

    @Test("requests in flight count: a fast endpoint with many open streams loses to a slower idle one")
    func inFlightCounts() {
        let now = ContinuousClock.now
        let busy = Self.provider("busy"), idle = Self.provider("idle")
        busy.endpoints[0].health.recordLatency(.milliseconds(100), now: now)
        idle.endpoints[0].health.recordLatency(.milliseconds(300), now: now)
        #expect(EndpointSelector.pick(from: [busy, idle], random: 0.0, second: 0.0, now: now)?.providerName == "busy")
        for _ in 0..<5 { busy.endpoints[0].health.started() }
        #expect(busy.endpoints[0].health.inFlight == 5)
        #expect(EndpointSelector.pick(from: [busy, idle], random: 0.0, second: 0.0, now: now)?.providerName == "idle")
        for _ in 0..<5 { busy.endpoints[0].health.ended() }
        #expect(EndpointSelector.pick(from: [busy, idle], random: 0.0, second: 0.0, now: now)?.providerName == "busy")
    }

    @Test("an old average fades: an endpoint slow a while ago gets traffic again without a new sample")
    func decay() {
        let start = ContinuousClock.now
        let once = Self.provider("once-slow"), steady = Self.provider("steady")
        once.endpoints[0].health.recordLatency(.milliseconds(2000), now: start)
        steady.endpoints[0].health.recordLatency(.milliseconds(200), now: start)
        #expect(EndpointSelector.pick(from: [once, steady], random: 0.0, second: 0.0, now: start)?.providerName == "steady")
        // Half-way through the fade: 2000 ms counts as 1000 ms, still the slower.
        let half = start + .seconds(Balancing.decaySeconds / 2)
        #expect(once.endpoints[0].health.latencyCost(now: half) > steady.endpoints[0].health.latencyCost(now: start + .seconds(Balancing.decaySeconds / 2)))
        // After the whole fade, without a sample, it costs the floor: tried again.
        steady.endpoints[0].health.recordLatency(.milliseconds(200), now: start + .seconds(Balancing.decaySeconds))
        let later = start + .seconds(Balancing.decaySeconds)
        #expect(EndpointSelector.pick(from: [once, steady], random: 0.0, second: 0.0, now: later)?.providerName == "once-slow")
    }

    @Test("unavailable endpoints are never drawn; one candidate is the answer; never measured ones are tried first")
    func candidates() {
        let now = ContinuousClock.now
        let up = Self.provider("up"), down = Self.provider("down"), fresh = Self.provider("fresh")
        up.endpoints[0].health.recordLatency(.milliseconds(100), now: now)
        down.endpoints[0].health.recordCheck(healthy: false, error: "down")
        #expect(EndpointSelector.pick(from: [down, up], random: 0.0, second: 0.0, now: now)?.providerName == "up")
        #expect(EndpointSelector.pick(from: [up], random: 0.5, second: 0.5, now: now)?.providerName == "up")
        #expect(EndpointSelector.pick(from: [up, fresh], random: 0.0, second: 0.0, now: now)?.providerName == "fresh")
        #expect(EndpointSelector.pick(from: [down], random: 0.0, second: 0.0, now: now) == nil)
    }

    @Test("routing.balancing and providers[].balancing parse; a wrong value names the key and the choices")
    func config() throws {
        let config = try GatewayConfig.parse(
            yaml: """
                routing: {balancing: latency}
                providers:
                  - {name: a, type: openai, base_url: "http://a.test/v1", balancing: weighted}
                """)
        #expect(config.routing.balancing == .latency)
        #expect(config.providers.first?.balancing == .weighted)
        #expect(throws: (any Error).self) { try GatewayConfig.parse(yaml: "routing: {balancing: fastest}") }
        do {
            _ = try GatewayConfig.parse(yaml: "routing: {balancing: fastest}")
        } catch {
            #expect("\(error)".contains("routing.balancing") && "\(error)".contains("weighted (random by weight) or latency"), "\(error)")
        }
    }
}
