import Foundation
import Testing

@Suite("Upstream keys are injected and client keys never leave the gateway")
struct KeySwapTests {
    @Test("every dialect gets its provider's key in its own header; no client key reaches an upstream")
    func keySwap() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, upstreams in
            let key = Configs.clientKey
            let placements: [(headers: [(String, String)], query: String)] = [
                ([("Authorization", "Bearer \(key)")], ""),
                ([("x-api-key", key)], ""),
                ([("x-goog-api-key", key)], ""),
                ([], "?key=\(key)"),
            ]
            for placement in placements {
                let chat = try await TestHTTP.send(
                    .POST, "\(gateway.url)/v1/chat/completions\(placement.query)", headers: placement.headers, body: #"{"model":"gpt-4o-mini","messages":[]}"#)
                #expect(chat.status == 200)
                let message = try await TestHTTP.send(
                    .POST, "\(gateway.url)/v1/messages\(placement.query)", headers: placement.headers, body: #"{"model":"claude-3-haiku","max_tokens":1,"messages":[]}"#)
                #expect(message.status == 200)
                let gemini = try await TestHTTP.send(
                    .POST, "\(gateway.url)/v1beta/models/gemini-2.0-flash:generateContent\(placement.query.isEmpty ? "?alt=json" : placement.query + "&alt=json")",
                    headers: placement.headers, body: #"{"contents":[]}"#)
                #expect(gemini.status == 200)
            }
            let received = upstreams["primary"]!.received.filter { $0.path != "/v1/models" && $0.path != "/v1beta/models" }
            #expect(received.count == 12)
            for request in received {
                for field in request.headers { #expect(!field.value.contains(key), "client key leaked in \(field.name)") }
                #expect(!(request.query ?? "").contains(key))
            }
            let upstreamKey = upstreams["primary"]!.requiredKey
            #expect(received.filter { $0.path == "/v1/chat/completions" }.allSatisfy { $0.headers[.authorization] == "Bearer \(upstreamKey)" })
            #expect(received.filter { $0.path == "/v1/messages" }.allSatisfy { $0.headers[.init("x-api-key")!] == upstreamKey && $0.headers[.authorization] == nil })
            #expect(received.filter { $0.path.hasPrefix("/v1beta") }.allSatisfy { $0.headers[.init("x-goog-api-key")!] == upstreamKey && $0.query == "alt=json" })
        }
    }

    @Test("without client keys configured, a key the client sends is still never forwarded")
    func openGatewayDropsClientKey() async throws {
        try await withGateway(yaml: { ups in
            """
            providers:
              - {name: oa, type: openai, base_url: "\(ups["primary"]!.baseURL)/v1", api_key: \(ups["primary"]!.requiredKey)}
            """
        }) { gateway, upstreams in
            let response = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", headers: [("x-api-key", "sk-client-secret-value")], body: #"{"model":"gpt-4o","messages":[]}"#)
            #expect(response.status == 200)
            let last = upstreams["primary"]!.received.last { $0.path == "/v1/chat/completions" }
            #expect(last?.headers[.init("x-api-key")!] == nil)
            #expect(last?.headers[.authorization] == "Bearer \(upstreams["primary"]!.requiredKey)")
        }
    }
}
