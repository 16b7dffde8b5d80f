import Crypto
import Foundation
import PostgresHarness
import Testing

/// The encrypted tunnel against a gateway in this process and mock upstreams, spoken to by
/// clients written from the wire description (Support/TunnelWire.swift), not the gateway's code.
@Suite("Encrypted tunnel")
struct TunnelTests {
    static let keyHex = String(repeating: "0123456789abcdef", count: 4)
    static let key = SymmetricKey(data: (0..<32).map { index in UInt8(strtoul(String(Array(keyHex)[index * 2...index * 2 + 1]), nil, 16)) })
    static let otherKey = SymmetricKey(size: .bits256)

    static func yaml(_ upstream: MockUpstream, tunnel extra: String = "") -> String {
        """
        upstream:
          first_byte_timeout: 5
        providers:
          - name: oa
            type: openai
            base_url: \(upstream.baseURL)/v1
            api_key: \(upstream.requiredKey)
          - name: an
            type: anthropic
            base_url: \(upstream.baseURL)
            api_key: \(upstream.requiredKey)
        server:
          response_header_filter: provider_headers
        tunnel:
          enabled: true
          key: "\(keyHex)"
          read_timeout: 5
        \(extra)
        """
    }

    static let chat = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#

    /// One v1 exchange: the document out, half-close, the answer read to the end.
    static func v1(_ port: Int, _ document: [UInt8], halfClose: Bool = true) async throws -> [UInt8] {
        let connection = try await ByteConnection.connect(port: port)
        // A server that refuses at once (a blocked address) may have closed already: what it
        // answered, if anything, is the result.
        try? await connection.write(document)
        if halfClose { try? await connection.halfClose() }
        let answer = await connection.readToEnd()
        await connection.close()
        return answer
    }

    @Test("v1 (xllm wire): OpenAI and Anthropic requests answered through the tunnel, provider headers stripped, the configured key used")
    func v1Answers() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            let document = try XLLMWire.requestDocument(
                method: "POST", url: "\(upstream.baseURL)/v1/chat/completions",
                headers: ["content-type": "application/json", "authorization": "Bearer the-clients-own-provider-key"], body: Self.chat, key: Self.key)
            let answer = try await Self.v1(gateway.tunnelPort, document)
            let response = try #require(XLLMWire.response(answer, key: Self.key))
            #expect(response.status == 200)
            #expect(response.body.contains("hello from primary"))
            #expect(response.headers["openai-processing-ms"] == nil)
            #expect(response.headers["x-request-id"] != nil)
            // The provider's own key replaced the client's.
            #expect(upstream.received.last { $0.path == "/v1/chat/completions" }?.headers[.authorization] == "Bearer \(upstream.requiredKey)")

            // A client that does not half-close is answered once its document is whole.
            let messages = try XLLMWire.requestDocument(
                method: "POST", url: "\(upstream.baseURL)/v1/messages", headers: ["content-type": "application/json"],
                body: #"{"model":"claude-3-5-haiku","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#, key: Self.key)
            let second = try #require(XLLMWire.response(try await Self.v1(gateway.tunnelPort, messages, halfClose: false), key: Self.key))
            #expect(second.status == 200)
            #expect(second.json["type"] as? String == "message")
        }
    }

    @Test("v1 refusals: tampered, wrong key, truncated, oversized, disallowed host, user-info trick, private address — each an encrypted error, nothing sent upstream")
    func v1Refusals() async throws {
        let other = MockUpstream(name: "other", requiredKey: "other-key")
        try await other.start()
        defer { Task { await other.stop() } }
        try await withGateway(
            yaml: { Self.yaml($0["primary"]!, tunnel: "  max_document_bytes: 65536\n  allow_hosts: [\"127.0.0.1:\(other.port)\"]") }
        ) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            let url = "\(upstream.baseURL)/v1/chat/completions"
            func refusal(_ document: [UInt8], halfClose: Bool = true, key: SymmetricKey = Self.key) async throws -> XLLMWire.Response {
                let answer = try await Self.v1(gateway.tunnelPort, document, halfClose: halfClose)
                return try #require(XLLMWire.response(answer, key: key), "no encrypted answer: \(String(decoding: answer.prefix(200), as: UTF8.self))")
            }
            func code(_ response: XLLMWire.Response) -> String? { (response.json["error"] as? [String: Any])?["code"] as? String }

            // Tampered: one ciphertext byte flipped.
            var sealed = Array(try AES.GCM.seal(Array(#"{"method":"GET","url":"\#(url)","headers":{},"body":[]}"#.utf8), using: Self.key).combined!)
            sealed[20] ^= 0x01
            let tampered = try await refusal(try XLLMWire.document(sealedObject: sealed))
            #expect(tampered.status == 400)
            #expect(code(tampered) == "tunnel_decrypt_failed")

            // Another key: the server still answers (under its key), and the client cannot read it.
            let foreign = try XLLMWire.requestDocument(method: "POST", url: url, headers: [:], body: Self.chat, key: Self.otherKey)
            let foreignAnswer = try await Self.v1(gateway.tunnelPort, foreign)
            #expect(!foreignAnswer.isEmpty)
            #expect(XLLMWire.response(foreignAnswer, key: Self.otherKey) == nil)
            #expect(code(try #require(XLLMWire.response(foreignAnswer, key: Self.key))) == "tunnel_decrypt_failed")

            // Truncated: half a document, then the half-close.
            let whole = try XLLMWire.requestDocument(method: "POST", url: url, headers: [:], body: Self.chat, key: Self.key)
            let truncated = try await refusal(Array(whole.prefix(whole.count / 2)))
            #expect(truncated.status == 400)
            #expect(code(truncated) == "tunnel_protocol_error")

            // Oversized: past max_document_bytes.
            let big = try XLLMWire.requestDocument(method: "POST", url: url, headers: [:], body: String(repeating: "x", count: 40_000), key: Self.key)
            let oversized = try await refusal(big)
            #expect(oversized.status == 400)
            #expect(code(oversized) == "tunnel_protocol_error")

            // A host that is neither a provider nor allowed; the user-info trick; an allowed host on loopback.
            for (target, status, expected) in [
                ("https://example.com/v1/chat/completions", 403, "host_not_allowed"),
                ("http://127.0.0.1:\(upstream.port)@example.com/v1/chat/completions", 400, "invalid_request"),
                ("http://127.0.0.1:\(other.port)/v1/chat/completions", 403, "host_not_allowed"),
                ("http://169.254.169.254/latest/meta-data/", 403, "host_not_allowed"),
            ] {
                let document = try XLLMWire.requestDocument(method: "POST", url: target, headers: [:], body: Self.chat, key: Self.key)
                let answer = try await refusal(document)
                #expect(answer.status == status, "\(target)")
                #expect(code(answer) == expected, "\(target)")
            }
            #expect(upstream.received.filter { $0.path != "/v1/models" }.isEmpty)
            #expect(other.received.isEmpty)

            // Every refusal is counted, by who refused it.
            let metrics = try await TestHTTP.send(.GET, gateway.url + "/metrics")
            #expect(metrics.body.contains(#"llmproxy_rejections_total{guard="tunnel",reason=""#))
            #expect(metrics.body.contains(#"llmproxy_rejections_total{guard="tunnel_allowlist",reason=""#))
        }
    }

    @Test("the engine's guards apply to tunnel requests: past the per-address rate, a 429 with Retry-After in the request's dialect")
    func guardsApply() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) + "\nlimits:\n  ip: {requests_per_minute: 2, burst: 2}\n" }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            var statuses: [Int] = []
            var last: XLLMWire.Response?
            for _ in 0..<3 {
                let document = try XLLMWire.requestDocument(
                    method: "POST", url: "\(upstream.baseURL)/v1/messages", headers: ["content-type": "application/json"],
                    body: #"{"model":"claude-3-5-haiku","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#, key: Self.key)
                last = XLLMWire.response(try await Self.v1(gateway.tunnelPort, document), key: Self.key)
                statuses.append(last?.status ?? 0)
            }
            #expect(statuses == [200, 200, 429])
            #expect(last?.headers["retry-after"] != nil)
            #expect(last?.json["type"] as? String == "error", "Anthropic's error shape")
        }
    }

    @Test("v1: a document that stops arriving is answered with an encrypted error at the read timeout, not left open")
    func v1ReadTimeout() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!).replacingOccurrences(of: "read_timeout: 5", with: "read_timeout: 1") }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            let whole = try XLLMWire.requestDocument(
                method: "POST", url: "\(upstream.baseURL)/v1/chat/completions", headers: [:], body: Self.chat, key: Self.key)
            let connection = try await ByteConnection.connect(port: gateway.tunnelPort)
            try await connection.write(Array(whole.prefix(whole.count / 2)))
            let answer = await connection.readToEnd(timeout: .seconds(20))
            await connection.close()
            let response = try #require(XLLMWire.response(answer, key: Self.key))
            #expect(response.status == 400)
            #expect(((response.json["error"] as? [String: Any])?["message"] as? String)?.contains("did not arrive") == true)
        }
    }

    @Test("failed decryptions count as failed authentications: past the threshold the address is blocked and gets nothing more")
    func decryptFailuresBlock() async throws {
        try await withGateway(
            yaml: { Self.yaml($0["primary"]!) + "\nsecurity:\n  auto_block: {enabled: true, threshold: 5, block_seconds: 60}\n" }
        ) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            let foreign = try XLLMWire.requestDocument(
                method: "POST", url: "\(upstream.baseURL)/v1/chat/completions", headers: [:], body: Self.chat, key: Self.otherKey)
            var answered = 0
            for _ in 0..<12 {
                let answer = try await Self.v1(gateway.tunnelPort, foreign)
                if !answer.isEmpty { answered += 1 }
            }
            #expect(answered >= 5 && answered < 12, "answered \(answered) of 12")
            // Blocked now: even a valid request gets no answer.
            let valid = try XLLMWire.requestDocument(
                method: "POST", url: "\(upstream.baseURL)/v1/chat/completions", headers: [:], body: Self.chat, key: Self.key)
            #expect(try await Self.v1(gateway.tunnelPort, valid).isEmpty)
        }
    }

    @Test("v1: an allowed host that is no provider is reached with the client's own headers when private networks are allowed")
    func v1AllowedHost() async throws {
        let other = MockUpstream(name: "other", requiredKey: "other-key")
        try await other.start()
        defer { Task { await other.stop() } }
        try await withGateway(
            yaml: { Self.yaml($0["primary"]!, tunnel: "  allow_hosts: [\"127.0.0.1:\(other.port)\"]\n  allow_private_networks: true") }
        ) { gateway, _ in
            let document = try XLLMWire.requestDocument(
                method: "POST", url: "\(other.baseURL)/v1/chat/completions", headers: ["authorization": "Bearer other-key", "content-type": "application/json"],
                body: Self.chat, key: Self.key)
            let response = try #require(XLLMWire.response(try await Self.v1(gateway.tunnelPort, document), key: Self.key))
            #expect(response.status == 200)
            #expect(response.body.contains("hello from other"))
            #expect(other.received.last?.headers[.authorization] == "Bearer other-key")
        }
    }

    // MARK: v2

    /// A v2 connection that completed its handshake.
    struct V2Session {
        let connection: ByteConnection
        var wire: V2Wire
        var offset = 40

        static func open(port: Int, key: SymmetricKey = TunnelTests.key, timestamp: UInt64? = nil) async throws -> V2Session {
            let connection = try await ByteConnection.connect(port: port)
            var wire = V2Wire(key: key)
            let hello = wire.hello(timestamp: timestamp ?? UInt64(Date().timeIntervalSince1970 * 1000))
            try await connection.write(hello)
            let reply = try #require(await connection.waitFor(40))
            let accepted = wire.accept(serverHello: Array(reply.prefix(40)))
            #expect(accepted)
            return V2Session(connection: connection, wire: wire)
        }

        mutating func send(_ type: V2Wire.FrameType, stream: UInt32, payload: [UInt8]) async throws -> [UInt8] {
            let frame = wire.frame(type, stream: stream, payload: payload)
            try await connection.write(frame)
            return frame
        }

        /// Frames until `stop` holds for one (or the timeout, or the connection closing).
        mutating func frames(until stop: (V2Wire.Frame) -> Bool, timeout: Duration = .seconds(30)) async -> [V2Wire.Frame] {
            var collected: [V2Wire.Frame] = []
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                let bytes = connection.received
                if let (frames, next) = wire.frames(in: bytes, from: offset) {
                    offset = next
                    collected += frames
                    if frames.contains(where: stop) { return collected }
                }
                if connection.isClosed, connection.received.count == bytes.count { return collected }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return collected
        }
    }

    static func request(_ upstream: MockUpstream, model: String = "gpt-4o-mini", stream: Bool = false) -> [UInt8] {
        V2Wire.requestPayload(
            method: "POST", url: "\(upstream.baseURL)/v1/chat/completions", headers: [("content-type", "application/json")],
            body: #"{"model":"\#(model)","stream":\#(stream),"messages":[{"role":"user","content":"hi"}]}"#)
    }

    @Test("v2: many requests on one connection, answered as streams of head, body and end frames")
    func v2ManyRequests() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            var session = try await V2Session.open(port: gateway.tunnelPort)
            for stream in UInt32(1)...20 { _ = try await session.send(.request, stream: stream, payload: Self.request(upstream)) }
            var ended: Set<UInt32> = []
            var bodies: [UInt32: String] = [:]
            var statuses: [UInt32: Int] = [:]
            let frames = await session.frames { frame in
                if frame.type == V2Wire.FrameType.end.rawValue { ended.insert(frame.stream) }
                return ended.count == 20
            }
            for frame in frames {
                if frame.type == V2Wire.FrameType.head.rawValue { statuses[frame.stream] = frame.json["status"] as? Int }
                if frame.type == V2Wire.FrameType.body.rawValue { bodies[frame.stream, default: ""] += frame.text }
            }
            #expect(ended.count == 20)
            #expect(statuses.values.allSatisfy { $0 == 200 } && statuses.count == 20)
            #expect(bodies.values.allSatisfy { $0.contains("hello from primary") })
            // Then one more on the same connection.
            _ = try await session.send(.request, stream: 21, payload: Self.request(upstream))
            let more = await session.frames { $0.type == V2Wire.FrameType.end.rawValue && $0.stream == 21 }
            #expect(more.contains { $0.type == V2Wire.FrameType.end.rawValue })
            await session.connection.close()
        }
    }

    @Test("v2: a stream arrives as the upstream sends it, chunks well before the upstream finishes")
    func v2Streaming() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            var session = try await V2Session.open(port: gateway.tunnelPort)
            _ = try await session.send(.request, stream: 7, payload: Self.request(upstream, model: "stream-6-300", stream: true))
            var firstChunk: ContinuousClock.Instant?
            var text = ""
            let frames = await session.frames { frame in
                if frame.type == V2Wire.FrameType.body.rawValue {
                    if firstChunk == nil { firstChunk = .now }
                    text += frame.text
                }
                return frame.type == V2Wire.FrameType.end.rawValue
            }
            let end = ContinuousClock.now
            #expect(frames.last?.type == V2Wire.FrameType.end.rawValue)
            #expect(text.contains("part0") && text.contains("part5") && text.contains("[DONE]"))
            // Six chunks 300 ms apart: the first arrived at least a second before the end.
            let first = try #require(firstChunk)
            #expect(end - first > .milliseconds(1000))
            await session.connection.close()
        }
    }

    @Test("v2: a replayed frame and a replayed connection are refused; a stale hello too; nothing reaches the upstream")
    func v2Replay() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            var session = try await V2Session.open(port: gateway.tunnelPort)
            let hello = session.wire.clientHello
            let frame = try await session.send(.request, stream: 1, payload: Self.request(upstream))
            _ = await session.frames { $0.type == V2Wire.FrameType.end.rawValue }
            #expect(upstream.received.filter { $0.path != "/v1/models" }.count == 1)

            // The same frame again on the same connection: refused, connection closed.
            try await session.connection.write(frame)
            let refused = await session.frames { $0.type == V2Wire.FrameType.error.rawValue }
            let found = refused.first(where: { $0.type == V2Wire.FrameType.error.rawValue })
            let error = try #require(found)
            let errorCode = error.json["code"] as? String
            #expect(error.stream == 0)
            #expect(errorCode == "tunnel_decrypt_failed")
            let refusedConnection = session.connection
            let closed = await eventually { refusedConnection.isClosed }
            #expect(closed)

            // The whole captured opening and frame on a new connection.
            let replay = try await ByteConnection.connect(port: gateway.tunnelPort)
            try await replay.write(hello + frame)
            var replayWire = V2Wire(key: Self.key)
            replayWire.clientHello = hello
            let bytes = await replay.readToEnd()
            let accepted = replayWire.accept(serverHello: Array(bytes.prefix(40)))
            #expect(accepted)
            let replayFrames = replayWire.frames(in: bytes, from: 40)?.frames ?? []
            let replayCode = replayFrames.first?.json["code"] as? String
            #expect(replayCode == "tunnel_replay")
            await replay.close()

            // A hello from ten minutes ago.
            var stale = try await V2Session.open(port: gateway.tunnelPort, timestamp: UInt64(Date().timeIntervalSince1970 * 1000) - 600_000)
            let staleFrames = await stale.frames { $0.type == V2Wire.FrameType.error.rawValue }
            let staleCode = staleFrames.first?.json["code"] as? String
            #expect(staleCode == "tunnel_replay")
            await stale.connection.close()
            #expect(upstream.received.filter { $0.path != "/v1/models" }.count == 1)
        }
    }

    @Test("v2: a client that disappears, or cancels, stops its upstream request")
    func v2Cancellation() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            var session = try await V2Session.open(port: gateway.tunnelPort)
            _ = try await session.send(.request, stream: 1, payload: Self.request(upstream, model: "long-stream", stream: true))
            _ = await session.frames { $0.type == V2Wire.FrameType.body.rawValue }
            _ = try await session.send(.cancel, stream: 1, payload: [])
            #expect(await eventually(timeout: .seconds(10)) { upstream.closedEarly >= 1 })

            var second = try await V2Session.open(port: gateway.tunnelPort)
            _ = try await second.send(.request, stream: 1, payload: Self.request(upstream, model: "long-stream", stream: true))
            _ = await second.frames { $0.type == V2Wire.FrameType.body.rawValue }
            await second.connection.close()
            #expect(await eventually(timeout: .seconds(10)) { upstream.closedEarly >= 2 })
            await session.connection.close()
        }
    }
}

/// The tunnel as users run it: `llm-proxy tunnel serve` and `llm-proxy tunnel client` as
/// processes, the official OpenAI SDK in front.
@Suite("Encrypted tunnel, processes")
struct TunnelProcessTests {
    @Test("the OpenAI SDK through tunnel client → tunnel serve → upstream, streamed and not; a refused request logged with its reason")
    func sdkThroughTunnel() async throws {
        let upstream = MockUpstream(name: "primary", requiredKey: "upstream-key-primary")
        try await upstream.start()
        let directory = NSTemporaryDirectory() + "llmproxy-tunnel-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let keyFile = directory + "/tunnel.key"
        try (TunnelTests.keyHex + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        let config = directory + "/llmproxy.yaml"
        try """
        providers:
          - name: oa
            type: openai
            base_url: \(upstream.baseURL)/v1
            api_key: \(upstream.requiredKey)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try await GatewayProcess.launch(
            command: ["tunnel", "serve", "-c", config, "--host", "127.0.0.1", "--port", "0", "--key-file", keyFile], config: config, scheme: "tcp")
        let client = try await GatewayProcess.launch(
            command: ["tunnel", "client", "--listen", "127.0.0.1:0", "--server", "127.0.0.1:\(server.port)", "--key-file", keyFile, "--upstream", upstream.baseURL],
            config: nil)
        let script = """
            import sys, openai
            client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-the-sdk-users-own-key", max_retries=0)
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "hello from primary", reply
            assert reply.usage.total_tokens == 8, reply.usage
            parts = [c.choices[0].delta.content for c in client.chat.completions.create(
                model="stream-4-50", messages=[{"role": "user", "content": "hi"}], stream=True) if c.choices and c.choices[0].delta.content]
            assert "".join(parts) == "part0 part1 part2 part3 ", parts
            try:
                client.chat.completions.create(model="fail-500", messages=[{"role": "user", "content": "hi"}])
                raise SystemExit("the upstream's 500 did not reach the SDK")
            except openai.InternalServerError:
                pass
            print("ok")
            """
        do {
            try await PostgresServer.runAside("/usr/bin/env", ["python3", "-c", script, client.url + "/v1"])
            let chats = upstream.received.filter { $0.path == "/v1/chat/completions" }
            #expect(chats.count == 3)
            // The provider's configured key went upstream, not the SDK's.
            #expect(chats.allSatisfy { $0.headers[.authorization] == "Bearer \(upstream.requiredKey)" })

            // A document sealed with another key: refused, and the server says why.
            let foreign = try XLLMWire.requestDocument(
                method: "POST", url: "\(upstream.baseURL)/v1/chat/completions", headers: [:], body: TunnelTests.chat, key: TunnelTests.otherKey)
            let answer = try await TunnelTests.v1(server.port, foreign)
            #expect(XLLMWire.response(answer, key: TunnelTests.key)?.status == 400)
            #expect(await eventually { server.log.contains("tunnel request refused") && server.log.contains("decryption failed") })
            // Each request has its line in the request log, routed by the tunnel.
            #expect(await eventually { server.log.components(separatedBy: #""route":"tunnel""#).count - 1 >= 4 })
            #expect(!server.log.contains("sk-the-sdk-users-own-key") && !client.log.contains("sk-the-sdk-users-own-key"))
            #expect(!server.log.contains(TunnelTests.keyHex))
        } catch {
            await client.stop()
            await server.stop()
            await upstream.stop()
            throw error
        }
        await client.stop()
        await server.stop()
        await upstream.stop()
    }
}
