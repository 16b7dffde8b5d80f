import Foundation
import Guards
import Logging
import PostgresHarness
import Store
import Testing

/// Three gateway instances on one PostgreSQL share one budget: each admits only within the
/// lease it holds from the store's pool, and the pool never leases out more than is left.
@Suite("Budgets across instances (PostgreSQL)")
struct ClusterBudgetTests {
    @Test("three instances, 60 concurrent requests and then a steady stream: the cluster admits no more than the budget covers; measured overshoot 0")
    func threeInstances() async throws {
        let databaseURL = try await PostgresServer.sharedDatabase()
        let store = try await Store.openPostgres(url: databaseURL, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        // Each request reserves body/4 + 1 + max_tokens and really uses body/4 + 19 (the mock's
        // answer): the reservation is the usage, plus one token.
        let body = #"{"model":"m1","max_tokens":19,"messages":[]}"#
        let perRequest = Int64(body.utf8.count / 4 + 1 + 19)
        let budget = perRequest * 10 + perRequest / 2
        let (key, secret) = KeyIssuer.issue(
            username: "zoe", name: nil, expiresAt: nil, limits: KeyLimits(tokenBudget: budget, budgetPeriod: "month"), now: WallClock.nowMs())
        try await store.insertKey(key)
        let yaml = """
            providers:
              - {name: m, type: mock, models: ["m1"], mock: {latency_ms: 400, chunks: 2, chunk_delay_ms: 1}}
            database: {url: "\(databaseURL)"}
            """
        var gateways: [GatewayHarness] = []
        for _ in 0..<3 { gateways.append(try await GatewayHarness.start(yaml: yaml)) }
        let urls = gateways.map { "\($0.url)/v1/chat/completions" }
        let auth = [("Authorization", "Bearer \(secret)")]
        // Let the brokers take their first leases.
        try await Task.sleep(for: .milliseconds(500))

        let burst = try await LimitTests.burst(60) { index in try await LimitTests.send(urls[index % 3], headers: auth, body: body) }
        var admitted = burst.filter { $0.status == 200 }.count
        #expect(burst.allSatisfy { $0.status == 200 || $0.status == 429 })
        #expect(admitted <= 10, "the burst was admitted \(admitted) times against a budget for 10")
        // Then a steady stream: leases are topped up as requests settle, until the budget is spent.
        for _ in 0..<20 where admitted < 10 {
            let round = try await LimitTests.burst(3) { index in try await LimitTests.send(urls[index], headers: auth, body: body) }
            admitted += round.filter { $0.status == 200 }.count
            try await Task.sleep(for: .milliseconds(150))
        }
        #expect(admitted <= 10)
        #expect(admitted >= 6, "only \(admitted) of the 10 requests the budget covers were admitted")
        for gateway in gateways { await gateway.stop() }

        // Every instance has returned its lease and booked its spending at shutdown.
        let period = BudgetPeriod.month.start(containing: WallClock.nowMs())
        let pool = try await store.budgetPool(subject: "key:\(key.id)", periodStart: period)
        let events = try await store.events(keyID: key.id, from: 0, to: Int64.max).filter { $0.status == 200 }
        let used = events.reduce(0) { $0 + Int64($1.totalTokens ?? 0) }
        #expect(events.count == admitted)
        #expect(pool?.spentTokens == used)
        #expect(pool?.leasedTokens == 0)
        let overshoot = max(0, used - budget)
        #expect(overshoot == 0, "spent \(used) of a budget of \(budget)")
        print("cluster budget: budget \(budget) tokens, \(admitted) admitted, \(used) spent, overshoot \(overshoot)")
        await store.close()
    }
}
