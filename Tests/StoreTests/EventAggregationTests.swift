import Foundation
import Store
import Testing

/// Summaries computed by the database, exports read page by page, old events pruned.
@Suite("Event aggregation, paging and retention on SQLite and PostgreSQL")
struct EventAggregationTests {
    typealias Backend = StoreTests.Backend
    static let day: Int64 = 86_400_000

    static func event(
        _ id: String, key: String?, start: Int64, duration: Int64, ok: Bool = true, model: String? = "gpt-4o",
        upstream: String? = "oa#0", tokens: Int? = 10
    ) -> RequestEvent {
        RequestEvent(
            requestID: id, keyID: key, username: key == nil ? nil : "alice", startMs: start, endMs: start + duration, status: ok ? 200 : 502,
            success: ok, model: model, route: "model", upstream: upstream, dialect: "openai", stream: false, ttfbMs: 1.5,
            promptTokens: tokens.map { $0 / 2 }, completionTokens: tokens.map { $0 - $0 / 2 }, totalTokens: tokens,
            bytesIn: 10, bytesOut: 20, errorCode: ok ? nil : "upstream_error", cachedTokens: tokens.map { $0 / 8 })
    }

    /// What the summary must say, counted by hand from the events themselves.
    static func handCount(_ events: [RequestEvent], group: (RequestEvent) -> String?) -> [UsageSummary] {
        Dictionary(grouping: events, by: group).map { name, members in
            let latencies = members.map { Double($0.endMs - $0.startMs) }.sorted()
            func rank(_ p: Double) -> Double { latencies[Int((p * Double(latencies.count)).rounded(.up)) - 1] }
            var summary = UsageSummary(
                group: name, requests: members.count, failures: members.filter { !$0.success }.count,
                promptTokens: members.reduce(0) { $0 + ($1.promptTokens ?? 0) },
                completionTokens: members.reduce(0) { $0 + ($1.completionTokens ?? 0) },
                totalTokens: members.reduce(0) { $0 + ($1.totalTokens ?? 0) }, p50Ms: rank(0.5), p95Ms: rank(0.95))
            summary.cachedTokens = members.reduce(0) { $0 + ($1.cachedTokens ?? 0) }
            return summary
        }.sorted { ($0.group ?? "") < ($1.group ?? "") }
    }

    @Test("summaries from SQL aggregation equal a hand count, for every grouping", arguments: Backend.allCases)
    func aggregates(backend: Backend) async throws {
        let (store, _) = try await StoreTests.fresh(backend)
        var events: [RequestEvent] = []
        var random = SystemRandomNumberGenerator()
        let models = ["gpt-4o", "claude", nil], upstreams = ["oa#0", "an#0", nil], keys = ["key_1", "key_2", "key_3", nil]
        for index in 0..<437 {
            events.append(
                Self.event(
                    "r\(index)", key: keys[index % keys.count], start: Self.day * 100 + Int64(index) * 997_001,
                    duration: Int64.random(in: 1...5000, using: &random), ok: index % 7 != 0,
                    model: models[index % models.count], upstream: upstreams[index % 5 % upstreams.count],
                    tokens: index % 11 == 0 ? nil : Int.random(in: 0...4000, using: &random)))
        }
        // Outside the range: must not count.
        events.append(Self.event("early", key: "key_1", start: Self.day * 99, duration: 1))
        events.append(Self.event("late", key: "key_1", start: Self.day * 110, duration: 1))
        try await store.insertEvents(events)
        let inRange = events.filter { $0.startMs >= Self.day * 100 && $0.startMs < Self.day * 110 }
        func civilDay(_ ms: Int64) -> String {
            let formatter = DateFormatter()
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd"
            return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
        }
        let expected: [(Store.Grouping, [UsageSummary])] = [
            (.key, Self.handCount(inRange) { $0.keyID }), (.model, Self.handCount(inRange) { $0.model }),
            (.upstream, Self.handCount(inRange) { $0.upstream }), (.day, Self.handCount(inRange) { civilDay($0.startMs) }),
            (.none, Self.handCount(inRange) { _ in nil }),
        ]
        for (grouping, want) in expected {
            let got = try await store.summary(from: Self.day * 100, to: Self.day * 110, groupBy: grouping)
            #expect(got == want, "\(grouping)")
        }
        #expect(try await store.summary(from: Self.day * 100, to: Self.day * 110, groupBy: .day).count == 6)
        let one = try await store.summary(from: Self.day * 100, to: Self.day * 110, keyID: "key_2", groupBy: .none)
        #expect(one == Self.handCount(inRange.filter { $0.keyID == "key_2" }) { _ in nil })
        #expect(try await store.summary(from: 0, to: Self.day, groupBy: .key).isEmpty)
        #expect(try await store.summary(from: 0, to: Self.day, groupBy: .none).isEmpty)
        await store.close()
    }

    @Test("pages walk every event in the range once, newest first, across equal start times", arguments: Backend.allCases)
    func paging(backend: Backend) async throws {
        let (store, _) = try await StoreTests.fresh(backend)
        // 2,500 events, five per millisecond: pages end in the middle of equal start times.
        let events = (0..<2500).map { Self.event("r\($0)", key: $0 % 2 == 0 ? "key_1" : "key_2", start: 1_000_000 + Int64($0 / 5), duration: 3) }
        try await store.insertEvents(events)
        var seen: [String] = []
        var pages = 0
        var page = try await store.eventPage(keyID: nil, from: 0, to: 2_000_000, after: nil, limit: 1000)
        while true {
            pages += 1
            seen += page.events.map(\.requestID)
            guard let next = page.next else { break }
            page = try await store.eventPage(keyID: nil, from: 0, to: 2_000_000, after: next, limit: 1000)
        }
        #expect(pages == 3 && seen.count == 2500 && Set(seen).count == 2500)
        #expect(seen.first == "r2499" && seen.last == "r0")
        let starts = try await store.eventPage(keyID: "key_1", from: 0, to: 2_000_000, after: nil, limit: 5000).events
        #expect(starts.count == 1250 && starts.allSatisfy { $0.keyID == "key_1" })
        #expect(zip(starts, starts.dropFirst()).allSatisfy { $0.startMs >= $1.startMs })
        await store.close()
    }

    @Test("pruning deletes events older than the cutoff, in batches, and nothing newer", arguments: Backend.allCases)
    func pruning(backend: Backend) async throws {
        let (store, _) = try await StoreTests.fresh(backend)
        let cutoff = Self.day * 1000
        let old = (0..<1234).map { Self.event("old\($0)", key: "key_1", start: cutoff - 1 - Int64($0) * 1000, duration: 5) }
        let new = (0..<56).map { Self.event("new\($0)", key: "key_1", start: cutoff + Int64($0) * 1000, duration: 5) }
        try await store.insertEvents(old + new)
        #expect(try await store.pruneEvents(before: cutoff, batch: 100) == 1234)
        let left = try await store.events(keyID: nil, from: 0, to: Int64.max, limit: 10_000)
        #expect(left.count == 56 && left.allSatisfy { $0.requestID.hasPrefix("new") })
        #expect(try await store.pruneEvents(before: cutoff, batch: 100) == 0)
        await store.close()
    }
}
