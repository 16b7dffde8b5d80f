import Synchronization

/// Sign-in attempts per client address, and password checks overall.
///
/// An attempt takes its place *before* the password is checked (``State/reserve(_:now:)``)
/// and gives it back after (``State/finish(_:succeeded:now:)``): attempts still being checked
/// count against the address like failures, so concurrent guesses cannot all slip past the
/// limit while bcrypt runs. After `limit` failures within `window` the address is refused
/// until the oldest of them is `window` old; a success clears it. At most `maxVerifying`
/// checks run at once overall; beyond that attempts are turned away at once with a short
/// Retry-After rather than queued behind the slow hashes.
package final class LoginLimiter: Sendable {
    /// The limiter's decisions without a lock or a clock, so they can be tested directly.
    package struct State {
        package enum Decision: Equatable {
            /// Check the password, then call `finish`.
            case verify
            /// The address has used its attempts: try again in this many seconds.
            case limited(retryAfter: Int)
            /// Too many checks are running: try again in this many seconds.
            case busy(retryAfter: Int)
        }

        package struct Entry {
            var failures: [ContinuousClock.Instant] = []
            var inFlight = 0
        }

        let limit: Int
        let window: Duration
        let maxVerifying: Int
        package private(set) var entries: [String: Entry] = [:]
        package private(set) var verifying = 0

        package init(limit: Int, window: Duration, maxVerifying: Int) {
            self.limit = limit
            self.window = window
            self.maxVerifying = maxVerifying
        }

        package mutating func reserve(_ address: String, now: ContinuousClock.Instant) -> Decision {
            var entry = entries[address] ?? Entry()
            entry.failures.removeAll { now - $0 >= window }
            defer { entries[address] = entry.failures.isEmpty && entry.inFlight == 0 ? nil : entry }
            if entry.failures.count + entry.inFlight >= limit {
                // Attempts in flight end within a check's time; failures keep the address
                // out until enough of them are `window` old.
                guard entry.failures.count >= limit else { return .limited(retryAfter: 1) }
                let freeing = entry.failures[entry.failures.count - limit]
                let (seconds, _) = (window - (now - freeing)).components
                return .limited(retryAfter: max(1, Int(seconds) + 1))
            }
            guard verifying < maxVerifying else { return .busy(retryAfter: 1) }
            entry.inFlight += 1
            verifying += 1
            bound(now: now)
            return .verify
        }

        /// Ends an attempt that `reserve` let through.
        package mutating func finish(_ address: String, succeeded: Bool, now: ContinuousClock.Instant) {
            verifying = max(0, verifying - 1)
            var entry = entries[address] ?? Entry()
            entry.inFlight = max(0, entry.inFlight - 1)
            if succeeded {
                entry.failures = []
            } else {
                entry.failures.removeAll { now - $0 >= window }
                entry.failures.append(now)
            }
            entries[address] = entry.failures.isEmpty && entry.inFlight == 0 ? nil : entry
        }

        /// Keeps the table bounded: past 10,000 addresses the stalest idle one goes.
        private mutating func bound(now: ContinuousClock.Instant) {
            guard entries.count > 10_000 else { return }
            let idle = entries.filter { $0.value.inFlight == 0 }
            if let stale = idle.min(by: { ($0.value.failures.last ?? now) < ($1.value.failures.last ?? now) })?.key { entries[stale] = nil }
        }
    }

    private let state: Mutex<State>

    package init(limit: Int = 5, window: Duration = .seconds(300), maxVerifying: Int = 4) {
        state = Mutex(State(limit: limit, window: window, maxVerifying: maxVerifying))
    }

    package func reserve(_ address: String, now: ContinuousClock.Instant = .now) -> State.Decision {
        state.withLock { $0.reserve(address, now: now) }
    }

    package func finish(_ address: String, succeeded: Bool, now: ContinuousClock.Instant = .now) {
        state.withLock { $0.finish(address, succeeded: succeeded, now: now) }
    }
}
