import Foundation
import Logging
import PostgresHarness
import Store
import Testing

/// The repository layer against both real databases: a SQLite file and a throwaway
/// PostgreSQL cluster.
@Suite("Store on SQLite and PostgreSQL")
struct StoreTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    static let logger = Logger(label: "test.store")

    /// A fresh store and a way to open the same database again.
    static func fresh(_ backend: Backend) async throws -> (Store, reopen: () async throws -> Store) {
        switch backend {
        case .sqlite:
            let path = NSTemporaryDirectory() + "llmproxy-store-\(UUID().uuidString)/nested/llmproxy.sqlite"
            let open = { try await Store.openSQLite(path: path, logger: logger) }
            return (try await open(), open)
        case .postgres:
            let url = try await PostgresServer.sharedDatabase()
            let open = { try await Store.openPostgres(url: url, logger: logger) }
            return (try await open(), open)
        }
    }

    @Test("migrations run once, are recorded, and a newer schema is refused", arguments: Backend.allCases)
    func migrations(backend: Backend) async throws {
        let (store, reopen) = try await Self.fresh(backend)
        #expect(try await store.schemaVersion() == 6)
        await store.close()
        let again = try await reopen()
        #expect(try await again.schemaVersion() == 6)
        try await again.recordSchemaVersionForTests(99)
        await again.close()
        await #expect(throws: StoreError.schemaTooNew(found: 99, known: 6)) { _ = try await reopen() }
    }

    @Test("keys: create, list, revoke once, last use", arguments: Backend.allCases)
    func keyLifecycle(backend: Backend) async throws {
        let (store, _) = try await Self.fresh(backend)
        let first = ManagedKey(
            id: "key_1", hash: String(repeating: "a", count: 64), hint: "sk-aaaa…aaaa", username: "alice", name: "laptop",
            createdAt: 1_000, expiresAt: 9_000, limits: KeyLimits(models: ["gpt-4o", "claude-*"], requestsPerMinute: 60, tokensPerMinute: 1000, tokenBudget: 5_000_000))
        let second = ManagedKey(id: "key_2", hash: String(repeating: "b", count: 64), hint: "sk-bbbb…bbbb", username: "alice", name: nil, createdAt: 2_000)
        try await store.insertKey(first)
        try await store.insertKey(second)
        #expect(try await store.keys() == [second, first])
        #expect(try await store.revokeKey(id: "key_1", at: 3_000))
        #expect(try await store.revokeKey(id: "key_1", at: 4_000))
        #expect(try await store.key(id: "key_1")?.revokedAt == 3_000)
        #expect(try await !store.revokeKey(id: "nope", at: 4_000))
        try await store.touchKeys(["key_2": 5_000])
        try await store.touchKeys(["key_2": 4_000])
        #expect(try await store.key(id: "key_2")?.lastUsedAt == 5_000)
        // The hash is unique: the same key cannot be stored twice.
        await #expect(throws: (any Error).self) { try await store.insertKey(ManagedKey(id: "key_3", hash: first.hash, hint: "x", username: "bob", name: nil, createdAt: 1)) }
        await store.close()
    }

    @Test("events: batch insert, per-key range query, summaries with percentiles", arguments: Backend.allCases)
    func events(backend: Backend) async throws {
        let (store, _) = try await Self.fresh(backend)
        let day: Int64 = 86_400_000
        func event(_ id: String, key: String?, start: Int64, duration: Int64, ok: Bool, model: String, tokens: Int?) -> RequestEvent {
            RequestEvent(
                requestID: id, keyID: key, username: key == nil ? nil : "alice", startMs: start, endMs: start + duration, status: ok ? 200 : 502,
                success: ok, model: model, route: "model", upstream: "oa#0", dialect: "openai", stream: false, ttfbMs: 1.5,
                promptTokens: tokens.map { $0 / 2 }, completionTokens: tokens.map { $0 - $0 / 2 }, totalTokens: tokens,
                bytesIn: 10, bytesOut: 20, errorCode: ok ? nil : "upstream_error")
        }
        var all: [RequestEvent] = []
        for i in 0..<20 { all.append(event("r\(i)", key: "key_1", start: day * 100 + Int64(i) * 1000, duration: Int64(i + 1) * 10, ok: i != 3, model: "gpt-4o", tokens: 10)) }
        all.append(event("other", key: "key_2", start: day * 101, duration: 5, ok: true, model: "claude", tokens: nil))
        try await store.insertEvents(all)

        let mine = try await store.events(keyID: "key_1", from: day * 100, to: day * 101)
        #expect(mine.count == 20)
        #expect(mine.first == all[19])
        #expect(try await store.events(keyID: "key_1", from: day * 100 + 5000, to: day * 100 + 7000).map(\.requestID) == ["r6", "r5"])

        let byKey = try await store.summary(from: 0, to: day * 200, groupBy: .key)
        #expect(byKey.map(\.group) == ["key_1", "key_2"])
        #expect(byKey[0].requests == 20 && byKey[0].failures == 1 && byKey[0].totalTokens == 200 && byKey[0].promptTokens == 100)
        #expect(byKey[0].p50Ms == 100 && byKey[0].p95Ms == 190)
        let byDay = try await store.summary(from: 0, to: day * 200, groupBy: .day)
        #expect(byDay.map(\.group) == ["1970-04-11", "1970-04-12"])
        let byModel = try await store.summary(from: 0, to: day * 200, keyID: "key_2", groupBy: .model)
        #expect(byModel.map(\.group) == ["claude"] && byModel[0].totalTokens == 0)
        await store.close()
    }

    @Test("every column of every event comes back as written, across statements (500 rows each), with and without values", arguments: Backend.allCases)
    func eventRoundTrip(backend: Backend) async throws {
        let (store, _) = try await Self.fresh(backend)
        let events = (0..<1_234).map { i -> RequestEvent in
            let full = i % 2 == 0
            return RequestEvent(
                requestID: "req-\(i)-'quote'\"; DROP TABLE request_events; --", keyID: full ? "key_\(i % 7)" : nil, username: full ? "ünïcode 🙂 \(i)" : nil,
                startMs: 1_700_000_000_000 + Int64(i), endMs: 1_700_000_000_500 + Int64(i), status: [200, 429, 502][i % 3], success: i % 3 == 0,
                model: full ? "gpt-4o" : nil, route: full ? "model" : nil, upstream: full ? "oa#\(i % 3)" : nil, dialect: full ? "anthropic" : nil,
                stream: i % 5 == 0, ttfbMs: full ? Double(i) / 8 : nil, promptTokens: full ? i : nil, completionTokens: full ? i * 2 : nil,
                totalTokens: full ? i * 3 : nil, bytesIn: i * 10, bytesOut: Int(Int32.max) + i, errorCode: full ? nil : "upstream_error",
                costUSD: full ? Double(i) * 0.000_125 : nil, cachedTokens: full ? i / 2 : nil, reasoningTokens: full ? i / 3 : nil)
        }
        try await store.insertEvents(events)
        let back = try await store.events(keyID: nil, from: 0, to: .max, limit: 2_000)
        #expect(back.count == events.count)
        #expect(back.reversed() == events)
        await store.close()
    }

    @Test("settings keep the first value written", arguments: Backend.allCases)
    func settings(backend: Backend) async throws {
        let (store, _) = try await Self.fresh(backend)
        #expect(try await store.setting("jwt_secret") == nil)
        #expect(try await store.settingOrInsert("jwt_secret", value: "one") == "one")
        #expect(try await store.settingOrInsert("jwt_secret", value: "two") == "one")
        try await store.setSetting("jwt_secret", value: "three")
        #expect(try await store.setting("jwt_secret") == "three")
        await store.close()
    }

    @Test("settings count up without losing increments across instances", arguments: Backend.allCases)
    func counters(backend: Backend) async throws {
        let (store, reopen) = try await Self.fresh(backend)
        let other = try await reopen()
        #expect(try await store.numericSetting("admin_session_generation") == 0)
        #expect(try await store.incrementSetting("admin_session_generation") == 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<10 { group.addTask { try await (index % 2 == 0 ? store : other).incrementSetting("admin_session_generation") } }
            try await group.waitForAll()
        }
        #expect(try await other.numericSetting("admin_session_generation") == 11)
        await other.close()
        await store.close()
    }

    @Test("instances: a heartbeat lists the live ones sorted; one that leaves or falls silent drops out", arguments: Backend.allCases)
    func instances(backend: Backend) async throws {
        let (store, _) = try await Self.fresh(backend)
        let now = WallClock.nowMs()
        #expect(try await store.heartbeat(instance: "b", liveWithinMs: 10_000, nowMs: now) == ["b"])
        #expect(try await store.heartbeat(instance: "a", liveWithinMs: 10_000, nowMs: now) == ["a", "b"])
        #expect(try await store.heartbeat(instance: "c", liveWithinMs: 10_000, nowMs: now) == ["a", "b", "c"])
        try await store.leave(instance: "b")
        #expect(try await store.heartbeat(instance: "a", liveWithinMs: 10_000, nowMs: now) == ["a", "c"])
        // Silent past the live window: PostgreSQL judges by its own clock, SQLite by the caller's.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await store.heartbeat(instance: "a", liveWithinMs: 200, nowMs: WallClock.nowMs()) == ["a"])
        await store.close()
    }

    @Test("response cache rows: newest first since a time, others' only, fresh only, bounded; pruned by expiry and by bytes", arguments: Backend.allCases)
    func responseCache(backend: Backend) async throws {
        let (store, _) = try await Self.fresh(backend)
        let now = WallClock.nowMs()
        func answer(_ key: String, instance: String = "a", created: Int64, expires: Int64? = nil, payload: String = "p") -> StoredCacheAnswer {
            StoredCacheAnswer(key: key, instance: instance, createdMs: created, expiresMs: expires ?? now + 60_000, size: payload.utf8.count, payload: payload)
        }
        try await store.putCacheAnswers([
            answer("k1", created: now - 3000), answer("k2", created: now - 2000), answer("k3", instance: "b", created: now - 1000),
            answer("old", created: now - 5000, expires: now - 1),
        ])
        #expect(try await store.cacheAnswers(sinceMs: 0, excluding: nil, nowMs: now, limit: 10, maxBytes: 1000).map(\.key) == ["k3", "k2", "k1"])
        #expect(try await store.cacheAnswers(sinceMs: now - 2500, excluding: "b", nowMs: now, limit: 10, maxBytes: 1000).map(\.key) == ["k2"])
        #expect(try await store.cacheAnswers(sinceMs: 0, excluding: nil, nowMs: now, limit: 2, maxBytes: 1000).map(\.key) == ["k3", "k2"])
        #expect(try await store.cacheAnswers(sinceMs: 0, excluding: nil, nowMs: now, limit: 10, maxBytes: 2).map(\.key) == ["k3", "k2"])
        // A newer answer for a key replaces the old one; an older one does not.
        try await store.putCacheAnswers([answer("k1", instance: "b", created: now - 500, payload: "new")])
        try await store.putCacheAnswers([answer("k1", instance: "c", created: now - 9000, payload: "stale")])
        let k1 = try await store.cacheAnswers(sinceMs: 0, excluding: nil, nowMs: now, limit: 10, maxBytes: 1000).first { $0.key == "k1" }
        #expect(k1?.payload == "new" && k1?.instance == "b")
        // Pruning: the expired row goes, then the oldest until the rest fit.
        try await store.putCacheAnswers([answer("big", created: now - 100, payload: String(repeating: "x", count: 10))])
        try await store.pruneCacheAnswers(nowMs: now, maxBytes: 14)
        let left = try await store.cacheAnswers(sinceMs: 0, excluding: nil, nowMs: now - 10_000, limit: 10, maxBytes: 1000).map(\.key)
        #expect(left == ["big", "k1", "k3"], "\(left)")
        await store.close()
    }

    @Test("a database URL with a password never shows it in messages")
    func redaction() {
        #expect(Store.redacted("postgres://app:s3cret@db:5432/llm") == "postgres://app:***@db:5432/llm")
        #expect(Store.redacted("postgres://db/llm") == "postgres://db/llm")
    }
}
