/// Weighted random choice among the available endpoints of the candidate providers; when
/// every one that is healthy is cooling down after a 429/503, among those (the upstream then
/// answers for itself). With latency balancing (``Balancing/latency``, the first
/// candidate's), two are drawn by weight and the one with the lower
/// ``EndpointHealth/latencyCost(now:)`` wins. Allocation-free: passes over the (few) endpoints instead of a list.
package enum EndpointSelector {
    /// Picks an endpoint, skipping unavailable ones and those in `excluding` (already tried).
    /// `random` and `second` are in [0, 1); injectable so tests can pin the choice.
    package static func pick(
        from providers: [Provider],
        excluding tried: [Endpoint] = [],
        random: Double = BalancerRandom.next(),
        second: @autoclosure () -> Double = BalancerRandom.next(),
        now: ContinuousClock.Instant = .now
    ) -> Endpoint? {
        for ignoringCoolDown in [false, true] {
            guard let first = pick(from: providers, excluding: tried, random: random, now: now, ignoringCoolDown: ignoringCoolDown) else { continue }
            guard providers.first?.balancing == .latency else { return first }
            // The second draw leaves the first out; alone, the first is the answer.
            guard let other = pick(from: providers, excluding: tried + [first], random: second(), now: now, ignoringCoolDown: ignoringCoolDown) else {
                return first
            }
            return cost(other, now: now) < cost(first, now: now) ? other : first
        }
        return nil
    }

    /// Weights already decided who was drawn; the cost decides between the two.
    private static func cost(_ endpoint: Endpoint, now: ContinuousClock.Instant) -> Double {
        endpoint.health.latencyCost(now: now)
    }

    private static func pick(
        from providers: [Provider], excluding tried: [Endpoint], random: Double, now: ContinuousClock.Instant, ignoringCoolDown: Bool
    ) -> Endpoint? {
        var total = 0.0
        for provider in providers {
            for endpoint in provider.endpoints where endpoint.health.isAvailable(now: now, ignoringCoolDown: ignoringCoolDown) && !tried.contains(where: { $0 === endpoint }) {
                total += endpoint.weight
            }
        }
        guard total > 0 else { return nil }
        var target = random * total
        var last: Endpoint?
        for provider in providers {
            for endpoint in provider.endpoints where endpoint.health.isAvailable(now: now, ignoringCoolDown: ignoringCoolDown) && !tried.contains(where: { $0 === endpoint }) {
                target -= endpoint.weight
                last = endpoint
                if target < 0 { return endpoint }
            }
        }
        return last
    }
}
