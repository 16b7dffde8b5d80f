import Dialects
import Guards
import ProxyConfig
import Store

/// Refuses addresses in `security.deny_ips`, and outside `security.allow_ips` when it lists
/// any. First in the chain: a refused address costs nothing else.
package struct AddressGuard: AdmissionGuard {
    /// Empty: every address (that the deny list lets through) is allowed.
    let allow: [CIDR]
    let deny: [CIDR]

    package var name: String { "ip" }

    package init(allow: [String], deny: [String]) {
        self.allow = allow.compactMap(CIDR.init)
        self.deny = deny.compactMap(CIDR.init)
    }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        let origin = admission.origin
        if origin.isIn(deny) { return .reject(.ipDenied) }
        guard !allow.isEmpty else { return .admit }
        return origin.isIn(allow) ? .admit : .reject(.ipDenied)
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
            if tookSlot { admission.reserve().holdShedSlot(shedder) }
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
    let mode: AcrossInstances

    package init(state: LimitState, rule: RateRule, mode: AcrossInstances) {
        self.state = state
        self.rule = rule
        self.mode = mode
    }

    package var name: String { "ip_rate_limit" }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        guard let address = admission.clientAddress else { return .admit }
        let charges = RateCharges(now: MonotonicClock.nanos(), share: state.share(mode))
        if let refusal = charges.request(state.addressRates, address, rule, "requests per minute for this address", &admission)
            ?? charges.slot(state.addressSlots, address, rule.concurrency, "This address", &admission)
        {
            return .reject(refusal)
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

    /// The name the key is counted under, worked out once per request (a configured key's
    /// digest is a SHA-256) and kept in the admission for the routed stage.
    func subject(_ admission: inout Admission) -> String? {
        if let known = admission.limitSubject { return known }
        admission.limitSubject = LimitState.subject(identity: admission.identity, presented: admission.presentedKey)
        return admission.limitSubject
    }

    package func admitHead(_ admission: inout Admission) -> GuardVerdict {
        let rule = keyRule(admission)
        guard rule.requestsPerMinute != nil || rule.concurrency != nil, let subject = subject(&admission) else { return .admit }
        let charges = RateCharges(now: MonotonicClock.nanos(), share: state.share(config.acrossInstances))
        if let refusal = charges.request(state.keyRates, subject, rule, "requests per minute for this key", &admission)
            ?? charges.slot(state.keySlots, subject, rule.concurrency, "This key", &admission)
        {
            return .reject(refusal)
        }
        return .admit
    }

    package func admitRouted(_ admission: inout Admission) -> GuardVerdict {
        let charges = RateCharges(
            now: MonotonicClock.nanos(), share: state.share(config.acrossInstances), tokens: admission.estimatedTokens(defaultOutput: config.defaultOutputTokens))
        let model = admission.model ?? ""
        let keyTokens = keyRule(admission).tokensPerMinute
        if keyTokens != nil || !config.keyModel.isEmpty, let subject = subject(&admission) {
            if let refusal = charges.tokens(state.keyTokens, subject, keyTokens, "tokens per minute for this key", &admission) { return .reject(refusal) }
            if !config.keyModel.isEmpty {
                let pair = subject + "|" + model
                if let refusal = charges.request(state.keyModelRates, pair, config.keyModel, "requests per minute for this key and model", &admission)
                    ?? charges.tokens(state.keyModelTokens, pair, config.keyModel.tokensPerMinute, "tokens per minute for this key and model", &admission)
                {
                    return .reject(refusal)
                }
            }
        }
        if let (glob, rule) = modelRules.first(where: { $0.glob.matches(model) }) {
            let key = glob.pattern
            if let refusal = charges.request(state.modelRates, key, rule, "requests per minute for \(key)", &admission)
                ?? charges.slot(state.modelSlots, key, rule.concurrency, key, &admission)
                ?? charges.tokens(state.modelTokens, key, rule.tokensPerMinute, "tokens per minute for \(key)", &admission)
            {
                return .reject(refusal)
            }
        }
        return .admit
    }

    static func refusal(_ what: String, _ limit: Int, _ decision: GCRA.Decision) -> GatewayError {
        let seconds = Int(Reservation.Status.seconds(decision.retryAfterNanos))
        return .rateLimited("Rate limit of \(limit) \(what) reached; retry in \(max(1, seconds)) s", retryAfter: seconds)
    }
}

/// The three ways a rate guard charges a request — one request against a per-minute rate, a
/// slot against a concurrency limit, its token estimate against a per-minute token rate —
/// each noting what it took in the reservation (so it is settled) and what the headers
/// report. Each returns the refusal, or nil when admitted (or when its limit is not set).
///
/// Every limit is charged at this instance's part of it (``ClusterShare``); the headers still
/// name the configured limit, with what this instance has left of it.
struct RateCharges {
    let now: Int64
    var share = ClusterShare.whole
    var tokens: Int64 = 0

    func request(_ limiter: RateLimiter, _ key: String, _ rule: RateRule, _ what: String, _ admission: inout Admission) -> GatewayError? {
        guard let rpm = rule.requestsPerMinute else { return nil }
        guard let gcra = GCRA.perMinute(rpm, burst: rule.burst).shared(share) else { return emptyPart(what, rpm) }
        let decision = limiter.charge(key, rule: gcra, now: now)
        guard decision.admitted else { return RateLimitGuard.refusal(what, rpm, decision) }
        admission.reserve().noteRequests(decision, limit: Int64(rpm))
        return nil
    }

    func slot(_ limiter: ConcurrencyLimiter, _ key: String, _ limit: Int?, _ who: String, _ admission: inout Admission) -> GatewayError? {
        guard let limit else { return nil }
        let part = share.part(of: limit)
        guard part > 0, limiter.acquire(key, limit: part) else {
            let spread = share.isWhole ? "" : " (\(part) of them on this one of \(share.instances) gateway instances)"
            return .rateLimited("\(who) already has \(limit) requests in flight\(spread)", retryAfter: 1)
        }
        admission.reserve().holdSlot(limiter, key: key)
        return nil
    }

    /// A full minute's tokens may be spent at once (the burst is the per-minute limit).
    func tokens(_ limiter: RateLimiter, _ key: String, _ tpm: Int?, _ what: String, _ admission: inout Admission) -> GatewayError? {
        guard let tpm else { return nil }
        guard let rule = GCRA.perMinute(tpm, burst: tpm).shared(share) else { return emptyPart(what, tpm) }
        let decision = limiter.charge(key, rule: rule, cost: tokens, now: now)
        guard decision.admitted else { return RateLimitGuard.refusal(what, tpm, decision) }
        admission.reserve().holdToken(limiter, key: key, rule: rule, charged: min(tokens, rule.burst))
        admission.reserve().noteTokens(decision, limit: Int64(tpm))
        return nil
    }

    /// A limit smaller than the number of instances leaves the highest ranks none of it: the
    /// client's next request may reach an instance that has some.
    private func emptyPart(_ what: String, _ limit: Int) -> GatewayError {
        .rateLimited(
            "Rate limit of \(limit) \(what) is split over \(share.instances) gateway instances and this one holds none of it; retry shortly",
            retryAfter: 1)
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
        if let keyBudget, let refusal = reserve(identity.keyBudgetSubject, .key(identity.keyID), keyBudget, charge, nowMs, &admission) {
            return .reject(refusal)
        }
        if let ownerBudget, let refusal = reserve(identity.ownerBudgetSubject, .owner(identity.username), ownerBudget, charge, nowMs, &admission) {
            return .reject(refusal)
        }
        return .admit
    }

    /// Reserves `charge` against one budget (noted in the reservation), or the refusal.
    private func reserve(
        _ name: String, _ subject: BudgetSubject, _ budget: Budget, _ charge: BudgetCharge, _ nowMs: Int64, _ admission: inout Admission
    ) -> GatewayError? {
        guard let exhausted = state.budgets.reserve(name, charge, budget: budget, nowMs: nowMs) else {
            admission.reserve().holdBudget(state.budgets, subject: name, budget: budget, charge: charge)
            return nil
        }
        if exhausted.leaseTooSmall {
            return .budgetExceeded(
                "This instance's share of \(subject.whose.lowercased()) \(exhausted.dimension) budget cannot cover this request (it reserves up to \(charge.tokens) tokens); more is being leased from the shared pool if any is left: retry shortly",
                retryAfter: 1)
        }
        let period = budget.period == .total ? "" : " per \(budget.period.rawValue)"
        return .budgetExceeded(
            "\(subject.whose) \(exhausted.dimension) budget of \(exhausted.limit)\(period) cannot cover this request (it reserves up to \(charge.tokens) tokens); it is spent\(exhausted.untilReset)",
            retryAfter: exhausted.retryAfter(nowMs: nowMs))
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
