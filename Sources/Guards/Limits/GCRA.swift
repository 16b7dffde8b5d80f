/// The generic cell rate algorithm: one number of state per limited thing (its theoretical
/// arrival time, TAT), so a limit costs a dictionary entry, not a queue of timestamps, and a
/// decision is a compare and an add. A rate of `limit` per `period` with room for `burst` at
/// once: each unit of cost moves the TAT one emission interval (`period / limit`) into the
/// future; a request is admitted while the TAT stays within `burst` intervals of now.
///
/// Pure and clock-free (the caller passes `now` in nanoseconds), so every rule is tested
/// without waiting. All arithmetic saturates: no configured limit, cost or clock can trap.
package struct GCRA: Sendable, Equatable {
    /// Nanoseconds one unit of cost occupies.
    package let interval: Int64
    /// Units that may be spent at once (the bucket's size).
    package let burst: Int64

    /// `limit` units per `periodNanos`, `burst` at once (at least 1 of each).
    package init(limit: Int64, periodNanos: Int64, burst: Int64) {
        let limit = max(1, limit)
        interval = max(1, periodNanos / limit)
        self.burst = max(1, burst)
    }

    init(interval: Int64, burst: Int64) {
        self.interval = max(1, interval)
        self.burst = max(1, burst)
    }

    /// Per minute, the way limits are configured.
    package static func perMinute(_ limit: Int, burst: Int?) -> GCRA {
        GCRA(limit: Int64(limit), periodNanos: 60_000_000_000, burst: Int64(burst ?? limit))
    }

    /// The outcome of one decision: admitted or not, and what the headers report.
    package struct Decision: Sendable, Equatable {
        package var admitted: Bool
        /// Units still available right after this decision.
        package var remaining: Int64
        /// Nanoseconds until a refused request of the same cost would be admitted (0 when admitted).
        package var retryAfterNanos: Int64
        /// Nanoseconds until the bucket is full again.
        package var resetNanos: Int64
    }

    /// The capacity in nanoseconds (`burst` intervals).
    var capacity: Int64 { Self.saturatingMultiply(burst, interval) }

    /// Charges `cost` units against `tat` (0 for a thing never seen) at `now`; on admission
    /// `tat` moves, on refusal it stays. A cost larger than the burst is charged as the whole
    /// burst: it could never fit otherwise, and a full bucket is the most it may take.
    package func charge(_ cost: Int64, tat: inout Int64, now: Int64) -> Decision {
        let cost = min(max(0, cost), burst)
        let start = max(tat, now)
        let next = Self.saturatingAdd(start, Self.saturatingMultiply(cost, interval))
        let ahead = next &- now
        if ahead <= capacity {
            tat = next
            return Decision(admitted: true, remaining: (capacity - ahead) / interval, retryAfterNanos: 0, resetNanos: ahead)
        }
        let ahead0 = start &- now
        return Decision(
            admitted: false, remaining: max(0, (capacity - ahead0) / interval), retryAfterNanos: ahead - capacity, resetNanos: ahead0)
    }

    /// What a charge of `cost` would decide, without charging.
    package func peek(_ cost: Int64, tat: Int64, now: Int64) -> Decision {
        var copy = tat
        return charge(cost, tat: &copy, now: now)
    }

    /// Corrects an earlier charge by `delta` units (positive: more was used than charged;
    /// negative: a refund). A refund never moves the TAT before `now`: capacity not used in
    /// the past is not saved up.
    package func adjust(_ delta: Int64, tat: inout Int64, now: Int64) {
        if delta >= 0 {
            tat = Self.saturatingAdd(max(tat, now), Self.saturatingMultiply(delta, interval))
        } else {
            tat = max(now, Self.saturatingAdd(tat, -Self.saturatingMultiply(-delta, interval)))
        }
    }

    static func saturatingMultiply(_ a: Int64, _ b: Int64) -> Int64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? ((a < 0) != (b < 0) ? .min : .max) : product
    }

    static func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b < 0 ? .min : .max) : sum
    }
}
