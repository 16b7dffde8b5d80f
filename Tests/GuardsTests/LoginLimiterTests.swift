import Guards
import Testing

/// The sign-in limiter's decisions, without sockets or clocks (issue 8.6).
@Suite("Login limiter")
struct LoginLimiterTests {
    typealias State = LoginLimiter.State
    static let start = ContinuousClock.now

    @Test("attempts in flight count against the address: the sixth concurrent attempt is refused before any check ends")
    func reservationsCount() {
        var state = State(limit: 5, window: .seconds(300), maxVerifying: 100)
        for _ in 0..<5 { #expect(state.reserve("a", now: Self.start) == .verify) }
        #expect(state.reserve("a", now: Self.start) == .limited(retryAfter: 1))
        // Another address is not affected.
        #expect(state.reserve("b", now: Self.start) == .verify)
    }

    @Test("five failures keep the address out until the oldest is a window old; a success clears the count")
    func failuresAndSuccess() {
        var state = State(limit: 5, window: .seconds(300), maxVerifying: 4)
        for second in 0..<5 {
            #expect(state.reserve("a", now: Self.start + .seconds(second)) == .verify)
            state.finish("a", succeeded: false, now: Self.start + .seconds(second))
        }
        #expect(state.reserve("a", now: Self.start + .seconds(10)) == .limited(retryAfter: 291))
        #expect(state.reserve("a", now: Self.start + .seconds(300)) == .verify)
        state.finish("a", succeeded: true, now: Self.start + .seconds(300))
        #expect(state.entries["a"] == nil && state.verifying == 0)

        var fresh = State(limit: 5, window: .seconds(300), maxVerifying: 4)
        for _ in 0..<4 {
            _ = fresh.reserve("a", now: Self.start)
            fresh.finish("a", succeeded: false, now: Self.start)
        }
        _ = fresh.reserve("a", now: Self.start)
        fresh.finish("a", succeeded: true, now: Self.start)
        #expect(fresh.reserve("a", now: Self.start) == .verify)
    }

    @Test("at most maxVerifying checks run at once overall; a finished one frees its slot")
    func globalCap() {
        var state = State(limit: 5, window: .seconds(300), maxVerifying: 4)
        for address in ["a", "b", "c", "d"] { #expect(state.reserve(address, now: Self.start) == .verify) }
        #expect(state.reserve("e", now: Self.start) == .busy(retryAfter: 1))
        state.finish("b", succeeded: false, now: Self.start)
        #expect(state.reserve("e", now: Self.start) == .verify)
        #expect(state.verifying == 4)
    }
}
