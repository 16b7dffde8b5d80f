import ProxyConfig

/// The counters every limit guard shares, kept across configuration reloads (a reload must
/// not hand every client a fresh allowance): one table per kind of limit, the budget ledger
/// and the load shedder.
package final class LimitState: Sendable {
    package let addressRates = RateLimiter()
    package let addressSlots = ConcurrencyLimiter()
    package let keyRates = RateLimiter()
    package let keySlots = ConcurrencyLimiter()
    package let keyTokens = RateLimiter()
    package let keyModelRates = RateLimiter()
    package let keyModelTokens = RateLimiter()
    package let modelRates = RateLimiter()
    package let modelSlots = ConcurrencyLimiter()
    package let modelTokens = RateLimiter()
    package let providerRates = RateLimiter()
    package let providerSlots = ConcurrencyLimiter()
    package let providerTokens = RateLimiter()
    package let budgets: BudgetLedger
    package let shedder = LoadShedder()
    /// Blocked addresses and the detector that fills the list.
    package let blocks = BlockList()
    package let detector = ThreatDetector()
    /// This instance's part of every rate and concurrency limit (instances sharing PostgreSQL
    /// split them; see ``ClusterShare``).
    package let cluster = ClusterShareCell()

    /// The part of each limit this instance enforces: its cluster share when instances split
    /// the limits, the whole of it with `across_instances: each` (or alone).
    package func share(_ mode: AcrossInstances) -> ClusterShare { mode == .split ? cluster.current : .whole }

    /// `leasedBudgets`: instances share a PostgreSQL store, and admit within leases from its
    /// budget pool (see ``BudgetLedger``).
    package init(leasedBudgets: Bool = false) { budgets = BudgetLedger(leased: leasedBudgets) }

    /// The name a client key is counted under: the managed key's id, else a digest of the
    /// configured key (never the key itself, which must not sit in memory tables or logs).
    package static func subject(identity: ClientIdentity?, presented: String?) -> String? {
        if let identity { return identity.limitSubject }
        guard let presented, !presented.isEmpty else { return nil }
        return subject(digest: KeyDigest(presented: presented).bytes)
    }

    /// The subject of a configured key from its SHA-256 digest: "sha:" and the first 12
    /// bytes in hex, written as bytes (Character appends cost ~500 instructions each).
    package static func subject(digest: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: 28) { out in
            for (index, byte) in "sha:".utf8.enumerated() { out[index] = byte }
            var index = 4
            for byte in digest.prefix(12) {
                out[index] = Self.hex[Int(byte >> 4)]
                out[index + 1] = Self.hex[Int(byte & 0xf)]
                index += 2
            }
            return index
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}

/// Token estimates for charging a request before its answer exists.
package enum TokenEstimate {
    /// Prompt tokens from the body's size: about four bytes per token for English text and
    /// JSON. Deliberately simple (no tokenizer on the request path); the real count replaces
    /// it when the answer reports usage.
    package static func prompt(bodyBytes: Int) -> Int64 {
        Int64(max(0, bodyBytes) / 4 + 1)
    }
}
