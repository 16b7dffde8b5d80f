/// Prompt-cache affinity: which requests stick to one endpoint (one key of one provider)
/// while it is healthy, so the provider's prompt cache keeps hitting.
package enum Affinity: String, Sendable, Equatable, CaseIterable {
    /// Every request is balanced on its own.
    case off
    /// By the session key in `x-llmproxy-session` when the client sends one.
    case session
    /// By the session key, else by the request's prefix: its instructions and tools and the
    /// start of its conversation (a long shared system prompt keeps them together).
    case prefix

    /// The request header naming a session.
    package static let sessionHeader = "x-llmproxy-session"
}

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
