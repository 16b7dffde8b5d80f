import Guards
import Logging
import ProxyCore
import ServiceLifecycle
import Store

/// Keeps the in-memory key index equal to the store: a full load at start, then PostgreSQL's
/// change notifications (a key created or revoked on any instance is honoured here within
/// moments), with a periodic full resync as the safety net for anything missed while the
/// database was unreachable.
struct KeySync: Service {
    let store: Store
    let index: ManagedKeyIndex
    let logger: Logger
    /// Full reload period: short for SQLite (the CLI writes the same file; there is no
    /// change feed), longer for PostgreSQL, whose notifications carry changes at once.
    var resyncInterval: Duration { store.kind == .sqlite ? .seconds(2) : .seconds(10) }

    /// Loads every key into the index. What the index learned while the read ran (a key
    /// created or revoked through the admin API) is kept: the snapshot may predate it.
    static func load(store: Store, into index: ManagedKeyIndex) async throws {
        let mark = index.mark
        let keys = try await store.keys()
        index.replaceAll(keys.map { ($0.hash, $0.identity) }, readAfter: mark)
    }

    func run() async throws {
        // Graceful shutdown cancels both loops at once (a sleeping loop would otherwise hold
        // shutdown for up to a resync interval). Off the event loops: a reload decodes every
        // key's row (see BackgroundExecutor.store).
        await withTaskExecutorPreference(BackgroundExecutor.store) {
            await cancelWhenGracefulShutdown {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await resyncLoop() }
                    if store.kind == .postgres { group.addTask { await listenLoop() } }
                    await group.waitForAll()
                }
            }
        }
    }

    private func resyncLoop() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: resyncInterval)
            try? await Self.load(store: store, into: index)
        }
    }

    private func listenLoop() async {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                try await cancelWhenGracefulShutdown {
                    try await store.listenForKeyChanges(
                        onListening: {
                            // Subscribed: this load covers every change made before it.
                            try? await Self.load(store: store, into: index)
                        },
                        onChange: { id in
                            if let key = try? await store.key(id: id) { index.upsert(hash: key.hash, identity: key.identity) }
                        })
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                // A feed that ran a while before failing is a new outage, not the same one.
                if ContinuousClock.now - started > .seconds(30) { failures = 0 }
                failures = min(failures + 1, 5)
                if failures == 1 { logger.warning("lost the key change feed from PostgreSQL; serving cached keys and retrying", metadata: ["error": .string("\(error)")]) }
            }
            try? await Task.sleep(for: .milliseconds(min(5000, 250 * (1 << min(failures, 5)))))
        }
    }
}

extension ManagedKey {
    var identity: ClientIdentity {
        ClientIdentity(keyID: id, username: username, expiresAt: expiresAt, revoked: revokedAt != nil, models: limits.models, limits: limits.identityLimits)
    }
}

extension KeyLimits {
    /// What the guards enforce for the key.
    var identityLimits: IdentityLimits {
        var budget: Budget?
        if tokenBudget != nil || costBudget != nil {
            budget = Budget(tokens: tokenBudget, costUSD: costBudget, period: budgetPeriod.flatMap(BudgetPeriod.init(rawValue:)) ?? .total)
        }
        return IdentityLimits(requestsPerMinute: requestsPerMinute, tokensPerMinute: tokensPerMinute, concurrency: concurrency, budget: budget)
    }
}
