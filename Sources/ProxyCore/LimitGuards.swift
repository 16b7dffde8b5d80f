import Dialects
import Guards
import ProxyConfig
import Store

/// Refuses addresses in `security.deny_ips`, and outside `security.allow_ips` when it lists
/// any. First in the chain: a refused address costs nothing else.
package struct AddressGuard: AdmissionGuard {
    let allow: AddressAllowList
    let deny: [CIDR]

    package var name: String { "ip" }

    package init(allow: [String], deny: [String]) {
        self.allow = AddressAllowList(allow)
        self.deny = deny.compactMap(CIDR.init)
    }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        let address = admission.clientAddress
        if let address, deny.contains(where: { $0.contains(address) }) { return .reject(.ipDenied) }
        return allow.permits(address) ? .admit : .reject(.ipDenied)
    }
}

/// Sheds new requests (503, `Retry-After`) when too many are in flight or memory or CPU is
/// over its threshold, before authentication or any body is read.
package struct SheddingGuard: AdmissionGuard {
    let shedder: LoadShedder
    let config: SheddingConfig

    package var name: String { "shedding" }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        switch shedder.admit(maxInFlight: config.maxInFlight, maxMemoryBytes: config.maxMemoryMB * 1_048_576, maxCPUPercent: config.maxCPUPercent) {
        case .admit(let tookSlot):
            if tookSlot { admission.reservation.holdShedSlot(shedder) }
            return .admit
        case .shed:
            return .reject(.overloaded(retryAfter: config.retryAfter))
        }
    }
}

/// `limits.ip`: requests per minute and in flight per client address. Before the key check,
/// so guessing keys is rate limited too.
package struct AddressRateGuard: AdmissionGuard {
    let state: LimitState
    let rule: RateRule

    package var name: String { "ip_rate_limit" }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        guard let address = admission.clientAddress else { return .admit }
        if let rpm = rule.requestsPerMinute {
            let gcra = GCRA.perMinute(rpm, burst: rule.burst)
            let decision = state.addressRates.charge(address, rule: gcra, now: MonotonicClock.nanos())
            if !decision.admitted { return .reject(RateLimitGuard.refusal("requests per minute for this address", rpm, decision)) }
            admission.reservation.noteRequests(decision, limit: Int64(rpm))
        }
        if let concurrency = rule.concurrency {
            guard state.addressSlots.acquire(address, limit: concurrency) else {
                return .reject(.rateLimited("This address already has \(concurrency) requests in flight (limits.ip.concurrency)", retryAfter: 1))
            }
            admission.reservation.holdSlot(state.addressSlots, key: address)
        }
        return .admit
    }
}

/// Per client key (its own `limits`, else `limits.key`), per key × model (`limits.key_model`)
/// and per model (`limits.models`): requests per minute, tokens per minute (the request's
/// estimate charged up front, settled with its real usage), requests in flight.
package struct RateLimitGuard: AdmissionGuard {
    let state: LimitState
    let config: LimitsConfig
    let modelRules: [(glob: Glob, rule: RateRule)]

    package var name: String { "rate_limit" }

    package init(state: LimitState, config: LimitsConfig) {
        self.state = state
        self.config = config
        modelRules = config.models.map { (Glob($0.pattern), $0.rule) }
    }

    /// The key's rule: its own fields first, `limits.key` for the rest.
    func keyRule(_ admission: Admission) -> RateRule {
        var rule = config.key
        if let own = admission.identity?.limits {
            if let rpm = own.requestsPerMinute {
                rule.requestsPerMinute = rpm
                rule.burst = nil
            }
            if let tpm = own.tokensPerMinute { rule.tokensPerMinute = tpm }
            if let concurrency = own.concurrency { rule.concurrency = concurrency }
        }
        return rule
    }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        let rule = keyRule(admission)
        guard rule.requestsPerMinute != nil || rule.concurrency != nil,
            let subject = LimitState.subject(keyID: admission.identity?.keyID, presented: admission.presentedKey)
        else { return .admit }
        if let rpm = rule.requestsPerMinute {
            let decision = state.keyRates.charge(subject, rule: .perMinute(rpm, burst: rule.burst), now: MonotonicClock.nanos())
            if !decision.admitted { return .reject(Self.refusal("requests per minute for this key", rpm, decision)) }
            admission.reservation.noteRequests(decision, limit: Int64(rpm))
        }
        if let concurrency = rule.concurrency {
            guard state.keySlots.acquire(subject, limit: concurrency) else {
                return .reject(.rateLimited("This key already has \(concurrency) requests in flight", retryAfter: 1))
            }
            admission.reservation.holdSlot(state.keySlots, key: subject)
        }
        return .admit
    }

    package func admitRouted(_ admission: inout Admission) -> GuardVerdict {
        let now = MonotonicClock.nanos()
        let estimate = admission.estimatedTokens(defaultOutput: config.defaultOutputTokens)
        let subject = LimitState.subject(keyID: admission.identity?.keyID, presented: admission.presentedKey)
        let model = admission.model ?? ""
        // Requests first (cheapest to refuse), then slots, then tokens.
        if let subject, let tpm = keyRule(admission).tokensPerMinute,
            let refusal = charge(tokens: estimate, tpm: tpm, in: state.keyTokens, key: subject, what: "tokens per minute for this key", now: now, &admission)
        {
            return .reject(refusal)
        }
        if let subject, !config.keyModel.isEmpty {
            let pair = subject + "|" + model
            if let rpm = config.keyModel.requestsPerMinute {
                let decision = state.keyModelRates.charge(pair, rule: .perMinute(rpm, burst: config.keyModel.burst), now: now)
                if !decision.admitted { return .reject(Self.refusal("requests per minute for this key and model", rpm, decision)) }
                admission.reservation.noteRequests(decision, limit: Int64(rpm))
            }
            if let tpm = config.keyModel.tokensPerMinute,
                let refusal = charge(tokens: estimate, tpm: tpm, in: state.keyModelTokens, key: pair, what: "tokens per minute for this key and model", now: now, &admission)
            {
                return .reject(refusal)
            }
        }
        if let (glob, rule) = modelRules.first(where: { $0.glob.matches(model) }) {
            let key = glob.pattern
            if let rpm = rule.requestsPerMinute {
                let decision = state.modelRates.charge(key, rule: .perMinute(rpm, burst: rule.burst), now: now)
                if !decision.admitted { return .reject(Self.refusal("requests per minute for \(key)", rpm, decision)) }
                admission.reservation.noteRequests(decision, limit: Int64(rpm))
            }
            if let concurrency = rule.concurrency {
                guard state.modelSlots.acquire(key, limit: concurrency) else {
                    return .reject(.rateLimited("\(key) already has \(concurrency) requests in flight", retryAfter: 1))
                }
                admission.reservation.holdSlot(state.modelSlots, key: key)
            }
            if let tpm = rule.tokensPerMinute,
                let refusal = charge(tokens: estimate, tpm: tpm, in: state.modelTokens, key: key, what: "tokens per minute for \(key)", now: now, &admission)
            {
                return .reject(refusal)
            }
        }
        return .admit
    }

    /// Charges a token estimate against a per-minute token rate (a full minute may be spent at once).
    private func charge(
        tokens: Int64, tpm: Int, in limiter: RateLimiter, key: String, what: String, now: Int64, _ admission: inout Admission
    ) -> GatewayError? {
        let rule = GCRA.perMinute(tpm, burst: tpm)
        let decision = limiter.charge(key, rule: rule, cost: tokens, now: now)
        guard decision.admitted else { return Self.refusal(what, tpm, decision) }
        admission.reservation.holdToken(limiter, key: key, rule: rule, charged: min(tokens, rule.burst))
        admission.reservation.noteTokens(decision, limit: Int64(tpm))
        return nil
    }

    static func refusal(_ what: String, _ limit: Int, _ decision: GCRA.Decision) -> GatewayError {
        let seconds = Int(Reservation.Status.seconds(decision.retryAfterNanos))
        return .rateLimited("Rate limit of \(limit) \(what) reached; retry in \(max(1, seconds)) s", retryAfter: seconds)
    }
}

/// Budgets: the key's own (`limits.tokenBudget`, `costBudget`, `budgetPeriod`) and its
/// owner's (`budgets.owners`). The request's worst case (estimated prompt + its output
/// allowance, priced) is reserved before it is admitted and settled when it ends.
package struct BudgetGuard: AdmissionGuard {
    let state: LimitState
    let owners: [String: Budget]
    let pricing: PriceTable
    let defaultOutputTokens: Int

    package var name: String { "budget" }

    package func admitRouted(_ admission: inout Admission) -> GuardVerdict {
        guard let identity = admission.identity else { return .admit }
        let keyBudget = identity.limits.budget
        let ownerBudget = owners[identity.username]
        guard keyBudget != nil || ownerBudget != nil else { return .admit }
        let prompt = TokenEstimate.prompt(bodyBytes: admission.bodySize)
        let output = Int64(admission.maxOutputTokens ?? defaultOutputTokens)
        let cost = pricing.cost(model: admission.model, usage: TokenUsage(input: prompt, output: output))
        let charge = BudgetCharge(tokens: prompt &+ output, costUSD: cost)
        let nowMs = WallClock.nowMs()
        for (subject, budget) in [("key:" + identity.keyID, keyBudget), ("owner:" + identity.username, ownerBudget)] {
            guard let budget else { continue }
            if let exhausted = state.budgets.reserve(subject, charge, budget: budget, nowMs: nowMs) {
                if exhausted.leaseTooSmall {
                    return .reject(
                        .budgetExceeded(
                            "This instance's share of the \(subject.hasPrefix("key:") ? "key's" : "key owner's") \(exhausted.dimension) budget cannot cover this request (it reserves up to \(charge.tokens) tokens); more is being leased from the shared pool if any is left: retry shortly",
                            retryAfter: 1))
                }
                let whose = subject.hasPrefix("key:") ? "This key's" : "The key owner's"
                let period = budget.period == .total ? "" : " per \(budget.period.rawValue)"
                let reset = exhausted.resetsAt.map { " until \(CivilDate.iso8601(ms: $0))" } ?? ""
                let retry = exhausted.resetsAt.map { Int(max(1, ($0 - nowMs + 999) / 1000)) } ?? 86_400
                return .reject(
                    .budgetExceeded(
                        "\(whose) \(exhausted.dimension) budget of \(exhausted.limit)\(period) cannot cover this request (it reserves up to \(charge.tokens) tokens); it is spent\(reset)",
                        retryAfter: retry))
            }
            admission.reservation.holdBudget(state.budgets, subject: subject, budget: budget, charge: charge)
        }
        return .admit
    }
}

extension Admission {
    /// What the request may consume: its prompt (from the body size) and its output allowance
    /// (`max_tokens` or its siblings, else `default_output_tokens`).
    func estimatedTokens(defaultOutput: Int) -> Int64 {
        TokenEstimate.prompt(bodyBytes: bodySize) &+ Int64(maxOutputTokens ?? defaultOutput)
    }
}

/// Addresses on the block list (automatic or manual) get 403 `ip_blocked` before anything
/// else is looked at. With no block in force it costs one atomic load.
package struct BlockGuard: AdmissionGuard {
    let blocks: BlockList

    package var name: String { "ip_block" }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        guard !blocks.isEmpty, let address = admission.clientAddress, blocks.isBlocked(address, nowMs: WallClock.nowMs()) else { return .admit }
        return .reject(.ipBlocked)
    }
}
