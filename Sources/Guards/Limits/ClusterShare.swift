import Synchronization

/// This instance's part of every rate and concurrency limit when several instances share one
/// PostgreSQL store (`limits.across_instances: split`): a limit of K over N live instances
/// gives each K / N, the remainder to the lowest ranks, so the parts add up to exactly K and
/// the cluster admits no more than one instance would — without the database on the request
/// path. Instances learn N and their rank from the store's membership table (see
/// `ClusterMembership`); one instance alone, or `across_instances: each`, holds the whole.
package struct ClusterShare: Sendable, Equatable {
    /// Live instances, this one included (at least 1).
    package let instances: Int
    /// This instance's place among them, 0 ..< instances.
    package let rank: Int

    package static let whole = ClusterShare(instances: 1, rank: 0)

    package init(instances: Int, rank: Int) {
        self.instances = max(1, min(instances, Int(UInt32.max)))
        self.rank = max(0, min(rank, self.instances - 1))
    }

    package var isWhole: Bool { instances == 1 }

    /// This instance's part of `total` units held at once (a burst, a concurrency limit).
    package func part(of total: Int64) -> Int64 {
        guard instances > 1, total > 0 else { return total }
        let n = Int64(instances)
        return total / n + (Int64(rank) < total % n ? 1 : 0)
    }

    package func part(of total: Int) -> Int { Int(part(of: Int64(total))) }
}

extension GCRA {
    /// The rule for this instance's part of a cluster-wide rule: the rate divided by the
    /// instances (each unit occupies N times as long) and the burst split as ``ClusterShare/part(of:)-(Int64)``;
    /// nil when this instance's part of the burst is nothing (a burst smaller than the number
    /// of instances leaves the highest ranks none of it).
    package func shared(_ share: ClusterShare) -> GCRA? {
        guard !share.isWhole else { return self }
        let burst = share.part(of: burst)
        guard burst > 0 else { return nil }
        return GCRA(interval: Self.saturatingMultiply(interval, Int64(share.instances)), burst: burst)
    }
}

/// The current share, read on every limited request: one atomic load (instances and rank
/// packed in one word), written once a second by the membership service.
package final class ClusterShareCell: Sendable {
    private let packed = Atomic<UInt64>(1 << 32)

    package init() {}

    package var current: ClusterShare {
        let word = packed.load(ordering: .relaxed)
        return ClusterShare(instances: Int(word >> 32), rank: Int(word & 0xffff_ffff))
    }

    package func set(_ share: ClusterShare) {
        packed.store(UInt64(share.instances) << 32 | UInt64(share.rank), ordering: .relaxed)
    }
}
