import SQLKit

/// The budget pool several instances lease from: per subject (`key:<id>`, `owner:<name>`)
/// and period, what was spent and what is leased out to instances right now. Every grant is
/// one single-row `UPDATE`, atomic in both databases, that never lets spent + leased pass
/// the budget: whatever the instances admit locally within their leases, together they stay
/// inside it.
extension Store {
    /// What a lease request got.
    package struct Grant: Sendable, Equatable {
        package var tokens: Int64
        package var costUSD: Double
    }

    /// Leases a quarter of what is left of the budget (at least `minimum` when that much is
    /// left), creating the pool row — seeded with `seed`, what the events say was spent before —
    /// on first use. `tokens` / `costUSD` nil: that dimension has no budget (granted as asked).
    package func leaseBudget(
        subject: String, periodStart: Int64, tokens: Int64?, costUSD: Double?, minimum: (tokens: Int64, costUSD: Double),
        seed: (tokens: Int64, costUSD: Double)
    ) async throws -> Grant {
        try await run(
            """
            INSERT INTO budget_pool (subject, period_start, spent_tokens, spent_cost, leased_tokens, leased_cost, grant_tokens, grant_cost)
            VALUES (\(bind: subject), \(bind: periodStart), \(bind: seed.tokens), \(bind: seed.costUSD), 0, 0.0, 0, 0.0)
            ON CONFLICT (subject, period_start) DO NOTHING
            """)
        // Without a budget in a dimension, a large constant stands for "unbounded".
        let tokenBudget = tokens ?? 1_000_000_000_000_000_000
        let costBudget = costUSD ?? 1_000_000_000_000.0
        let least = kind == .postgres ? "LEAST" : "MIN"
        let greatest = kind == .postgres ? "GREATEST" : "MAX"
        let left = "(\(tokenBudget) - spent_tokens - leased_tokens)"
        let leftCost = "(\(costBudget) - spent_cost - leased_cost)"
        // A quarter of what is left, but at least the minimum, and never more than is left.
        let grantTokens = "\(greatest)(0, \(least)(\(left), \(greatest)(\(left) / 4, \(minimum.tokens))))"
        let grantCost = "\(greatest)(0.0, \(least)(\(leftCost), \(greatest)(\(leftCost) / 4.0, \(minimum.costUSD))))"
        let rows = try await all(
            """
            UPDATE budget_pool SET grant_tokens = \(unsafeRaw: grantTokens), grant_cost = \(unsafeRaw: grantCost),
                leased_tokens = leased_tokens + \(unsafeRaw: grantTokens), leased_cost = leased_cost + \(unsafeRaw: grantCost)
            WHERE subject = \(bind: subject) AND period_start = \(bind: periodStart)
            RETURNING grant_tokens, grant_cost
            """)
        guard let row = rows.first else { return Grant(tokens: 0, costUSD: 0) }
        return Grant(tokens: try row.decode(column: "grant_tokens", as: Int64.self), costUSD: try row.decode(column: "grant_cost", as: Double.self))
    }

    /// Books what an instance spent (`spent`, moved out of its lease as `consumed`) and hands
    /// back what it no longer needs (`returned`).
    package func settleBudgetLease(
        subject: String, periodStart: Int64, spent: (tokens: Int64, costUSD: Double), consumed: (tokens: Int64, costUSD: Double),
        returned: (tokens: Int64, costUSD: Double)
    ) async throws {
        let greatest = kind == .postgres ? "GREATEST" : "MAX"
        try await run(
            """
            UPDATE budget_pool SET spent_tokens = spent_tokens + \(bind: spent.tokens), spent_cost = spent_cost + \(bind: spent.costUSD),
                leased_tokens = \(unsafeRaw: greatest)(0, leased_tokens - \(bind: consumed.tokens + returned.tokens)),
                leased_cost = \(unsafeRaw: greatest)(0.0, leased_cost - \(bind: consumed.costUSD + returned.costUSD))
            WHERE subject = \(bind: subject) AND period_start = \(bind: periodStart)
            """)
    }

    /// What the pool says about a subject: spent and leased, for tests and the docs' numbers.
    package func budgetPool(subject: String, periodStart: Int64) async throws -> (spentTokens: Int64, leasedTokens: Int64, spentCost: Double)? {
        guard
            let row = try await all("SELECT * FROM budget_pool WHERE subject = \(bind: subject) AND period_start = \(bind: periodStart)").first
        else { return nil }
        return (
            try row.decode(column: "spent_tokens", as: Int64.self), try row.decode(column: "leased_tokens", as: Int64.self),
            try row.decode(column: "spent_cost", as: Double.self)
        )
    }
}
