import Store
import Synchronization

/// The admin session generation, kept in the store (`admin_session_generation`): every
/// session token carries the generation it was issued in and is honoured only while that is
/// still the current one. Logging out, or a changed admin password or user name at start,
/// moves the generation on and so ends every session at once, on every instance sharing the
/// database.
///
/// Admin requests may touch the database, proxied requests never do: the value is cached and
/// re-read at most every `maxAge`, so another instance's logout takes effect here within it.
final class SessionGeneration: Sendable {
    static let setting = "admin_session_generation"

    private let store: Store
    private let maxAge: Duration
    private let cache = Mutex<(value: Int64, readAt: ContinuousClock.Instant)?>(nil)

    init(store: Store, maxAge: Duration = .seconds(1)) {
        self.store = store
        self.maxAge = maxAge
    }

    /// The current generation; the last value read when the database does not answer, nil
    /// when it never has (then no session can be checked).
    func current(now: ContinuousClock.Instant = .now) async -> Int64? {
        let cached = cache.withLock { $0 }
        if let cached, now - cached.readAt < maxAge { return cached.value }
        guard let value = try? await store.numericSetting(Self.setting) else { return cached?.value }
        return remember(value, at: now)
    }

    /// Ends every session issued so far; returns the new generation.
    func advance() async throws -> Int64 {
        remember(try await store.incrementSetting(Self.setting), at: .now)
    }

    /// The generation only moves forward: a read that started before an `advance` and ends
    /// after it must not bring the old value back into the cache.
    private func remember(_ value: Int64, at now: ContinuousClock.Instant) -> Int64 {
        cache.withLock { cache in
            let newest = max(value, cache?.value ?? value)
            cache = (newest, now)
            return newest
        }
    }
}
