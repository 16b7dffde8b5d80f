import Synchronization

/// Failed admin logins per client address: after `limit` failures within `window`, that
/// address is refused (429 with Retry-After) until the window has passed. A success clears it.
final class LoginLimiter: Sendable {
    private let failures = Mutex<[String: [ContinuousClock.Instant]]>([:])
    let limit: Int
    let window: Duration

    init(limit: Int = 5, window: Duration = .seconds(300)) {
        self.limit = limit
        self.window = window
    }

    /// Seconds to wait before trying again, or nil when the address may try now.
    func retryAfter(_ address: String, now: ContinuousClock.Instant = .now) -> Int? {
        failures.withLock { table in
            let recent = (table[address] ?? []).filter { now - $0 < window }
            table[address] = recent.isEmpty ? nil : recent
            guard recent.count >= limit, let oldest = recent.first else { return nil }
            let (seconds, _) = (window - (now - oldest)).components
            return max(1, Int(seconds) + 1)
        }
    }

    func failed(_ address: String, now: ContinuousClock.Instant = .now) {
        failures.withLock { table in
            var recent = (table[address] ?? []).filter { now - $0 < window }
            recent.append(now)
            table[address] = recent
            // Bound the table: forget the stalest addresses first.
            if table.count > 10_000, let stale = table.min(by: { ($0.value.last ?? now) < ($1.value.last ?? now) })?.key { table[stale] = nil }
        }
    }

    func succeeded(_ address: String) {
        _ = failures.withLock { $0.removeValue(forKey: address) }
    }
}
