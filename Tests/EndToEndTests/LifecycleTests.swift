import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

@Suite("Process lifecycle: reload and drain", .serialized)
struct LifecycleTests {
    static func config(_ upstream: MockUpstream, models: [String], extra: String = "") -> String {
        """
        server:
          drain_timeout: 30
        logging:
          requests: false
        providers:
          - {name: only, type: openai, base_url: "\(upstream.baseURL)/v1", api_key: \(upstream.requiredKey), models: [\(models.joined(separator: ", "))], discover_models: false}
        \(extra)
        """
    }

    @Test("SIGHUP swaps the configuration under traffic with zero failed requests; an invalid file is rejected and the old one stays")
    func reloadUnderTraffic() async throws {
        let alpha = MockUpstream(name: "alpha", requiredKey: "upstream-key-alpha")
        let beta = MockUpstream(name: "beta", requiredKey: "upstream-key-alpha")
        try await alpha.start()
        try await beta.start()
        let file = try TempFile(Self.config(alpha, models: ["m"]))
        let gateway = try await GatewayProcess.launch(config: file.path)

        let results = TrafficResults()
        let stop = StopFlag()
        let traffic = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while !stop.isSet {
                            do {
                                let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"m","messages":[]}"#)
                                results.state.withLock {
                                    if response.status == 200 {
                                        $0.ok += 1
                                        $0.servedBy.append(response.headers["x-upstream-name"].first ?? "?")
                                    } else {
                                        $0.failed.append("\(response.status) \(response.body)")
                                    }
                                }
                            } catch {
                                results.state.withLock { $0.failed.append("\(error)") }
                            }
                        }
                    }
                }
            }
        }
        // Traffic reaches alpha before the reload, however loaded the machine is.
        let servedBefore = await eventually(timeout: .seconds(20)) { results.state.withLock { $0.ok >= 8 } }
        try file.replace(with: Self.config(beta, models: ["m"]))
        gateway.signal(SIGHUP)
        let switched = await eventually(timeout: .seconds(20)) { results.state.withLock { $0.servedBy.last == "beta" } }
        let servedAfter = results.state.withLock { $0.ok }
        _ = await eventually(timeout: .seconds(20)) { results.state.withLock { $0.ok >= servedAfter + 8 } }

        // An invalid file: rejected with its reason; requests keep going to beta.
        try file.replace(with: Self.config(beta, models: ["m"], extra: "routing:\n  default_provider: nowhere"))
        gateway.signal(SIGHUP)
        let rejected = await eventually(timeout: .seconds(20)) { gateway.log.contains("configuration reload rejected") }
        let servedRejected = results.state.withLock { $0.ok }
        _ = await eventually(timeout: .seconds(20)) { results.state.withLock { $0.ok >= servedRejected + 8 } }
        stop.set()
        await traffic.value

        let final = results.state.withLock { $0 }
        #expect(servedBefore)
        #expect(switched)
        #expect(rejected)
        #expect(gateway.log.contains("routing.default_provider"))
        #expect(final.failed.isEmpty, "failed requests: \(final.failed.prefix(3))")
        #expect(final.ok >= 24)
        #expect(final.servedBy.first == "alpha")
        #expect(final.servedBy.suffix(5).allSatisfy { $0 == "beta" })

        gateway.signal(SIGTERM)
        #expect(await gateway.waitForExit(timeout: .seconds(15)) == 0)
        file.remove()
        await alpha.stop()
        await beta.stop()
    }

    @Test("SIGTERM lets a stream in flight finish, refuses new connections, then exits 0")
    func drainOnSigterm() async throws {
        let upstream = MockUpstream(name: "alpha", requiredKey: "upstream-key-alpha")
        try await upstream.start()
        let file = try TempFile(Self.config(upstream, models: ["stream-40-250"]))
        let gateway = try await GatewayProcess.launch(config: file.path)

        var request = HTTPClientRequest(url: "\(gateway.url)/v1/chat/completions")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: #"{"model":"stream-40-250","stream":true,"messages":[]}"#))
        let response = try await TestHTTP.client.execute(request, timeout: .seconds(30))
        var received = ""
        var signalled = false
        for try await buffer in response.body {
            received += String(buffer: buffer)
            if !signalled {
                signalled = true
                gateway.signal(SIGTERM)
                // The listener closes while the stream (10 s) still runs: a new connection
                // cannot get in. Polled, not timed: a loaded machine may take a moment to
                // deliver the signal.
                #expect(await eventually(timeout: .seconds(8)) { gateway.refusesConnections }, "the listener stayed open after SIGTERM")
                #expect(gateway.isRunning, "the gateway exited before its stream had finished")
            }
        }
        #expect(received.hasSuffix("data: [DONE]\n\n"))
        #expect(received.components(separatedBy: "part").count == 41)
        #expect(await gateway.waitForExit(timeout: .seconds(15)) == 0)
        #expect(gateway.log.contains("draining"))
        file.remove()
        await upstream.stop()
    }

    @Test("a stream longer than the drain time is cut at the drain time and the process still exits 0")
    func drainTimeout() async throws {
        let upstream = MockUpstream(name: "alpha", requiredKey: "upstream-key-alpha")
        try await upstream.start()
        let file = try TempFile(Self.config(upstream, models: ["long-stream"]).replacingOccurrences(of: "drain_timeout: 30", with: "drain_timeout: 1"))
        let gateway = try await GatewayProcess.launch(config: file.path)
        var request = HTTPClientRequest(url: "\(gateway.url)/v1/chat/completions")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: #"{"model":"long-stream","stream":true,"messages":[]}"#))
        let response = try await TestHTTP.client.execute(request, timeout: .seconds(30))
        let started = ContinuousClock.now
        let reader = Task { for try await _ in response.body {} }
        try await Task.sleep(for: .milliseconds(300))
        gateway.signal(SIGTERM)
        let status = await gateway.waitForExit(timeout: .seconds(15))
        _ = try? await reader.value
        #expect(status == 0)
        #expect(ContinuousClock.now - started < .seconds(10))
        file.remove()
        await upstream.stop()
    }
}

final class TrafficResults: Sendable {
    let state = Mutex<(ok: Int, failed: [String], servedBy: [String])>((0, [], []))
}

final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

@Suite("Request log")
struct RequestLogTests {
    @Test("one JSON line per request with id, route, upstream, status, durations and bytes; never a key or a body")
    func requestLine() async throws {
        let upstream = MockUpstream(name: "alpha", requiredKey: "upstream-key-alpha")
        try await upstream.start()
        let file = try TempFile(
            """
            auth: {keys: [client-secret-key-1]}
            providers:
              - {name: only, type: openai, base_url: "\(upstream.baseURL)/v1", api_key: upstream-key-alpha, models: [m], discover_models: false}
            """)
        let gateway = try await GatewayProcess.launch(config: file.path)
        let response = try await TestHTTP.send(
            .POST, "\(gateway.url)/v1/chat/completions", headers: [("Authorization", "Bearer client-secret-key-1"), ("x-request-id", "log-test-1")],
            body: #"{"model":"m","messages":[{"role":"user","content":"very-private-prompt"}]}"#)
        #expect(response.status == 200)
        #expect(await eventually { gateway.log.contains("log-test-1") })
        gateway.signal(SIGTERM)
        _ = await gateway.waitForExit(timeout: .seconds(15))
        let line = gateway.log.split(separator: "\n").first { $0.contains("log-test-1") }.map(String.init) ?? ""
        let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        #expect(object["request_id"] as? String == "log-test-1")
        #expect(object["method"] as? String == "POST")
        #expect(object["path"] as? String == "/v1/chat/completions")
        #expect(object["route"] as? String == "model")
        #expect(object["upstream"] as? String == "only#0")
        #expect(object["status"] as? Int == 200)
        #expect(object["duration_ms"] is Double)
        #expect(object["ttfb_ms"] is Double)
        // The gateway's own share, no more than the whole (and the header says the same figure).
        let overhead = object["overhead_ms"] as? Double
        #expect(overhead.map { $0 >= 0 && $0 <= (object["duration_ms"] as? Double ?? 0) } == true, "\(line)")
        #expect(response.headers["x-llmproxy-overhead-ms"].first.flatMap(Double.init) == overhead)
        #expect((object["bytes_in"] as? Int ?? 0) > 0)
        #expect((object["bytes_out"] as? Int ?? 0) > 0)
        for secret in ["client-secret-key-1", "upstream-key-alpha", "very-private-prompt"] {
            #expect(!gateway.log.contains(secret), "\(secret) appeared in the logs")
        }
        file.remove()
        await upstream.stop()
    }
}
