import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypesHTTP1
import ProxyConfig
import ProxyCore
import Synchronization
import Testing
import Upstreams

@testable import LLMProxy

/// The HTTP/1.1 driver on an `EmbeddedChannel`: real HTTP parsing and pipelining, a scripted
/// upstream, no socket. Each test plays the upstream's part by hand through the sink the
/// driver gave the transport.
@Suite("HTTP/1.1 driver without sockets")
struct ProxyDriverTests {
    /// An upstream the test drives by hand.
    final class ScriptedTransport: UpstreamTransport, @unchecked Sendable {
        final class Exchange: UpstreamExchange {
            var resumed = 0
            var cancelled = false
            func resumeReading() { resumed += 1 }
            func cancel() { cancelled = true }
        }

        var sinks: [any UpstreamResponseSink] = []
        var exchanges: [Exchange] = []
        var heads: [HTTPRequestHead] = []
        var refuseNext = 0
        /// Attempts whose request fails through the sink as it is written, before the
        /// exchange is handed over (a transport that broke the contract this way once left
        /// the driver holding the dead exchange and cancelling the live retry).
        var failWhileWriting = 0
        /// Hand-overs held until the test releases them (a connection still being made).
        var holdStarts = false
        var heldStarts: [() -> Void] = []

        func send(
            _ attempt: ForwardPlan.Attempt, to endpoint: Endpoint, freshConnection: Bool, on loop: any EventLoop,
            sink: any UpstreamResponseSink, started: @escaping (any UpstreamExchange) -> Void, failed: @escaping (any Error) -> Void
        ) {
            heads.append(attempt.head)
            if refuseNext > 0 {
                refuseNext -= 1
                failed(ChannelError.connectTimeout(.seconds(1)))
                return
            }
            let exchange = Exchange()
            exchanges.append(exchange)
            sinks.append(sink)
            if failWhileWriting > 0 {
                failWhileWriting -= 1
                sink.upstreamFailed(.notSent)
            } else if holdStarts {
                heldStarts.append { started(exchange) }
                return
            }
            started(exchange)
        }
    }

    final class Records: RequestObserver, @unchecked Sendable {
        var finished: [RequestRecord] = []
        var started = 0
        func requestStarted() { started += 1 }
        func requestFinished(_ record: RequestRecord) { finished.append(record) }
    }

    struct Harness {
        let channel = EmbeddedChannel()
        let transport = ScriptedTransport()
        let records = Records()

        init(extra: String = "") throws {
            var config = try GatewayConfig.parse(
                yaml: """
                    auth:
                      keys: ["k"]
                    providers:
                      - name: a
                        type: openai
                        base_url: http://127.0.0.1:9/v1
                        models: ["m"]
                      - name: b
                        type: openai
                        base_url: http://127.0.0.1:10/v1
                        models: ["m"]
                    \(extra)
                    """)
            config.discovery.localEngines = false
            config.assignProviderNames()
            let state = GatewayState(
                config: config, engines: [], catalog: ModelCatalog(), health: HealthRegistry(),
                environment: EngineEnvironment(isLocalSurface: GatewayResponder.handles))
            let driver = HTTP1ProxyDriver(store: StateStore(state), transport: transport, recorder: RequestRecorder([records]))
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try channel.pipeline.syncOperations.addHandler(driver)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1234)).wait()
        }

        static func post(_ body: String, key: String = "k", extra: String = "") -> String {
            "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer \(key)\r\n\(extra)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }

        func send(_ text: String) throws { try channel.writeInbound(ByteBuffer(string: text)) }

        /// Everything written to the client so far.
        func output() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }

        func respond(_ index: Int, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = ["content-type": "text/event-stream"]) {
            transport.sinks[index].upstreamHead(HTTPResponseHead(version: .http1_1, status: status, headers: headers))
        }

        @discardableResult
        func chunk(_ index: Int, _ text: String) -> Bool {
            let more = transport.sinks[index].upstreamBody(ByteBuffer(string: text))
            transport.sinks[index].upstreamReadComplete()
            return more
        }
    }

    static let body = #"{"model":"m","messages":[]}"#

    @Test("pipelined requests are answered one at a time, in order; the second waits for the first's upstream")
    func pipelining() throws {
        let h = try Harness()
        try h.send(Harness.post(Self.body) + Harness.post(Self.body, key: "wrong") + Harness.post(Self.body))
        #expect(h.transport.sinks.count == 1)
        #expect(try h.output().isEmpty)
        h.respond(0, headers: ["content-length": "5"])
        _ = h.chunk(0, "first")
        h.transport.sinks[0].upstreamEnd()
        // The 401 goes out from the planner, then the third request reaches the transport.
        let text = try h.output()
        #expect(text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) } == ["200", "401"])
        #expect(text.contains("first"))
        #expect(h.transport.sinks.count == 2)
        h.respond(1, headers: ["content-length": "6"])
        _ = h.chunk(1, "second")
        h.transport.sinks[1].upstreamEnd()
        #expect(try h.output().contains("second"))
        // Each request is accounted for once (the 401, answered while the first one's end was
        // being written, may be recorded before it).
        #expect(h.records.finished.map(\.status).sorted() == [200, 200, 401])
        #expect(h.records.started == 3)
        // The client's key never reaches the upstream.
        #expect(h.transport.heads.allSatisfy { $0.headers["authorization"].isEmpty })
    }

    @Test("a refused connect fails over to the other endpoint before anything reaches the client")
    func failover() throws {
        let h = try Harness()
        h.transport.refuseNext = 1
        try h.send(Harness.post(Self.body))
        #expect(h.transport.heads.count == 2)
        h.respond(0, headers: ["content-length": "2"])
        _ = h.chunk(0, "ok")
        h.transport.sinks[0].upstreamEnd()
        #expect(try h.output().hasPrefix("HTTP/1.1 200"))
        #expect(h.records.finished.first?.attempts == 2)
    }

    @Test("an attempt that fails as its request is written is retried, and its late hand-over never displaces the retry")
    func staleHandOver() throws {
        let h = try Harness()
        h.transport.failWhileWriting = 1
        h.transport.holdStarts = true
        try h.send(Harness.post(#"{"model":"m","stream":true,"messages":[]}"#))
        // The retry went out at once; its connection is handed over after the stale one.
        #expect(h.transport.heads.count == 2)
        for start in h.transport.heldStarts { start() }
        // The retry's exchange is the live one: not cancelled, and the client leaving cancels it.
        #expect(!h.transport.exchanges[1].cancelled)
        h.respond(1)
        _ = h.chunk(1, "data: {\"choices\":[]}\n\n")
        #expect(try h.output().contains("200 OK"))
        _ = try? h.channel.close().wait()
        #expect(h.transport.exchanges[1].cancelled)
        #expect(h.records.finished.count == 1)
        #expect(h.records.finished.first?.errorCode == .clientClosed)
    }

    @Test("the client leaving mid-stream cancels the upstream exchange and is accounted as client_closed, once")
    func clientGone() throws {
        let h = try Harness()
        try h.send(Harness.post(#"{"model":"m","stream":true,"messages":[]}"#))
        h.respond(0)
        _ = h.chunk(0, "data: {\"choices\":[]}\n\n")
        #expect(try h.output().contains("200 OK"))
        _ = try? h.channel.close().wait()
        #expect(h.transport.exchanges[0].cancelled)
        #expect(h.records.finished.count == 1)
        #expect(h.records.finished.first?.errorCode == .clientClosed)
        #expect(h.records.finished.first?.status == 200)
    }

    @Test("an upstream reset mid-stream cuts the client's stream and is accounted as upstream_stream_error")
    func upstreamReset() throws {
        let h = try Harness()
        try h.send(Harness.post(#"{"model":"m","stream":true,"messages":[]}"#))
        h.respond(0)
        _ = h.chunk(0, "data: {\"choices\":[]}\n\n")
        h.transport.sinks[0].upstreamFailed(.closedMidBody)
        #expect(!h.channel.isActive)
        #expect(h.records.finished.count == 1)
        #expect(h.records.finished.first?.errorCode == .upstreamStreamError)
        // Only one endpoint was asked: nothing is retried once the head went out.
        #expect(h.transport.heads.count == 1)
    }

    @Test("backpressure: a client that stops reading stops the upstream; writability resumes it")
    func backpressure() throws {
        let h = try Harness()
        try h.send(Harness.post(#"{"model":"m","stream":true,"messages":[]}"#))
        h.respond(0)
        #expect(h.chunk(0, "data: 1\n\n"))
        h.channel.isWritable = false
        #expect(!h.chunk(0, "data: 2\n\n"))
        #expect(h.transport.exchanges[0].resumed == 0)
        h.channel.isWritable = true
        h.channel.pipeline.fireChannelWritabilityChanged()
        #expect(h.transport.exchanges[0].resumed == 1)
        h.transport.sinks[0].upstreamEnd()
        let text = try h.output()
        #expect(text.contains("data: 1") && text.contains("data: 2"))
        #expect(h.records.finished.first?.errorCode == nil)
    }

    @Test("a cached stream is replayed with the same chunks, byte for byte, without an upstream; the hit is accounted with no endpoint's cost")
    func cacheReplay() throws {
        let h = try Harness(extra: "cache: {enabled: true}")
        let stream = #"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        try h.send(Harness.post(stream))
        h.respond(0)
        let pieces = ["data: {\"n\":1}\n\n", "data: {\"n\":2}\n\n", "data: {\"n\":3}\n\n", "data: [DONE]\n\n"]
        for piece in pieces { _ = h.chunk(0, piece) }
        h.transport.sinks[0].upstreamEnd()
        let first = try h.output()
        #expect(first.lowercased().contains("x-llmproxy-cache: miss"))
        try h.send(Harness.post(stream))
        // No second upstream exchange: the answer came from the cache.
        #expect(h.transport.sinks.count == 1)
        let second = try h.output()
        #expect(second.lowercased().contains("x-llmproxy-cache: hit"))
        // The chunked body (sizes and data) is the same, byte for byte.
        func body(_ text: String) -> String { text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n") }
        #expect(!body(first).isEmpty && body(first) == body(second), "\(first)\n---\n\(second)")
        #expect(body(second).hasPrefix(String(pieces[0].utf8.count, radix: 16) + "\r\n" + pieces[0]))
        #expect(h.records.finished.count == 2)
        let hit = h.records.finished[1]
        #expect(hit.cache == .hit && hit.endpoint == "cache" && hit.status == 200 && hit.attempts == 0)
    }
}
