import Testing

@testable import Upstreams

/// The breaker's transitions, with the clock in the test's hands.
@Suite("Circuit breaker")
struct CircuitBreakerTests {
    let start = ContinuousClock.now

    func breaker(_ configure: (inout CircuitBreaker.Settings) -> Void = { _ in }) -> CircuitBreaker {
        var settings = CircuitBreaker.Settings()
        configure(&settings)
        return CircuitBreaker(settings: settings, origin: start)
    }

    @Test("opens after consecutive failures; a success in between resets the count")
    func consecutive() {
        var b = breaker { $0.consecutiveFailures = 5 }
        for _ in 0..<4 { #expect(b.failed(probe: false, now: start) == nil) }
        #expect(b.succeeded(probe: false, now: start) == nil)
        for _ in 0..<4 { #expect(b.failed(probe: false, now: start) == nil) }
        #expect(b.failed(probe: false, now: start) == .opened(reason: "5 failures in a row"))
        #expect(!b.allows(now: start + .seconds(9)))
        #expect(b.allows(now: start + .seconds(10)))
    }

    @Test("opens on the failure ratio over the window, only with enough requests, and forgets what left the window")
    func ratio() {
        var b = breaker { $0.consecutiveFailures = 100 }
        // 9 successes and 9 failures interleaved: under the minimum of 20.
        for _ in 0..<9 {
            _ = b.succeeded(probe: false, now: start)
            #expect(b.failed(probe: false, now: start) == nil)
        }
        // Outcomes 40 s ago have left the 30-s window: 2 more do not reach 20.
        let later = start + .seconds(40)
        _ = b.succeeded(probe: false, now: later)
        #expect(b.failed(probe: false, now: later) == nil)
        for _ in 0..<9 {
            _ = b.succeeded(probe: false, now: later)
            _ = b.failed(probe: false, now: later)
        }
        #expect(b.state == .open(until: later + .seconds(10)))
    }

    @Test("half-open: one probe at a time, two successes close it, a failed probe reopens it for twice as long")
    func halfOpen() {
        var b = breaker { $0.consecutiveFailures = 1 }
        _ = b.failed(probe: false, now: start)
        let first = start + .seconds(10)
        #expect(b.begin(now: first) == (true, .halfOpened))
        #expect(!b.allows(now: first), "one probe in flight")
        #expect(b.failed(probe: true, now: first) == .opened(reason: "a probe failed"))
        #expect(!b.allows(now: first + .seconds(19)))
        let second = first + .seconds(20)
        #expect(b.begin(now: second).probe)
        #expect(b.succeeded(probe: true, now: second) == nil)
        #expect(b.begin(now: second).probe)
        #expect(b.succeeded(probe: true, now: second) == .closed)
        #expect(b.state == .closed)
        // Closed again, the back-off was reset.
        _ = b.failed(probe: false, now: second)
        #expect(b.state == .open(until: second + .seconds(10)))
    }

    @Test("a probe that ends without an answer frees its slot; the back-off stops at its maximum")
    func releaseAndCap() {
        var b = breaker {
            $0.consecutiveFailures = 1
            $0.maxOpenFor = .seconds(25)
        }
        _ = b.failed(probe: false, now: start)
        var now = start + .seconds(10)
        _ = b.begin(now: now)
        b.released(probe: true)
        #expect(b.allows(now: now))
        for _ in 0..<5 {
            _ = b.begin(now: now)
            _ = b.failed(probe: true, now: now)
            guard case .open(let until) = b.state else {
                Issue.record("not open")
                return
            }
            #expect(until - now <= .seconds(25))
            now = until
        }
    }
}
