import Synchronization

/// One kind of rate limit over many limited things (addresses, keys, key × model pairs): a
/// GCRA state per thing, behind one lock; each charge names its rule (a managed key carries
/// its own rate), so check-and-charge is atomic and N concurrent requests against
/// a limit of K admit exactly K.
///
/// Memory is bounded: at most ``maxEntries`` things are tracked. An entry whose TAT has passed
/// is the same as no entry, so a full table first drops those; if every entry is still live
/// (an attacker cycling more addresses than the table holds), the oldest insertion goes —
/// its thing is then treated as new, which only ever errs towards admitting.
package final class RateLimiter: Sendable {
    package static let defaultMaxEntries = 100_000

    private struct Table {
        var tats: [String: Int64] = [:]
        /// Insertion order, for eviction when every entry is live.
        var order: [String] = []
        var orderStart = 0
        /// The latest `now` any charge passed: callers read the clock before they take the
        /// lock, so a caller that read it earlier may arrive later; its decision is made at
        /// the latest time seen, so no charge is judged against a TAT set "in its future"
        /// (which would refuse it, or report less remaining, than its turn deserves).
        var latest: Int64 = 0
    }

    private let table = Mutex(Table())
    let maxEntries: Int

    package init(maxEntries: Int = RateLimiter.defaultMaxEntries) {
        self.maxEntries = max(1, maxEntries)
    }

    /// Charges `cost` for `key` at `now` (monotonic nanoseconds).
    package func charge(_ key: String, rule: GCRA, cost: Int64 = 1, now: Int64) -> GCRA.Decision {
        table.withLock { table in
            let now = max(now, table.latest)
            table.latest = now
            if let tat = table.tats[key] {
                var state = tat
                let decision = rule.charge(cost, tat: &state, now: now)
                table.tats[key] = state
                return decision
            }
            var state: Int64 = 0
            let decision = rule.charge(cost, tat: &state, now: now)
            // A refused first charge (a cost over the burst cannot be: it is clamped) or a
            // zero charge leaves nothing worth remembering.
            if state > now { Self.insert(key, state, into: &table, now: now, max: maxEntries) }
            return decision
        }
    }

    /// Corrects an earlier charge for `key` (see ``GCRA/adjust(_:tat:now:)``).
    package func adjust(_ key: String, rule: GCRA, by delta: Int64, now: Int64) {
        guard delta != 0 else { return }
        table.withLock { table in
            let now = max(now, table.latest)
            table.latest = now
            var state = table.tats[key] ?? 0
            rule.adjust(delta, tat: &state, now: now)
            if table.tats[key] != nil {
                table.tats[key] = state
            } else if state > now {
                Self.insert(key, state, into: &table, now: now, max: maxEntries)
            }
        }
    }

    /// What `key` has left now, without charging.
    package func peek(_ key: String, rule: GCRA, cost: Int64 = 1, now: Int64) -> GCRA.Decision {
        table.withLock { rule.peek(cost, tat: $0.tats[key] ?? 0, now: now) }
    }

    package var count: Int { table.withLock { $0.tats.count } }

    private static func insert(_ key: String, _ tat: Int64, into table: inout Table, now: Int64, max: Int) {
        if table.tats.count >= max {
            table.tats = table.tats.filter { $0.value > now }
            table.order = table.order[table.orderStart...].filter { table.tats[$0] != nil }
            table.orderStart = 0
            while table.tats.count >= max, table.orderStart < table.order.count {
                table.tats[table.order[table.orderStart]] = nil
                table.orderStart += 1
            }
        }
        table.tats[key] = tat
        table.order.append(key)
        // The order list keeps keys already dropped; compact it once it doubles the table.
        if table.order.count - table.orderStart > 2 * max {
            table.order = table.order[table.orderStart...].filter { table.tats[$0] != nil }
            table.orderStart = 0
        }
    }
}

/// At most `limit` requests in flight per thing (a key's `concurrency`). A slot taken at
/// admission is given back when the request is accounted for, whatever its end.
package final class ConcurrencyLimiter: Sendable {
    private let counts = Mutex([String: Int]())

    package init() {}

    /// Takes one of `limit` slots for `key`; false when all are taken.
    package func acquire(_ key: String, limit: Int) -> Bool {
        counts.withLock { counts in
            let held = counts[key, default: 0]
            guard held < limit else { return false }
            counts[key] = held + 1
            return true
        }
    }

    package func release(_ key: String) {
        counts.withLock { counts in
            guard let held = counts[key] else { return }
            counts[key] = held > 1 ? held - 1 : nil
        }
    }

    package func inFlight(_ key: String) -> Int { counts.withLock { $0[key, default: 0] } }
}

/// Monotonic nanoseconds for the limiters (a process-local clock: limits never jump with the
/// wall clock).
package enum MonotonicClock {
    private static let origin = ContinuousClock.now

    package static func nanos() -> Int64 {
        let (seconds, attoseconds) = (ContinuousClock.now - origin).components
        return seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }
}
