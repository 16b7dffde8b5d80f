import Dialects
import Foundation

/// Weighted random choice among the available endpoints of the candidate providers; when
/// every one that is healthy is cooling down after a 429/503, among those (the upstream then
/// answers for itself). With latency balancing (``Balancing/latency``, the first
/// candidate's), two are drawn by weight and the one with the lower
/// ``EndpointHealth/latencyCost(now:)`` wins. Allocation-free: passes over the (few) endpoints instead of a list.
package enum EndpointSelector {
    /// Picks an endpoint, skipping unavailable ones and those in `excluding` (already tried).
    /// `random` and `second` are in [0, 1); injectable so tests can pin the choice.
    /// `affinity`: a prompt-cache affinity key (``PrefixHash``): the endpoint is then the
    /// rendezvous-hashing winner among those available — the same for every request with the
    /// key while it stays available, the next-best when it is not, back when it recovers.
    package static func pick(
        from providers: [Provider],
        excluding tried: [Endpoint] = [],
        random: Double = BalancerRandom.next(),
        second: @autoclosure () -> Double = BalancerRandom.next(),
        affinity: UInt64? = nil,
        now: ContinuousClock.Instant = .now
    ) -> Endpoint? {
        if let affinity {
            return rendezvous(providers, excluding: tried, key: affinity, now: now, ignoringCoolDown: false)
                ?? rendezvous(providers, excluding: tried, key: affinity, now: now, ignoringCoolDown: true)
        }
        // Healthy ones first; among those cooling down only when no other is left.
        let ignoringCoolDown: Bool
        let first: Endpoint
        if let found = pick(from: providers, excluding: tried, random: random, now: now, ignoringCoolDown: false) {
            (first, ignoringCoolDown) = (found, false)
        } else if let found = pick(from: providers, excluding: tried, random: random, now: now, ignoringCoolDown: true) {
            (first, ignoringCoolDown) = (found, true)
        } else {
            return nil
        }
        guard providers.first?.balancing == .latency else { return first }
        // The second draw leaves the first out; alone, the first is the answer.
        guard let other = pick(from: providers, excluding: tried + [first], random: second(), now: now, ignoringCoolDown: ignoringCoolDown) else {
            return first
        }
        return cost(other, now: now) < cost(first, now: now) ? other : first
    }

    /// Weighted rendezvous hashing: each endpoint scores `-weight / ln(u)` with `u` in (0, 1)
    /// from the key and the endpoint's id; the highest wins. Keys spread over endpoints in
    /// proportion to their weights, and an endpoint leaving moves only its own keys.
    private static func rendezvous(
        _ providers: [Provider], excluding tried: [Endpoint], key: UInt64, now: ContinuousClock.Instant, ignoringCoolDown: Bool
    ) -> Endpoint? {
        var best: Endpoint?
        var bestScore = -Double.infinity
        for provider in providers {
            for endpoint in provider.endpoints where endpoint.health.isAvailable(now: now, ignoringCoolDown: ignoringCoolDown) && !tried.contains(where: { $0 === endpoint }) {
                let mixed = PrefixHash.mix(key ^ endpoint.idHash)
                // 52 random bits, strictly between 0 and 1 (exact in a Double).
                let unit = (Double(mixed >> 12) + 0.5) / 0x1p52
                let score = -endpoint.weight / log(unit)
                if score > bestScore {
                    best = endpoint
                    bestScore = score
                }
            }
        }
        return best
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
