/// Weighted random choice among the available endpoints of the candidate providers; when
/// every one that is healthy is cooling down after a 429/503, among those (the upstream then
/// answers for itself). Allocation-free: passes over the (few) endpoints instead of a list.
package enum EndpointSelector {
    /// Picks an endpoint, skipping unavailable ones and those in `excluding` (already tried).
    /// `random` is in [0, 1); injectable so tests can pin the choice.
    package static func pick(
        from providers: [Provider],
        excluding tried: [Endpoint] = [],
        random: Double = BalancerRandom.next(),
        now: ContinuousClock.Instant = .now
    ) -> Endpoint? {
        pick(from: providers, excluding: tried, random: random, now: now, ignoringCoolDown: false)
            ?? pick(from: providers, excluding: tried, random: random, now: now, ignoringCoolDown: true)
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
