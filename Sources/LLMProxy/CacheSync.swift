import Logging
import ProxyCore
import ServiceLifecycle
import Store

/// The response cache's second level (`cache.store`): every two seconds the answers this
/// instance stored go to the database, and the answers other instances (or this one before a
/// restart) stored since the last sync come back into memory; once a minute, expired answers
/// and the oldest past `cache.max_bytes` leave the table. Off the request path: a request
/// only ever looks in memory, and when the database does not answer, the cache works from
/// memory alone. Reads a bounded batch per sync (newest first), so a burst of answers
/// elsewhere costs this instance at most `batch` decodes every two seconds.
struct CacheSync: Service {
    let store: Store
    let state: StateStore
    let instance: String
    let logger: Logger
    static let interval = Duration.seconds(2)
    /// Rows are read again for this long after their sync: another instance's clock, or its
    /// slow write, may put a row just before the last sync's start.
    static let overlapMs: Int64 = 10_000
    static let batch = 500
    static let pruneEvery = Duration.seconds(60)

    func run() async throws {
        await loop()
        // Answers stored in the last moments still reach the database.
        try? await push()
    }

    private func loop() async {
        // The first pull reads every fresh answer: a restarted instance starts warm.
        var sinceMs: Int64 = 0
        var lastPrune = ContinuousClock.now
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Only the wait ends early at shutdown: a sync under way finishes, so a batch
            // taken from the outbox is written, not lost to a cancelled statement.
            await cancelWhenGracefulShutdown { try? await Task.sleep(for: Self.interval) }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            let config = state.state.config.cache
            guard config.store, state.state.cachePolicy.anyEnabled else { continue }
            do {
                try await push()
                let started = WallClock.nowMs()
                try await pull(since: sinceMs)
                sinceMs = started - Self.overlapMs
                if ContinuousClock.now - lastPrune > Self.pruneEvery {
                    lastPrune = ContinuousClock.now
                    try await store.pruneCacheAnswers(nowMs: WallClock.nowMs(), maxBytes: config.maxBytes)
                }
                failing = false
            } catch {
                if !failing { logger.warning("cannot sync the response cache with the database; answers stay in memory", metadata: ["error": .string("\(error)")]) }
                failing = true
            }
        }
    }

    /// Writes what this instance stored since the last push. A failed write drops the batch:
    /// the answers are still in memory here, and another instance asking gets its own.
    private func push() async throws {
        let cache = state.state.environment.cache
        let outbox = cache.takeOutbox()
        guard !outbox.isEmpty else { return }
        let now = ContinuousClock.now
        let nowMs = WallClock.nowMs()
        let answers = outbox.compactMap { key, entry -> StoredCacheAnswer? in
            guard entry.expires > now else { return nil }
            let (payload, createdMs, expiresMs) = CacheEntryCodec.encode(entry, now: now, nowMs: nowMs)
            return StoredCacheAnswer(key: key.hex, instance: instance, createdMs: createdMs, expiresMs: expiresMs, size: payload.utf8.count, payload: payload)
        }
        try await store.putCacheAnswers(answers)
    }

    /// Brings over the answers others stored since `sinceMs` that this instance lacks.
    private func pull(since sinceMs: Int64) async throws {
        let current = state.state
        let cache = current.environment.cache
        let config = current.config.cache
        let nowMs = WallClock.nowMs()
        let rows = try await store.cacheAnswers(sinceMs: sinceMs, excluding: instance, nowMs: nowMs, limit: Self.batch, maxBytes: config.maxBytes)
        var refused = 0
        let now = ContinuousClock.now
        for row in rows {
            guard let key = CacheKey(hex: row.key) else {
                refused += 1
                continue
            }
            if cache.contains(key, now: now) { continue }
            guard
                let entry = CacheEntryCodec.decode(
                    row.payload, createdMs: row.createdMs, expiresMs: row.expiresMs, now: now, nowMs: nowMs, maxBodyBytes: config.maxEntryBytes)
            else {
                refused += 1
                continue
            }
            cache.adopt(key, entry)
        }
        if refused > 0 { logger.warning("response cache rows that are not answers this gateway reads were skipped", metadata: ["rows": .stringConvertible(refused)]) }
    }
}
