import Logging
import ServiceLifecycle
import Store
import Synchronization

/// Takes one analytics event per proxied request off the request path: `record` appends to
/// a bounded in-memory queue (never waits, never fails the request); this service writes the
/// queue to the store in batches every second, keeps it through a database outage (up to the
/// bound, counting what it must drop), and writes the rest at shutdown.
final class EventRecorder: Service, Sendable {
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
    private let metrics: GatewayMetrics
    /// False while the last write failed: `/health/ready` reports the store as degraded.
    private let healthy = Atomic<Bool>(true)

    init(store: Store, limit: Int, logger: Logger, metrics: GatewayMetrics) {
        self.store = store
        self.limit = limit
        self.logger = logger
        self.metrics = metrics
    }

    var storeKind: String { store.kind.rawValue }

    var isHealthy: Bool { healthy.load(ordering: .relaxed) }

    var queued: Int { pending.withLock { $0.events.count } }

    func record(_ event: RequestEvent) {
        let accepted = pending.withLock { pending -> Bool in
            if let key = event.keyID { pending.lastUsed[key] = max(pending.lastUsed[key] ?? 0, event.endMs) }
            guard pending.events.count < limit else {
                pending.dropped += 1
                return false
            }
            pending.events.append(event)
            return true
        }
        if !accepted { metrics.eventsDropped() }
    }

    /// Where batches are built and written: off the event loops, at low priority.
    private static let executor = BackgroundExecutor(name: "llmproxy-events")

    func run() async throws {
        await withTaskExecutorPreference(Self.executor) {
            await writeLoop()
        }
    }

    private func writeLoop() async {
        while !Task.isShuttingDownGracefully {
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
            if lost > 0 { metrics.eventsDropped(lost) }
        }
    }

    /// Runs `work`, giving up after `limit`: the caller goes on even if `work` ignores its
    /// cancellation (a write stuck on a dead connection must not hold shutdown). A write that
    /// completes after giving up may store its batch twice; none is lost.
    static func withDeadline(_ limit: Duration, _ work: @escaping @Sendable () async throws -> Void) async throws {
        let settled = SettleOnce()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let writer = Task {
                do {
                    try await work()
                    if settled.claim() { continuation.resume() }
                } catch {
                    if settled.claim() { continuation.resume(throwing: error) }
                }
            }
            Task {
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
