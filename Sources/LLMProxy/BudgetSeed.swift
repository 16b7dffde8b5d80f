import Guards
import ProxyConfig
import Store

/// What keys and owners spent in their current budget period before this process started,
/// read from the store's events once at start, so a restart does not hand out a fresh budget.
/// With a leased ledger (instances on PostgreSQL) the pool holds that instead: the subjects
/// are announced, so the broker leases for them before the first request.
enum BudgetSeed {
    static func load(store: Store, config: GatewayConfig, ledger: BudgetLedger) async throws {
        let now = WallClock.nowMs()
        var subjects: [(BudgetSubject, Budget)] = []
        for key in try await store.keys() where key.revokedAt == nil {
            guard let budget = key.limits.identityLimits.budget else { continue }
            subjects.append((.key(key.id), budget))
        }
        for (owner, budget) in config.budgets.owners {
            subjects.append((.owner(owner), Budget(budget)))
        }
        for (subject, budget) in subjects {
            if ledger.leased {
                ledger.expect(subject.name, budget: budget, nowMs: now)
                continue
            }
            let since = budget.period.start(containing: now)
            let spent = try await store.spend(keyID: subject.keyID, username: subject.owner, since: since)
            ledger.seed(subject.name, periodStart: since, tokens: spent.tokens, costUSD: spent.costUSD)
        }
    }
}
