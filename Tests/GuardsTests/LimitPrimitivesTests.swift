import Guards
import Testing

@Suite("GCRA, concurrency slots, budget ledger, prices")
struct LimitPrimitivesTests {
    static let second: Int64 = 1_000_000_000

    @Test("GCRA: a full bucket admits the burst at once, then one request per interval, and says when to retry")
    func gcraBurstAndRefill() {
        let rule = GCRA.perMinute(60, burst: 3) // one a second, three at once
        var tat: Int64 = 0
        let now: Int64 = 1000 * Self.second
        let first = rule.charge(1, tat: &tat, now: now)
        #expect(first.admitted && first.remaining == 2)
        #expect(rule.charge(1, tat: &tat, now: now).remaining == 1)
        #expect(rule.charge(1, tat: &tat, now: now).remaining == 0)
        let refused = rule.charge(1, tat: &tat, now: now)
        #expect(!refused.admitted)
        #expect(refused.retryAfterNanos == Self.second)
        #expect(refused.resetNanos == 3 * Self.second)
        // A refusal takes nothing: a second later exactly one more fits.
        #expect(rule.charge(1, tat: &tat, now: now + Self.second).admitted)
        #expect(!rule.charge(1, tat: &tat, now: now + Self.second).admitted)
        // Idle time refills up to the burst, never past it.
        let later = rule.charge(1, tat: &tat, now: now + 100 * Self.second)
        #expect(later.admitted && later.remaining == 2)
    }

    @Test("GCRA: a cost over the burst is clamped to the burst; adjust books real usage and refunds never bank past capacity")
    func gcraCostsAndAdjust() {
        let rule = GCRA.perMinute(600, burst: 600) // tokens: 10 a second
        var tat: Int64 = 0
        let now: Int64 = 50 * Self.second
        #expect(rule.charge(5000, tat: &tat, now: now).admitted) // clamped to 600
        #expect(!rule.charge(1, tat: &tat, now: now).admitted)
        rule.adjust(-590, tat: &tat, now: now) // it really used 10
        let after = rule.charge(100, tat: &tat, now: now)
        #expect(after.admitted && after.remaining == 490)
        rule.adjust(-10_000, tat: &tat, now: now)
        #expect(tat == now)
        rule.adjust(Int64.max, tat: &tat, now: now) // saturates, never traps
        #expect(!rule.charge(1, tat: &tat, now: now).admitted)
    }

    @Test("a rate limiter keeps at most maxEntries things, dropping spent entries first")
    func rateLimiterIsBounded() {
        let limiter = RateLimiter(maxEntries: 100)
        let rule = GCRA.perMinute(1, burst: 1)
        for index in 0..<1000 { _ = limiter.charge("address-\(index)", rule: rule, now: Int64(index)) }
        #expect(limiter.count <= 100)
        // The newest are still limited.
        #expect(!limiter.charge("address-999", rule: rule, now: 999).admitted)
    }

    @Test("a charge that read the clock before a later one took the lock is judged at the later time: the burst is admitted whole, remaining counts down by one")
    func staleClockReadings() {
        let limiter = RateLimiter()
        let rule = GCRA.perMinute(5, burst: 5)
        let interval: Int64 = 12_000_000_000
        // Five callers read the clock 1 ms apart and reach the lock newest first.
        let readings = (0..<5).map { Int64($0) * 1_000_000 + interval * 10 }.reversed()
        let decisions = readings.map { limiter.charge("k", rule: rule, now: $0) }
        #expect(decisions.allSatisfy { $0.admitted })
        #expect(decisions.map(\.remaining) == [4, 3, 2, 1, 0])
    }

    @Test("concurrency slots: at most the limit per key, released one by one")
    func slots() {
        let slots = ConcurrencyLimiter()
        #expect(slots.acquire("k", limit: 2) && slots.acquire("k", limit: 2))
        #expect(!slots.acquire("k", limit: 2))
        #expect(slots.acquire("other", limit: 2))
        slots.release("k")
        #expect(slots.acquire("k", limit: 2))
        slots.release("k")
        slots.release("k")
        slots.release("k") // an extra release does not go negative
        #expect(slots.inFlight("k") == 0)
    }

    @Test("budget ledger: reservations are hard, settlement books real use, periods start again")
    func ledger() {
        let ledger = BudgetLedger()
        let budget = Budget(tokens: 1000, period: .day)
        let now: Int64 = 1_764_547_200_000 // 2025-12-01T00:00:00Z
        let charge = BudgetCharge(tokens: 300, costUSD: 0)
        #expect(ledger.reserve("k", charge, budget: budget, nowMs: now) == nil)
        #expect(ledger.reserve("k", charge, budget: budget, nowMs: now) == nil)
        #expect(ledger.reserve("k", charge, budget: budget, nowMs: now) == nil)
        let refused = ledger.reserve("k", charge, budget: budget, nowMs: now)
        #expect(refused?.dimension == "tokens")
        #expect(refused?.resetsAt == now + 86_400_000)
        // One used 50 of its 300: 250 come back.
        ledger.settle("k", reserved: charge, used: BudgetCharge(tokens: 50, costUSD: 0), budget: budget, nowMs: now)
        #expect(ledger.reserve("k", charge, budget: budget, nowMs: now) == nil)
        #expect(ledger.usage("k", period: .day, nowMs: now).spent.tokens == 50)
        // The next day starts from nothing spent (reservations still in flight count).
        let tomorrow = now + 86_400_000
        #expect(ledger.usage("k", period: .day, nowMs: tomorrow).spent.tokens == 0)
        let money = Budget(costUSD: 1.0, period: .month)
        #expect(ledger.reserve("m", BudgetCharge(tokens: 0, costUSD: 0.6), budget: money, nowMs: now) == nil)
        #expect(ledger.reserve("m", BudgetCharge(tokens: 0, costUSD: 0.6), budget: money, nowMs: now)?.dimension == "cost")
        ledger.seed("s", periodStart: BudgetPeriod.month.start(containing: now), tokens: 0, costUSD: 0.95)
        #expect(ledger.reserve("s", BudgetCharge(tokens: 0, costUSD: 0.1), budget: money, nowMs: now) != nil)
    }

    @Test("a stream extends its budget holds as it runs, all or nothing, and settles everything it holds")
    func extendHolds() {
        let ledger = BudgetLedger()
        let now: Int64 = 1_764_547_200_000
        let keyBudget = Budget(tokens: 100, period: .day)
        let ownerBudget = Budget(tokens: 1000, period: .day)
        let start = BudgetCharge(tokens: 40, costUSD: 0)
        let reservation = Reservation()
        #expect(ledger.reserve("key", start, budget: keyBudget, nowMs: now) == nil)
        reservation.holdBudget(ledger, subject: "key", budget: keyBudget, charge: start)
        #expect(ledger.reserve("owner", start, budget: ownerBudget, nowMs: now) == nil)
        reservation.holdBudget(ledger, subject: "owner", budget: ownerBudget, charge: start)
        #expect(reservation.holdsBudget)
        #expect(reservation.extendBudgets(by: BudgetCharge(tokens: 50, costUSD: 0), scale: 1, nowMs: now) == nil)
        #expect(ledger.usage("key", period: .day, nowMs: now).reserved.tokens == 90)
        // The key's budget has 10 left: nothing is taken from either.
        #expect(reservation.extendBudgets(by: BudgetCharge(tokens: 20, costUSD: 0), scale: 1, nowMs: now)?.dimension == "tokens")
        #expect(ledger.usage("owner", period: .day, nowMs: now).reserved.tokens == 90)
        #expect(ledger.usage("key", period: .day, nowMs: now).reserved.tokens == 90)
        // With stream_cutoff 1.5 the key may reach 150.
        #expect(reservation.extendBudgets(by: BudgetCharge(tokens: 20, costUSD: 0), scale: 1.5, nowMs: now) == nil)
        reservation.settle(.init(tokens: 105, costUSD: nil, upstreamWorked: true), nowNanos: 0, nowMs: now)
        for subject in ["key", "owner"] {
            let usage = ledger.usage(subject, period: .day, nowMs: now)
            #expect(usage.reserved.tokens == 0 && usage.spent.tokens == 105, "\(subject)")
        }
    }

    @Test("periods: UTC days and calendar months, including leap years and year ends")
    func periods() {
        let day: Int64 = 86_400_000
        let march1st2024 = CivilDate.days(year: 2024, month: 3, day: 1) * day
        #expect(BudgetPeriod.month.start(containing: march1st2024 - 1) == CivilDate.days(year: 2024, month: 2, day: 1) * day)
        #expect(BudgetPeriod.month.end(containing: march1st2024 - 1) == march1st2024)
        let newYear = CivilDate.days(year: 2027, month: 1, day: 1) * day
        #expect(BudgetPeriod.month.end(containing: newYear - 5) == newYear)
        #expect(BudgetPeriod.day.start(containing: newYear + 5000) == newYear)
        #expect(BudgetPeriod.total.end(containing: newYear) == nil)
        #expect(CivilDate.iso8601(ms: newYear + 3_723_000) == "2027-01-01T01:02:03Z")
    }

    @Test("prices: configured entries win, patterns match, provider prefixes fall back, cached and reasoning tokens priced apart")
    func prices() {
        let table = PriceTable(configured: [PriceTable.Entry(pattern: "gpt-4o", price: ModelPrice(input: 1, output: 2))])
        #expect(table.cost(model: "gpt-4o", usage: TokenUsage(input: 1_000_000, output: 1_000_000)) == 3)
        #expect(table.price(for: "gpt-4o-mini-2024-07-18")?.input == 0.15)
        #expect(table.price(for: "openai/gpt-4o-mini")?.output == 0.60)
        #expect(table.price(for: "claude-sonnet-4-5-20250929")?.input == 3)
        #expect(table.price(for: "my-local-llama") == nil)
        #expect(table.cost(model: "my-local-llama", usage: TokenUsage(input: 10, output: 10)) == 0)
        let cached = table.cost(model: "gpt-4o-mini", usage: TokenUsage(input: 1_000_000, output: 0, cachedInput: 1_000_000))
        #expect(abs(cached - 0.075) < 1e-9)
        #expect(PriceTable(configured: [], defaults: false).price(for: "gpt-4o") == nil)
    }
}

@Suite("Budget ledger leased from a shared pool")
struct LeasedLedgerTests {
    @Test("admission stays within the lease; refusals ask for more; spending is reported and idle or shutdown leases go back")
    func leases() {
        let ledger = BudgetLedger(leased: true)
        let budget = Budget(tokens: 1000, period: .total)
        let now: Int64 = 1_000_000
        ledger.expect("key:k", budget: budget, nowMs: now)
        let first = ledger.leaseWork(nowMs: now)
        #expect(first.count == 1 && first[0].acquire != nil)
        // Nothing is admitted before a lease arrives.
        #expect(ledger.reserve("key:k", BudgetCharge(tokens: 60, costUSD: 0), budget: budget, nowMs: now)?.leaseTooSmall == true)
        ledger.addGrant("key:k", periodStart: 0, tokens: 100, costUSD: 0)
        #expect(ledger.reserve("key:k", BudgetCharge(tokens: 60, costUSD: 0), budget: budget, nowMs: now) == nil)
        #expect(ledger.reserve("key:k", BudgetCharge(tokens: 60, costUSD: 0), budget: budget, nowMs: now)?.leaseTooSmall == true)
        ledger.settle("key:k", reserved: BudgetCharge(tokens: 60, costUSD: 0), used: BudgetCharge(tokens: 50, costUSD: 0), budget: budget, nowMs: now)
        let report = ledger.leaseWork(nowMs: now)
        #expect(report.count == 1)
        #expect(report[0].spent.tokens == 50 && report[0].consumed.tokens == 50 && report[0].acquire?.tokens == 60)
        // A store that did not answer: the report comes back next time.
        ledger.restore(report[0])
        #expect(ledger.leaseWork(nowMs: now).first?.spent.tokens == 50)
        // Idle past the limit: the rest of the lease (100 − 50) goes back.
        let idle = ledger.leaseWork(nowMs: now + 20_000, idleMs: 10_000)
        #expect(idle.first?.returned.tokens == 50)
        #expect(ledger.reserve("key:k", BudgetCharge(tokens: 1, costUSD: 0), budget: budget, nowMs: now + 20_000)?.leaseTooSmall == true)
        ledger.addGrant("key:k", periodStart: 0, tokens: 30, costUSD: 0)
        #expect(ledger.leaseWork(nowMs: now + 20_000, releaseAll: true).first?.returned.tokens == 30)
    }
}
