import Logging
import ServiceLifecycle
import Synchronization

/// Takes one analytics event per proxied request off the request path: `record` appends to
/// a bounded in-memory queue (never waits, never fails the request); this service writes the
/// queue to the store in batches every second, keeps it through a database outage (up to the
/// bound, counting what it must drop), and writes the rest at shutdown. It also deletes
/// events older than the retention (`database.event_retention_days`) at start and hourly, in
/// bounded batches, so the table does not grow without end.
///
/// Lost events are reported through `onDrop` rather than to a metrics type, so the store
/// knows nothing of how the gateway counts them.
package final class EventRecorder: Service, Sendable {
    private struct Pending {
        var events: [RequestEvent] = []
        /// Latest use per managed key id, written with the batch.
        var lastUsed: [String: Int64] = [:]
        var dropped = 0
    }

    private let pending = Mutex(Pending())
    private let store: Store
    private let limit: Int
    private let logger: Logger
    /// Told how many events were lost each time some are; called with no lock held.
    private let onDrop: @Sendable (Int) -> Void
    /// False while the last write failed: `/health/ready` reports the store as degraded.
    private let healthy = Atomic<Bool>(true)
    /// Days events are kept; 0 keeps them forever.
    private let retentionDays: Double
    /// How often old events are pruned.
    static let pruneInterval: Duration = .seconds(3600)

    /// `onDrop` runs on the recording request's thread or the writer's: it must be cheap and
    /// must not call back into the recorder.
    package init(store: Store, limit: Int, logger: Logger, retentionDays: Double = 90, onDrop: @escaping @Sendable (Int) -> Void) {
        self.store = store
        self.limit = limit
        self.logger = logger
        self.retentionDays = retentionDays
        self.onDrop = onDrop
    }

    package var storeKind: String { store.kind.rawValue }

    package var isHealthy: Bool { healthy.load(ordering: .relaxed) }

    package var queued: Int { pending.withLock { $0.events.count } }

    package func record(_ event: RequestEvent) {
        let accepted = pending.withLock { pending -> Bool in
            if let key = event.keyID { pending.lastUsed[key] = max(pending.lastUsed[key] ?? 0, event.endMs) }
            guard pending.events.count < limit else {
                pending.dropped += 1
                return false
            }
            pending.events.append(event)
            return true
        }
        if !accepted { onDrop(1) }
    }

    package func run() async throws {
        await withTaskExecutorPreference(BackgroundExecutor.store) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.writeLoop() }
                // A long prune never delays a batch, and shutdown does not wait for the next hour.
                group.addTask { await cancelWhenGracefulShutdown { await self.pruneLoop() } }
                await group.waitForAll()
            }
        }
    }

    private func pruneLoop() async {
        guard Self.retentionCutoff(days: retentionDays, now: 0) != nil else { return } // kept forever
        while !Task.isCancelled {
            await prune()
            try? await Task.sleep(for: Self.pruneInterval)
        }
    }

    /// Deletes the events past the retention; returns how many (0 when kept forever).
    @discardableResult
    func prune(now: Int64 = WallClock.nowMs()) async -> Int {
        guard let cutoff = Self.retentionCutoff(days: retentionDays, now: now) else { return 0 }
        do {
            let deleted = try await store.pruneEvents(before: cutoff)
            if deleted > 0 {
                logger.info("old request events deleted", metadata: ["events": .stringConvertible(deleted), "retention_days": .stringConvertible(retentionDays)])
            }
            return deleted
        } catch {
            logger.warning("cannot delete old request events; retrying within the hour", metadata: ["error": .string("\(error)")])
            return 0
        }
    }

    /// The start time before which events go; nil when they are kept forever.
    static func retentionCutoff(days: Double, now: Int64) -> Int64? {
        guard days > 0, days.isFinite else { return nil }
        let keep = min(days, 36_500) * Double(Store.dayMs)
        return now - Int64(keep.rounded())
    }

    private func writeLoop() async {
        // Cancelled too when another service failed (a port already taken): the sleep then
        // returns at once, so a loop that only watched for graceful shutdown spun forever
        // and the group's cancellation timeout killed the process.
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            // Small, frequent batches: one large write a second showed as latency spikes
            // on the requests it competed with for CPU.
            try? await Task.sleep(for: .milliseconds(250))
            await flush()
        }
        // Requests have drained (the server stops first): write what they left.
        await flush()
        if queued > 0 {
            logger.error("request events could not be written at shutdown", metadata: ["events": .stringConvertible(queued)])
        }
    }

    /// Writes everything queued; on failure puts it back (in front of newer events) for the
    /// next round.
    func flush() async {
        let (events, lastUsed, dropped) = pending.withLock { pending in
            defer { pending = Pending() }
            return (pending.events, pending.lastUsed, pending.dropped)
        }
        if dropped > 0 {
            logger.warning("request events dropped: the event queue was full", metadata: ["dropped": .stringConvertible(dropped), "limit": .stringConvertible(limit)])
        }
        guard !events.isEmpty || !lastUsed.isEmpty else { return }
        do {
            // A database that stopped answering must not hold the writer (or shutdown) forever.
            try await Self.withDeadline(.seconds(5)) { [store] in
                if !events.isEmpty { try await store.insertEvents(events) }
                if !lastUsed.isEmpty { try await store.touchKeys(lastUsed) }
            }
            if !healthy.exchange(true, ordering: .relaxed) {
                logger.info("the database is reachable again; queued request events written", metadata: ["events": .stringConvertible(events.count)])
            }
        } catch {
            if healthy.exchange(false, ordering: .relaxed) {
                logger.warning("cannot write request events; keeping them in memory and retrying every second", metadata: ["error": .string("\(error)")])
            }
            let lost = pending.withLock { pending -> Int in
                let room = max(0, limit - pending.events.count)
                let kept = events.prefix(room)
                pending.dropped += events.count - kept.count
                pending.events.insert(contentsOf: kept, at: 0)
                pending.lastUsed.merge(lastUsed) { max($0, $1) }
                return events.count - kept.count
            }
            // Dropped here or in `record`: every lost event is counted.
            if lost > 0 { onDrop(lost) }
        }
    }

    /// Runs `work`, giving up after `limit`: the caller goes on even if `work` ignores its
    /// cancellation (a write stuck on a dead connection must not hold shutdown). A write that
    /// completes after giving up may store its batch twice; none is lost.
    ///
    /// Both tasks run on the store's thread: an unstructured task does not inherit the
    /// caller's executor preference, and on the global executor (the event loops here) the
    /// batch's SQL was built and bound in the middle of the requests — the analytics tail
    /// at one connection (issue 16).
    package static func withDeadline(_ limit: Duration, _ work: @escaping @Sendable () async throws -> Void) async throws {
        let settled = SettleOnce()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let writer = Task(executorPreference: BackgroundExecutor.store) {
                do {
                    try await work()
                    if settled.claim() { continuation.resume() }
                } catch {
                    if settled.claim() { continuation.resume(throwing: error) }
                }
            }
            Task(executorPreference: BackgroundExecutor.store) {
                try? await Task.sleep(for: limit)
                if settled.claim() {
                    writer.cancel()
                    continuation.resume(throwing: StoreError.unavailable("the database did not answer within \(limit)"))
                }
            }
        }
    }
}

/// True for the first caller of `claim` only: whoever settles a continuation first.
final class SettleOnce: Sendable {
    private let done = Mutex(false)

    func claim() -> Bool {
        done.withLock { done in
            defer { done = true }
            return !done
        }
    }
}
