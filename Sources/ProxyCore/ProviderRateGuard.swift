import Dialects
import Guards
import ProxyConfig
import Upstreams

/// `limits.providers`: requests per minute, tokens per minute and requests in flight per
/// provider, all clients together — a vendor account's quota, kept by the gateway so its
/// clients see a 429 from here (with `Retry-After`) instead of burning attempts on the
/// vendor's. Last in the chain: only a request every other guard admitted takes a share.
///
/// The provider is chosen here, by the same weights the balancer uses, among the route's
/// candidates that have room: one at its limit is passed over for another, and the request
/// is then held to the one it was charged to (so the charge and the attempt agree). A route
/// whose candidates have no limit is left alone.
package struct ProviderRateGuard: AdmissionGuard {
    let state: LimitState
    let rules: [String: RateRule]
    let defaultOutputTokens: Int
    let mode: AcrossInstances

    package var name: String { "provider_rate_limit" }

    package init(state: LimitState, config: LimitsConfig) {
        self.state = state
        rules = config.providers
        defaultOutputTokens = config.defaultOutputTokens
        mode = config.acrossInstances
    }

    package func admitRouted(_ admission: inout Admission) -> GuardVerdict {
        guard var candidates = admission.providers, candidates.contains(where: { rules[$0.name] != nil }) else { return .admit }
        let charges = RateCharges(
            now: MonotonicClock.nanos(), share: state.share(mode),
            tokens: admission.estimatedTokens(defaultOutput: defaultOutputTokens))
        var refusal: GatewayError?
        while !candidates.isEmpty {
            let chosen = Self.draw(from: candidates)
            guard let rule = rules[chosen.name] else {
                admission.providers = [chosen]
                return .admit
            }
            let what = "for provider \(chosen.name)"
            let refused =
                charges.request(state.providerRates, chosen.name, rule, "requests per minute \(what)", &admission)
                ?? charges.slot(state.providerSlots, chosen.name, rule.concurrency, "Provider \(chosen.name)", &admission)
                ?? charges.tokens(state.providerTokens, chosen.name, rule.tokensPerMinute, "tokens per minute \(what)", &admission)
            guard let refused else {
                admission.providers = [chosen]
                return .admit
            }
            // A slot taken for this provider before the refusal is given back when the request
            // is settled; its request-rate charge stays, as for every kind of limit.
            if refusal == nil || (refused.retryAfter ?? 0) < (refusal?.retryAfter ?? 0) { refusal = refused }
            candidates.removeAll { $0 === chosen }
        }
        return .reject(refusal ?? .rateLimited("Every provider for this model is at its rate limit", retryAfter: 1))
    }

    /// A candidate drawn by weight among those with an available endpoint (the first when
    /// none is available: the attempt then reports that).
    static func draw(from candidates: [Provider]) -> Provider {
        guard candidates.count > 1, let endpoint = EndpointSelector.pick(from: candidates) else { return candidates[0] }
        return candidates.first { $0.name == endpoint.providerName } ?? candidates[0]
    }
}
