import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

/// Plain-HTTP upstreams go through the lean connection pool by default; with
/// `upstream.fast_path: false` they go through AsyncHTTPClient. Both paths stay tested.
@Suite("Both upstream clients")
struct ClientPathTests {
    static func yaml(_ upstream: MockUpstream, fastPath: Bool) -> String {
        Configs.threeProviders(upstream).replacingOccurrences(of: "upstream:\n", with: "upstream:\n  fast_path: \(fastPath)\n")
    }

    @Test("chat, streaming, keep-alive reuse, upstream 5xx and first-byte timeout", arguments: [true, false])
    func clientPath(fastPath: Bool) async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!, fastPath: fastPath) }) { gateway, upstreams in
            for _ in 0..<20 {
                let chat = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#)
                #expect(chat.status == 200)
                #expect(chat.body.contains("hello from primary"))
            }
            let stream = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"stream-5-10","stream":true,"messages":[]}"#)
            #expect(stream.body.components(separatedBy: "part").count == 6)
            #expect(stream.body.hasSuffix("data: [DONE]\n\n"))
            let failed = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"fail-500","messages":[]}"#)
            #expect(failed.status == 500)
            let slow = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"slow-head","messages":[]}"#)
            #expect(slow.status == 504)
            // After a timeout the next request still works (a fresh connection replaces the cut one).
            let after = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            #expect(after.status == 200)
            // The request reaches the upstream whole, with its upstream key.
            let last = upstreams["primary"]!.received.last { $0.path == "/v1/chat/completions" }
            #expect(last?.body == #"{"model":"gpt-4o-mini","messages":[]}"#)
            #expect(last?.headers[.authorization] == "Bearer \(upstreams["primary"]!.requiredKey)")
        }
    }

    @Test("a keep-alive connection the upstream closed while idle is replaced without an error")
    func staleKeepAlive() async throws {
        let upstream = MockUpstream(name: "restarting", requiredKey: "upstream-key-restarting")
        try await upstream.start()
        let port = upstream.port
        let gateway = try await GatewayHarness.start(yaml: """
            providers: [{name: r, type: openai, base_url: "\(upstream.baseURL)/v1", api_key: upstream-key-restarting, models: [m], discover_models: false}]
            """)
        let first = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"m","messages":[]}"#)
        #expect(first.status == 200)
        // The upstream restarts: the gateway's pooled connection is now dead.
        await upstream.stop()
        let restarted = MockUpstream(name: "restarting", requiredKey: "upstream-key-restarting")
        try await restarted.start(port: port)
        let second = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"m","messages":[]}"#)
        #expect(second.status == 200)
        await gateway.stop()
        await restarted.stop()
    }
}
