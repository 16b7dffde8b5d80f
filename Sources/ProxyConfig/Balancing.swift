/// How one request's endpoint is chosen among the candidates.
package enum Balancing: String, Sendable, Equatable, CaseIterable {
    /// Random, in proportion to the weights (providers' `weight`, keys' `weight`).
    case weighted
    /// Power of two choices: two candidates drawn by weight, the one with the lower cost
    /// taken — its decaying average time to first byte times its requests in flight plus
    /// one. Slow or busy endpoints get less, without starving them: an
    /// average decays to nothing within ``decaySeconds`` without new samples.
    case latency

    /// Seconds over which a time-to-first-byte average fades when no request refreshes it.
    package static let decaySeconds = 30.0
}
