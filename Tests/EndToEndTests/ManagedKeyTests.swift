import Foundation
import Logging
import PostgresHarness
import Store
import Testing

/// Managed keys and analytics through the running gateway, on SQLite and PostgreSQL.
@Suite("Managed keys and request events")
struct ManagedKeyTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let chat = #"{"model":"gpt-4o-mini","messages":[]}"#

    static func sqlitePath() -> String { NSTemporaryDirectory() + "llmproxy-keys-\(UUID().uuidString)/llmproxy.sqlite" }

    static func bearer(_ key: String) -> [(String, String)] { [("Authorization", "Bearer \(key)")] }

    /// Polls until `condition` holds or `timeout` passes; returns the time it took.
    static func within(_ timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if try await condition() { return ContinuousClock.now - start }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return nil
    }

    @Test("a managed key opens the gateway beside configured keys, stops at revocation, and every request leaves an event with its tokens")
    func lifecycleOnSQLite() async throws {
        let path = Self.sqlitePath()
        let store = try await Store.openSQLite(path: path, logger: Self.quiet)
        let (key, secret) = KeyIssuer.issue(username: "alice", name: "laptop", expiresAt: nil, limits: KeyLimits(), now: WallClock.nowMs())
        // The test polls a key the gateway does not know yet, dozens of 401s a second: the
        // automatic block list would rightly stop that address, so loopback is exempt here.
        let extra = "database:\n  path: \(path)\nsecurity: {auto_block: {exempt: [127.0.0.0/8]}}"
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: extra) }) { gateway, _ in
            let url = "\(gateway.url)/v1/chat/completions"
            #expect(try await TestHTTP.send(.POST, url, headers: Self.bearer(secret), body: Self.chat).status == 401)
            try await store.insertKey(key)
            // SQLite has no change feed: the gateway's resync (every 2 s) picks the key up.
            let seen = try await Self.within(.seconds(6)) { try await TestHTTP.send(.POST, url, headers: Self.bearer(secret), body: Self.chat).status == 200 }
            #expect(seen != nil)
            let stream = try await TestHTTP.send(.POST, url, headers: Self.bearer(secret), body: #"{"model":"stream-3-5","stream":true,"messages":[]}"#)
            #expect(stream.status == 200)
            let anthropic = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/messages", headers: [("x-api-key", secret), ("anthropic-version", "2023-06-01")],
                body: #"{"model":"claude-3-5-haiku","max_tokens":10,"messages":[]}"#)
            #expect(anthropic.status == 200)
            // The configured key keeps working.
            #expect(try await TestHTTP.send(.POST, url, headers: Configs.auth, body: Self.chat).status == 200)

            try await store.revokeKey(id: key.id, at: WallClock.nowMs())
            let refused = try await Self.within(.seconds(6)) { try await TestHTTP.send(.POST, url, headers: Self.bearer(secret), body: Self.chat).status == 401 }
            #expect(refused != nil)
        }
        // The gateway has stopped: everything it recorded is in the store.
        let events = try await store.events(keyID: key.id, from: 0, to: Int64.max)
        let successes = events.filter { $0.status == 200 }
        #expect(successes.count >= 3)
        #expect(events.allSatisfy { $0.username == "alice" })
        let plain = successes.first { !$0.stream && $0.dialect == "openai" }
        #expect(plain?.promptTokens == 5 && plain?.completionTokens == 3 && plain?.totalTokens == 8)
        #expect(plain?.upstream == "oa#0" && plain?.route != nil && plain?.model == "gpt-4o-mini")
        let claude = successes.first { $0.dialect == "anthropic" }
        #expect(claude?.promptTokens == 5 && claude?.completionTokens == 3)
        #expect(successes.contains { $0.stream })
        #expect(events.contains { $0.status == 401 } == false, "a refused key is not the key's request")
        #expect(try await store.key(id: key.id)?.lastUsedAt != nil)
        await store.close()
    }

    @Test("with managed keys present, a gateway without configured keys refuses requests without one")
    func managedKeysCloseAnOpenGateway() async throws {
        let path = Self.sqlitePath()
        let store = try await Store.openSQLite(path: path, logger: Self.quiet)
        try await withGateway(yaml: {
            "providers: [{name: oa, type: openai, base_url: \"\($0["primary"]!.baseURL)/v1\", api_key: \($0["primary"]!.requiredKey), models: [gpt-4o-mini], discover_models: false}]\ndatabase: {path: \(path)}"
        }) { gateway, _ in
            let url = "\(gateway.url)/v1/chat/completions"
            #expect(try await TestHTTP.send(.POST, url, body: Self.chat).status == 200)
            let (key, secret) = KeyIssuer.issue(username: "bob", name: nil, expiresAt: nil, limits: KeyLimits(), now: WallClock.nowMs())
            try await store.insertKey(key)
            #expect(try await Self.within(.seconds(6)) { try await TestHTTP.send(.POST, url, body: Self.chat).status == 401 } != nil)
            #expect(try await TestHTTP.send(.POST, url, headers: Self.bearer(secret), body: Self.chat).status == 200)
            // Revoking the last key must not open the gateway again.
            try await store.revokeKey(id: key.id, at: WallClock.nowMs())
            #expect(try await Self.within(.seconds(6)) { try await TestHTTP.send(.POST, url, headers: Self.bearer(secret), body: Self.chat).status == 401 } != nil)
            #expect(try await TestHTTP.send(.POST, url, body: Self.chat).status == 401)
        }
        await store.close()
    }

    @Test("events older than the retention (default 90 days) are deleted when the gateway starts; newer ones stay (issue 8.7)")
    func retention() async throws {
        let path = Self.sqlitePath()
        let store = try await Store.openSQLite(path: path, logger: Self.quiet)
        let now = WallClock.nowMs()
        func event(_ id: String, daysAgo: Int64) -> RequestEvent {
            RequestEvent(
                requestID: id, keyID: "key_1", username: "alice", startMs: now - daysAgo * Store.dayMs, endMs: now - daysAgo * Store.dayMs + 5,
                status: 200, success: true, model: "gpt-4o", route: "model", upstream: "oa#0", dialect: "openai", stream: false, ttfbMs: nil,
                promptTokens: nil, completionTokens: nil, totalTokens: nil, bytesIn: 0, bytesOut: 0, errorCode: nil)
        }
        try await store.insertEvents((0..<300).map { event("old\($0)", daysAgo: 200) } + (0..<7).map { event("new\($0)", daysAgo: 10) })
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "database:\n  path: \(path)") }) { _, _ in
            let pruned = try await Self.within(.seconds(5)) { try await store.events(keyID: nil, from: 0, to: Int64.max, limit: 1000).count == 7 }
            #expect(pruned != nil)
        }
        #expect(try await store.events(keyID: nil, from: 0, to: Int64.max, limit: 1000).allSatisfy { $0.requestID.hasPrefix("new") })
        await store.close()
    }

    @Test("PostgreSQL: a key created or revoked elsewhere is honoured by two running gateways at once (change feed, not the resync)")
    func twoInstancesOnPostgres() async throws {
        let databaseURL = try await PostgresServer.sharedDatabase()
        let upstream = MockUpstream(name: "primary", requiredKey: "upstream-key-primary")
        try await upstream.start()
        let yaml = Configs.threeProviders(upstream, extra: "database:\n  url: \"\(databaseURL)\"")
        let first = try await GatewayHarness.start(yaml: yaml)
        let second = try await GatewayHarness.start(yaml: yaml)
        let store = try await Store.openPostgres(url: databaseURL, logger: Self.quiet)
        let (key, secret) = KeyIssuer.issue(username: "carol", name: nil, expiresAt: nil, limits: KeyLimits(), now: WallClock.nowMs())
        try await store.insertKey(key)
        for gateway in [first, second] {
            // Normally milliseconds (LISTEN/NOTIFY); the deadline leaves room for a loaded machine.
            let took = try await Self.within(.seconds(5)) {
                try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Self.bearer(secret), body: Self.chat).status == 200
            }
            #expect(took != nil, "the new key was not honoured within five seconds")
        }
        try await store.revokeKey(id: key.id, at: WallClock.nowMs())
        for gateway in [first, second] {
            let took = try await Self.within(.seconds(5)) {
                try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Self.bearer(secret), body: Self.chat).status == 401
            }
            #expect(took != nil, "the revoked key still worked after five seconds")
        }
        await first.stop()
        await second.stop()
        // Both instances wrote their events to the shared database.
        let events = try await store.events(keyID: key.id, from: 0, to: Int64.max)
        #expect(events.filter { $0.status == 200 }.count >= 2)
        await store.close()
        await upstream.stop()
    }

    @Test("PostgreSQL: signing out on one instance ends the admin's sessions on the other within two seconds (issue 8.13)")
    func logoutAcrossInstances() async throws {
        let databaseURL = try await PostgresServer.sharedDatabase()
        let upstream = MockUpstream(name: "primary", requiredKey: "upstream-key-primary")
        try await upstream.start()
        let yaml = Configs.threeProviders(upstream, extra: "database:\n  url: \"\(databaseURL)\"\nadmin:\n  username: root\n  password: \"correct horse battery staple\"")
        let first = try await GatewayHarness.start(yaml: yaml)
        let second = try await GatewayHarness.start(yaml: yaml)
        let login = #"{"username":"root","password":"correct horse battery staple"}"#
        let token = try await TestHTTP.send(.POST, "\(first.url)/auth/token", body: login).json["token"] as? String ?? ""
        let bearer = Self.bearer(token)
        // One account, one secret, one generation: a session from one instance works on both.
        #expect(try await TestHTTP.send(.GET, "\(second.url)/api/keys", headers: bearer).status == 200)
        #expect(try await TestHTTP.send(.POST, "\(second.url)/auth/logout", headers: bearer).status == 200)
        #expect(try await TestHTTP.send(.GET, "\(second.url)/api/keys", headers: bearer).status == 401)
        let ended = try await Self.within(.seconds(5)) { try await TestHTTP.send(.GET, "\(first.url)/api/keys", headers: bearer).status == 401 }
        #expect(ended != nil, "the session still worked on the other instance after two seconds")
        await first.stop()
        await second.stop()
        await upstream.stop()
    }

    @Test("PostgreSQL: a gateway whose change feed is idle still shuts down promptly")
    func quietShutdown() async throws {
        let databaseURL = try await PostgresServer.sharedDatabase()
        let upstream = MockUpstream(name: "primary", requiredKey: "upstream-key-primary")
        try await upstream.start()
        let gateway = try await GatewayHarness.start(yaml: Configs.threeProviders(upstream, extra: "database:\n  url: \"\(databaseURL)\""))
        // Long enough for the feed to be listening, with nothing to hear.
        try await Task.sleep(for: .seconds(1))
        let start = ContinuousClock.now
        await gateway.stop()
        #expect(ContinuousClock.now - start < .seconds(5), "shutdown waited on the key feed")
        await upstream.stop()
    }

    @Test("PostgreSQL outage: requests keep being served from memory, readiness says degraded, events catch up on recovery")
    func outageAndRecovery() async throws {
        let server = try await PostgresServer.aside { try PostgresServer() }
        let databaseURL = try await PostgresServer.aside { try server.createDatabase() }
        let upstream = MockUpstream(name: "primary", requiredKey: "upstream-key-primary")
        try await upstream.start()
        // A queue of 3 events: the outage below overflows it on purpose.
        let gateway = try await GatewayHarness.start(yaml: Configs.threeProviders(upstream, extra: "database:\n  url: \"\(databaseURL)\"\n  event_queue_limit: 3"))
        let store = try await Store.openPostgres(url: databaseURL, logger: Self.quiet)
        let (key, secret) = KeyIssuer.issue(username: "dave", name: nil, expiresAt: nil, limits: KeyLimits(), now: WallClock.nowMs())
        try await store.insertKey(key)
        await store.close()
        let url = "\(gateway.url)/v1/chat/completions"
        #expect(try await Self.within(.seconds(5)) { try await TestHTTP.send(.POST, url, headers: Self.bearer(secret), body: Self.chat).status == 200 } != nil)

        try await PostgresServer.aside { try server.stopServer() }
        // Far more than the queue and one batch in flight can hold, however fast the
        // recorder noticed the outage: some must be dropped.
        for _ in 0..<20 {
            #expect(try await TestHTTP.send(.POST, url, headers: Self.bearer(secret), body: Self.chat).status == 200)
        }
        let degraded = try await Self.within(.seconds(15)) {
            let ready = try await TestHTTP.send(.GET, "\(gateway.url)/health/ready")
            return ready.status == 200 && ready.body.contains("degraded")
        }
        #expect(degraded != nil)

        try await PostgresServer.aside { try server.startServer() }
        let recovered = try await Self.within(.seconds(30)) {
            try await TestHTTP.send(.GET, "\(gateway.url)/health/ready").body.contains("\"ready\"")
        }
        #expect(recovered != nil)
        let metrics = try await TestHTTP.send(.GET, "\(gateway.url)/metrics").body
        let dropped =
            metrics.split(separator: "\n").first { $0.hasPrefix("llmproxy_events_dropped_total") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }.map(Int.init) ?? -1
        await gateway.stop()
        let reopened = try await Store.openPostgres(url: databaseURL, logger: Self.quiet)
        let events = try await reopened.events(keyID: key.id, from: 0, to: Int64.max)
        // 21 requests with this key: none is lost without being counted. A write that timed
        // out while the server was going down may still have committed (the recorder cannot
        // know), so a batch can be stored and also retried or counted as dropped: delivery is
        // at least once, hence distinct ids and bounds rather than an exact sum.
        #expect(dropped >= 1, "the full queue must have dropped (and counted) events")
        let stored = Set(events.filter { $0.status == 200 }.map(\.requestID)).count
        #expect(stored <= 21)
        #expect(stored + dropped >= 21, "an event was lost without being counted")
        await reopened.close()
        await upstream.stop()
        _ = try? await PostgresServer.aside { try server.stopServer() }
    }

    @Test("SIGTERM with events still queued: every one is written before the process exits")
    func nothingLostOnSigterm() async throws {
        let path = Self.sqlitePath()
        let store = try await Store.openSQLite(path: path, logger: Self.quiet)
        let (key, secret) = KeyIssuer.issue(username: "erin", name: nil, expiresAt: nil, limits: KeyLimits(), now: WallClock.nowMs())
        try await store.insertKey(key)
        let upstream = MockUpstream(name: "primary", requiredKey: "upstream-key-primary")
        try await upstream.start()
        let config = try TempFile(Configs.threeProviders(upstream, extra: "database:\n  path: \(path)"))
        let process = try await GatewayProcess.launch(config: config.path)
        let count = 40
        for _ in 0..<count {
            let response = try await TestHTTP.send(.POST, "http://127.0.0.1:\(process.port)/v1/chat/completions", headers: Self.bearer(secret), body: Self.chat)
            #expect(response.status == 200, "\(response.status): \(response.body)")
        }
        process.signal(SIGTERM)
        #expect(await process.waitForExit(timeout: .seconds(20)) == 0)
        #expect(try await store.events(keyID: key.id, from: 0, to: Int64.max).count == count)
        await store.close()
        await upstream.stop()
        config.remove()
    }
}

/// Usage of OpenAI-compatible streams: asked for on the client's behalf and kept out of the
/// client's stream unless it asked itself — on both forwarding paths.
@Suite("Stream usage")
struct StreamUsageEndToEndTests {
    @Test("usage is requested upstream, recorded, and the extra chunk is not passed on", arguments: [true, false])
    func streamUsage(fastPath: Bool) async throws {
        let path = ManagedKeyTests.sqlitePath()
        let store = try await Store.openSQLite(path: path, logger: ManagedKeyTests.quiet)
        let (key, secret) = KeyIssuer.issue(username: "sam", name: nil, expiresAt: nil, limits: KeyLimits(), now: WallClock.nowMs())
        try await store.insertKey(key)
        try await withGateway(yaml: {
            Configs.threeProviders($0["primary"]!, extra: "database:\n  path: \(path)").replacingOccurrences(of: "upstream:\n", with: "upstream:\n  fast_path: \(fastPath)\n")
        }) { gateway, upstreams in
            let url = "\(gateway.url)/v1/chat/completions"
            let auth = ManagedKeyTests.bearer(secret)
            let plain = try await TestHTTP.send(.POST, url, headers: auth, body: #"{"model":"stream-3-5","stream":true,"messages":[]}"#)
            #expect(plain.status == 200 && plain.body.hasSuffix("data: [DONE]\n\n"))
            #expect(!plain.body.contains(#""choices":[]"#), "the client did not ask for the usage chunk")
            #expect(plain.body.components(separatedBy: "part").count == 4)
            let sent = upstreams["primary"]!.received.last { $0.path == "/v1/chat/completions" }
            #expect(sent?.body.contains(#""stream_options":{"include_usage":true}"#) == true)

            let asked = try await TestHTTP.send(.POST, url, headers: auth, body: #"{"model":"stream-2-5","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#)
            #expect(asked.body.contains(#""choices":[],"usage""#), "a client that asked keeps its usage chunk")
            let askedSent = upstreams["primary"]!.received.last { $0.path == "/v1/chat/completions" }
            #expect(askedSent?.body == #"{"model":"stream-2-5","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#)
        }
        let events = try await store.events(keyID: key.id, from: 0, to: Int64.max)
        #expect(events.count == 2 && events.allSatisfy { $0.stream && $0.totalTokens == 8 && $0.promptTokens == 5 })
        await store.close()
    }
}
