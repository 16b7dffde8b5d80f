import Guards
import ProxyConfig
import Store

/// What keys and owners spent in their current budget period before this process started,
/// read from the store's events once at start, so a restart does not hand out a fresh budget.
enum BudgetSeed {
    static func load(store: Store, config: GatewayConfig, ledger: BudgetLedger) async throws {
        let now = WallClock.nowMs()
        for key in try await store.keys() where key.revokedAt == nil {
            guard let budget = key.limits.identityLimits.budget else { continue }
            let since = budget.period.start(containing: now)
            let spent = try await store.spend(keyID: key.id, since: since)
            ledger.seed("key:" + key.id, periodStart: since, tokens: spent.tokens, costUSD: spent.costUSD)
        }
        for (owner, budget) in config.budgets.owners {
            let period = BudgetPeriod(rawValue: budget.period) ?? .month
            let since = period.start(containing: now)
            let spent = try await store.spend(username: owner, since: since)
            ledger.seed("owner:" + owner, periodStart: since, tokens: spent.tokens, costUSD: spent.costUSD)
        }
    }
}
