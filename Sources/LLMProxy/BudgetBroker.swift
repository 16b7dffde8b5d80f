import Guards
import Logging
import ServiceLifecycle
import Store

/// Leases budget from the store's pool for the ledger (instances sharing PostgreSQL): tops
/// leases up before they run out, books what was spent, returns what idles — every 100 ms,
/// off the request path. At shutdown every lease goes back.
struct BudgetBroker: Service {
    let store: Store
    let ledger: BudgetLedger
    let logger: Logger
    static let interval = Duration.milliseconds(100)

    func run() async throws {
        // Off the event loops: each pass builds and runs SQL (see BackgroundExecutor.store).
        await withTaskExecutorPreference(BackgroundExecutor.store) {
            await cancelWhenGracefulShutdown { await loop() }
            // Give everything back: another instance may need it.
            await pass(idleMs: 0, releaseAll: true)
        }
    }

    private func loop() async {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: Self.interval)
            let ok = await pass(idleMs: 10_000)
            if !ok, !failing { logger.warning("cannot lease budget from the database; requests with budgets are refused until it answers") }
            failing = !ok
        }
    }

    /// One round of the ledger's tasks; false when the store failed one.
    @discardableResult
    func pass(idleMs: Int64, releaseAll: Bool = false) async -> Bool {
        var ok = true
        for task in ledger.leaseWork(nowMs: WallClock.nowMs(), idleMs: idleMs, releaseAll: releaseAll) {
            do {
                try await Self.carryOut(task, store: store, ledger: ledger)
            } catch let failed as LeaseFailed {
                ledger.restore(failed.settled)
                ok = false
            } catch {
                ledger.restore(task)
                ok = false
            }
        }
        return ok
    }

    /// Settles, then leases. A failure puts back only what did not reach the store: once the
    /// settlement committed, restoring it too would book the same spending twice at the next
    /// pass (seen as a pool 30 tokens over the events under load).
    static func carryOut(_ task: BudgetLedger.LeaseTask, store: Store, ledger: BudgetLedger) async throws {
        let spentOrReturned = task.spent.tokens > 0 || task.spent.costUSD > 0 || task.returned.tokens > 0 || task.returned.costUSD > 0
        if spentOrReturned {
            try await store.settleBudgetLease(
                subject: task.subject, periodStart: task.periodStart, spent: (task.spent.tokens, task.spent.costUSD),
                consumed: (task.consumed.tokens, task.consumed.costUSD), returned: (task.returned.tokens, task.returned.costUSD))
        }
        guard let acquire = task.acquire else { return }
        do {
            // A pool row is created seeded with what the events say was spent this period.
            var seed: (Int64, Double) = (0, 0)
            if try await store.budgetPool(subject: task.subject, periodStart: task.periodStart) == nil {
                let subject = BudgetSubject(name: task.subject)
                let spent = try await store.spend(keyID: subject?.keyID, username: subject?.owner, since: task.periodStart)
                seed = (spent.tokens, spent.costUSD)
            }
            let grant = try await store.leaseBudget(
                subject: task.subject, periodStart: task.periodStart, tokens: task.budget.tokens, costUSD: task.budget.costUSD,
                minimum: (acquire.tokens, acquire.costUSD), seed: seed)
            ledger.addGrant(task.subject, periodStart: task.periodStart, tokens: grant.tokens, costUSD: grant.costUSD)
        } catch {
            throw LeaseFailed(settled: task.settled, underlying: error)
        }
    }

    /// The lease half of a task failed after its settlement was booked.
    struct LeaseFailed: Error {
        let settled: BudgetLedger.LeaseTask
        let underlying: any Error
    }
}
