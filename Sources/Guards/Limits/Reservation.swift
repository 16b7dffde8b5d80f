import HTTPTypes

/// What the guards took for one request — rate-limit tokens, in-flight slots, budget holds,
/// a shedding slot — carried in its record so the request's one accounting settles exactly
/// what was taken: a request refused by a later guard gives back only what earlier guards
/// took, and a finished one books its real usage.
///
/// Also holds what the `X-RateLimit-*` headers report: the tightest request limit and the
/// tightest token limit met on the way.
///
/// A class, made only when a guard takes something, shared by the admission and the record:
/// copies of the record cost one retain. Confined to the request's event loop (the guards,
/// the driver and the recorder's observers all run there), hence unchecked.
package final class Reservation: @unchecked Sendable {
    struct TokenCharge: Sendable {
        let limiter: RateLimiter
        let key: String
        let rule: GCRA
        let charged: Int64
    }

    struct Slot: Sendable {
        let limiter: ConcurrencyLimiter
        let key: String
    }

    struct BudgetHold: Sendable {
        let ledger: BudgetLedger
        let subject: String
        let budget: Budget
        /// What is reserved: the request's worst case, plus what a stream reserved as it ran.
        var charge: BudgetCharge
    }

    /// One limit's state for the response headers.
    package struct Status: Sendable, Equatable {
        package var limit: Int64
        package var remaining: Int64
        /// Seconds until the limit is whole again (rounded up).
        package var resetSeconds: Int64
    }

    /// What was taken, in one array (one allocation per request, not one per kind).
    private enum Hold {
        case token(TokenCharge)
        case slot(Slot)
        case budget(BudgetHold)
    }

    private var holds: [Hold] = []
    private var shedder: LoadShedder?
    package private(set) var requests: Status?
    package private(set) var tokenStatus: Status?

    package init() {}

    package var isEmpty: Bool { holds.isEmpty && shedder == nil }

    private func add(_ hold: Hold) {
        if holds.isEmpty { holds.reserveCapacity(8) }
        holds.append(hold)
    }

    package func holdToken(_ limiter: RateLimiter, key: String, rule: GCRA, charged: Int64) {
        add(.token(TokenCharge(limiter: limiter, key: key, rule: rule, charged: charged)))
    }

    package func holdSlot(_ limiter: ConcurrencyLimiter, key: String) { add(.slot(Slot(limiter: limiter, key: key))) }

    package func holdBudget(_ ledger: BudgetLedger, subject: String, budget: Budget, charge: BudgetCharge) {
        add(.budget(BudgetHold(ledger: ledger, subject: subject, budget: budget, charge: charge)))
    }

    package func holdShedSlot(_ shedder: LoadShedder) { self.shedder = shedder }

    /// Whether the request holds any budget (a stream may then be cut off at it).
    package var holdsBudget: Bool {
        holds.contains {
            if case .budget = $0 { return true }
            return false
        }
    }

    /// Reserves `extra` more against every budget the request holds: a stream that has
    /// generated past what it reserved asks for the next slice as it runs. `scale` is the share
    /// of each budget the stream may reach (`budgets.stream_cutoff`). All or nothing: on a
    /// refusal, what the earlier budgets gave is handed back, and the refusal is returned.
    package func extendBudgets(by extra: BudgetCharge, scale: Double, nowMs: Int64) -> BudgetLedger.Exhausted? {
        var extended: [Int] = []
        for index in holds.indices {
            guard case .budget(var hold) = holds[index] else { continue }
            var budget = hold.budget
            budget.tokens = budget.tokens.map { Int64(min(Double(Int64.max / 2), Double($0) * scale)) }
            budget.costUSD = budget.costUSD.map { $0 * scale }
            if let exhausted = hold.ledger.reserve(hold.subject, extra, budget: budget, nowMs: nowMs) {
                for earlier in extended {
                    guard case .budget(var given) = holds[earlier] else { continue }
                    given.ledger.settle(given.subject, reserved: extra, used: BudgetCharge(tokens: 0, costUSD: 0), budget: given.budget, nowMs: nowMs)
                    given.charge = BudgetCharge(tokens: given.charge.tokens &- extra.tokens, costUSD: given.charge.costUSD - extra.costUSD)
                    holds[earlier] = .budget(given)
                }
                return exhausted
            }
            hold.charge = BudgetCharge(tokens: hold.charge.tokens &+ extra.tokens, costUSD: hold.charge.costUSD + extra.costUSD)
            holds[index] = .budget(hold)
            extended.append(index)
        }
        return nil
    }

    /// Keeps the tighter of what is known and `decision` for the request headers.
    package func noteRequests(_ decision: GCRA.Decision, limit: Int64) {
        requests = Self.tighter(requests, Status(decision, limit: limit))
    }

    package func noteTokens(_ decision: GCRA.Decision, limit: Int64) {
        tokenStatus = Self.tighter(tokenStatus, Status(decision, limit: limit))
    }

    private static func tighter(_ known: Status?, _ new: Status) -> Status {
        guard let known else { return new }
        return new.remaining < known.remaining ? new : known
    }

    /// What the request really used, for settlement.
    package struct Outcome: Sendable {
        /// Tokens the response reported; nil when it reported none.
        package var tokens: Int64?
        /// Its cost in US dollars (from the tokens and the price table).
        package var costUSD: Double?
        /// Whether the upstream may have done (and billed) work: a response head arrived with
        /// a success status, or the request was cut off while being answered.
        package var upstreamWorked: Bool

        package init(tokens: Int64?, costUSD: Double?, upstreamWorked: Bool) {
            self.tokens = tokens
            self.costUSD = costUSD
            self.upstreamWorked = upstreamWorked
        }
    }

    /// Gives back every slot and books every charge. Called once, from the request's one
    /// accounting. A request whose usage is unknown after the upstream worked keeps its
    /// estimate (the conservative reading); one that never reached an upstream, or was
    /// answered with an error, is charged nothing.
    package func settle(_ outcome: Outcome, nowNanos: Int64, nowMs: Int64) {
        shedder?.release()
        for hold in holds {
            switch hold {
            case .slot(let slot):
                slot.limiter.release(slot.key)
            case .token(let token):
                let used = outcome.tokens ?? (outcome.upstreamWorked ? token.charged : 0)
                token.limiter.adjust(token.key, rule: token.rule, by: used - token.charged, now: nowNanos)
            case .budget(let hold):
                let used: BudgetCharge
                if let tokens = outcome.tokens {
                    used = BudgetCharge(tokens: tokens, costUSD: outcome.costUSD ?? 0)
                } else {
                    used = outcome.upstreamWorked ? hold.charge : BudgetCharge(tokens: 0, costUSD: 0)
                }
                hold.ledger.settle(hold.subject, reserved: hold.charge, used: used, budget: hold.budget, nowMs: nowMs)
            }
        }
    }

    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset` (seconds) and their `-Tokens` twins. An
    /// upstream's own headers of those names (OpenAI sends `x-ratelimit-remaining-tokens`) would
    /// contradict the gateway's and go first — in one pass, and only when there are any: six
    /// name-replacing writes were most of the guards' cost in the response path.
    package func apply(to headers: inout HTTPFields) {
        guard requests != nil || tokenStatus != nil else { return }
        if headers.contains(where: { $0.name.canonicalName.hasPrefix("x-ratelimit-") }) {
            headers.removeAll { Self.names.contains($0.name) }
        }
        if let requests {
            headers.append(HTTPField(name: .rateLimitLimit, value: String(requests.limit)))
            headers.append(HTTPField(name: .rateLimitRemaining, value: String(requests.remaining)))
            headers.append(HTTPField(name: .rateLimitReset, value: String(requests.resetSeconds)))
        }
        if let tokenStatus {
            headers.append(HTTPField(name: .rateLimitLimitTokens, value: String(tokenStatus.limit)))
            headers.append(HTTPField(name: .rateLimitRemainingTokens, value: String(tokenStatus.remaining)))
            headers.append(HTTPField(name: .rateLimitResetTokens, value: String(tokenStatus.resetSeconds)))
        }
    }

    static let names: Set<HTTPField.Name> = [
        .rateLimitLimit, .rateLimitRemaining, .rateLimitReset, .rateLimitLimitTokens, .rateLimitRemainingTokens, .rateLimitResetTokens,
    ]
}

extension Reservation.Status {
    init(_ decision: GCRA.Decision, limit: Int64) {
        self.init(limit: limit, remaining: max(0, decision.remaining), resetSeconds: Self.seconds(decision.resetNanos))
    }

    /// Whole seconds, rounded up.
    package static func seconds(_ nanos: Int64) -> Int64 {
        nanos <= 0 ? 0 : (nanos - 1) / 1_000_000_000 + 1
    }
}

extension HTTPField.Name {
    package static let rateLimitLimit = HTTPField.Name("x-ratelimit-limit")!
    package static let rateLimitRemaining = HTTPField.Name("x-ratelimit-remaining")!
    package static let rateLimitReset = HTTPField.Name("x-ratelimit-reset")!
    package static let rateLimitLimitTokens = HTTPField.Name("x-ratelimit-limit-tokens")!
    package static let rateLimitRemainingTokens = HTTPField.Name("x-ratelimit-remaining-tokens")!
    package static let rateLimitResetTokens = HTTPField.Name("x-ratelimit-reset-tokens")!
}
