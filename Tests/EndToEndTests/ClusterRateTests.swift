import Foundation
import Guards
import Logging
import PostgresHarness
import Store
import Testing

/// Three gateway instances on one PostgreSQL split every rate and concurrency limit: each
/// enforces its part (K / N, the remainder to the lowest ranks), so together they admit
/// exactly what one instance would — and when one leaves, the others take over its part.
@Suite("Rates and concurrency across instances (PostgreSQL)")
struct ClusterRateTests {
    @Test("three instances admit exactly a key's rate and concurrency between them; skewed traffic gets one part; one leaving hands its part on")
    func threeInstances() async throws {
        let databaseURL = try await PostgresServer.sharedDatabase()
        let store = try await Store.openPostgres(url: databaseURL, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let now = WallClock.nowMs()
        // 9 a minute: parts of 3 per instance, each refilling one every 20 s (longer than the test's bursts take).
        let (rated, ratedSecret) = KeyIssuer.issue(username: "rita", name: nil, expiresAt: nil, limits: KeyLimits(requestsPerMinute: 9), now: now)
        let (skewed, skewedSecret) = KeyIssuer.issue(username: "sam", name: nil, expiresAt: nil, limits: KeyLimits(requestsPerMinute: 9), now: now)
        let (parallel, parallelSecret) = KeyIssuer.issue(username: "cora", name: nil, expiresAt: nil, limits: KeyLimits(concurrency: 3), now: now)
        for key in [rated, skewed, parallel] { try await store.insertKey(key) }
        await store.close()
        let upstream = MockUpstream(name: "held", requiredKey: "upstream-key-held")
        try await upstream.start()
        let yaml = """
            providers:
              - {name: up, type: openai, base_url: "\(upstream.baseURL)/v1", api_key: \(upstream.requiredKey), models: ["held", "m1"], discover_models: false}
            database: {url: "\(databaseURL)"}
            """
        var gateways: [GatewayHarness] = []
        for _ in 0..<3 { gateways.append(try await GatewayHarness.start(yaml: yaml)) }
        let urls = gateways.map { "\($0.url)/v1/chat/completions" }
        #expect(try await Self.waitForInstances(3, at: gateways, secret: ratedSecret), "the instances never all saw each other")

        // The rate, spread over the instances: exactly 9 of 36.
        let spread = try await LimitTests.burst(36) { index in try await LimitTests.send(urls[index % 3], headers: Self.auth(ratedSecret)) }
        let spreadAdmitted = spread.filter { $0.status == 200 }.count
        #expect(spreadAdmitted == 9, "the cluster admitted \(spreadAdmitted) against a limit of 9")
        #expect(spread.allSatisfy { $0.status == 200 || $0.status == 429 })
        for admitted in spread where admitted.status == 200 { #expect(admitted.headers["x-ratelimit-limit"].first == "9") }
        // The price of splitting: traffic that reaches one instance only gets that instance's part.
        let oneInstance = try await LimitTests.burst(9) { _ in try await LimitTests.send(urls[0], headers: Self.auth(skewedSecret)) }
        #expect(oneInstance.filter { $0.status == 200 }.count == 3)

        // Concurrency: 3 in flight between the three instances (one each), whatever arrives.
        let held = LimitTests.held
        let (inFlight, wereHeld) = try await LimitTests.heldBurst(12, holding: 3, upstream: upstream) { index in
            try await LimitTests.send(urls[index % 3], headers: Self.auth(parallelSecret), body: held)
        }
        #expect(wereHeld)
        #expect(inFlight.filter { $0.status == 200 }.count == 3)
        #expect(inFlight.filter { $0.status == 429 }.count == 9)

        // One instance leaves cleanly: the other two take over its part (2 + 1) within a heartbeat or two.
        await gateways[2].stop()
        let remaining = Array(gateways.prefix(2))
        #expect(try await Self.waitForInstances(2, at: remaining, secret: ratedSecret), "the instances never noticed one left")
        let (after, afterHeld) = try await LimitTests.heldBurst(10, holding: 3, upstream: upstream) { index in
            try await LimitTests.send(urls[index % 2], headers: Self.auth(parallelSecret), body: held)
        }
        #expect(afterHeld)
        #expect(after.filter { $0.status == 200 }.count == 3)
        print(
            "cluster rates: 36 spread requests against 9/min admitted \(spreadAdmitted) (overshoot \(spreadAdmitted - 9)); 9 to one instance admitted \(oneInstance.filter { $0.status == 200 }.count); concurrency 3 held \(inFlight.filter { $0.status == 200 }.count) over 3 instances, \(after.filter { $0.status == 200 }.count) over 2"
        )
        for gateway in remaining { await gateway.stop() }
        await upstream.stop()
    }

    static func auth(_ secret: String) -> [(String, String)] { [("Authorization", "Bearer \(secret)")] }

    /// Waits (up to 20 s) until every gateway's `/health` says `count` instances share the store.
    static func waitForInstances(_ count: Int, at gateways: [GatewayHarness], secret: String) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            var seen: [Int] = []
            for gateway in gateways {
                let health = try await TestHTTP.send(.GET, "\(gateway.url)/health", headers: [("Authorization", "Bearer \(secret)")])
                seen.append((health.json["cluster"] as? [String: Any])?["instances"] as? Int ?? 0)
            }
            if seen.allSatisfy({ $0 == count }) { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
