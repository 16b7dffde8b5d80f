import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@Suite("Streaming and cancellation")
struct StreamingTests {
    @Test("SSE chunks reach the client while the upstream is still streaming")
    func chunksArriveBeforeUpstreamFinishes() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            var request = HTTPClientRequest(url: "\(gateway.url)/v1/chat/completions")
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer \(Configs.clientKey)")
            request.body = .bytes(ByteBuffer(string: #"{"model":"stream-4-400","stream":true,"messages":[]}"#))
            let response = try await TestHTTP.client.execute(request, timeout: .seconds(30))
            #expect(response.status.code == 200)
            #expect(response.headers["content-type"].first == "text/event-stream")
            var chunks: [String] = []
            var finishedWhenFirstChunkArrived: Int?
            for try await buffer in response.body {
                if chunks.isEmpty { finishedWhenFirstChunkArrived = upstream.streamsFinished }
                chunks.append(String(buffer: buffer))
            }
            // The upstream needs 1.6 s for its stream; the first chunk came while it was running.
            #expect(finishedWhenFirstChunkArrived == 0)
            #expect(chunks.count >= 4)
            #expect(chunks.joined().hasSuffix("data: [DONE]\n\n"))
            #expect(upstream.streamsFinished == 1)
        }
    }

    @Test("a client that disconnects mid-stream cancels its upstream request at once, even between chunks")
    func disconnectCancelsUpstream() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            // One chunk, then a minute of silence: only an active cancel closes the upstream early.
            let reader = Task {
                var request = HTTPClientRequest(url: "\(gateway.url)/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "authorization", value: "Bearer \(Configs.clientKey)")
                request.body = .bytes(ByteBuffer(string: #"{"model":"stream-3-60000","stream":true,"messages":[]}"#))
                let response = try await TestHTTP.client.execute(request, timeout: .seconds(30))
                for try await _ in response.body { return }
            }
            try await reader.value
            #expect(await eventually(timeout: .seconds(20)) { upstream.streamsStarted == 1 })
            // Leaving the body unread and dropping the response closes the client connection.
            // (Prompt on an idle machine; the generous wait is for a loaded one.)
            let closed = await eventually(timeout: .seconds(20)) { upstream.closedEarly >= 1 }
            #expect(closed, "the gateway should close the upstream connection as soon as the client goes away")
            #expect(upstream.streamsFinished == 0)
        }
    }

    @Test("a client that gives up before the response head cancels the upstream request")
    func disconnectBeforeHead() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, firstByteTimeout: 120) }) { gateway, upstreams in
            let upstream = upstreams["primary"]!
            let request = Task {
                var request = HTTPClientRequest(url: "\(gateway.url)/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "authorization", value: "Bearer \(Configs.clientKey)")
                request.body = .bytes(ByteBuffer(string: #"{"model":"held","messages":[]}"#))
                _ = try await TestHTTP.client.execute(request, timeout: .seconds(30))
            }
            #expect(await eventually(timeout: .seconds(20)) { upstream.received.contains { $0.body.contains(#""held""#) } })
            request.cancel()
            _ = try? await request.value
            // The upstream holds its answer for 60 s and the first-byte timeout is 120 s: a close
            // within 20 s can only be the cancel.
            #expect(await eventually(timeout: .seconds(20)) { upstream.closedEarly >= 1 })
        }
    }
}

@Suite("Idle timeout")
struct IdleTimeoutTests {
    @Test("an upstream that goes silent mid-stream for longer than the idle timeout is cut off")
    func idleStream() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, idleTimeout: 0.5) }) { gateway, upstreams in
            var request = HTTPClientRequest(url: "\(gateway.url)/v1/chat/completions")
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer \(Configs.clientKey)")
            request.body = .bytes(ByteBuffer(string: #"{"model":"stream-3-30000","stream":true,"messages":[]}"#))
            let started = ContinuousClock.now
            let response = try await TestHTTP.client.execute(request, timeout: .seconds(30))
            var received = ""
            do {
                for try await buffer in response.body { received += String(buffer: buffer) }
            } catch {
                // the cut shows as an incomplete body
            }
            #expect(received.contains("part0"))
            // Cut during the 30-second silence after the first chunk: the second never arrives.
            #expect(!received.contains("part1"))
            #expect(!received.contains("[DONE]"))
            #expect(ContinuousClock.now - started < .seconds(25))
            #expect(await eventually(timeout: .seconds(20)) { upstreams["primary"]!.closedEarly >= 1 })
        }
    }
}
