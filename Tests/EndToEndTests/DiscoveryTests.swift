import Foundation
import Testing

@Suite("Local engine discovery")
struct DiscoveryTests {
    @Test("a local Ollama is found at start; its models route by name and by ollama/model; it shows in /health")
    func ollamaAtStart() async throws {
        let ollama = MockUpstream(name: "ollama", requiredKey: "")
        try await ollama.start()
        let dead = try RefusingPort()
        let gateway = try await GatewayHarness.start(
            yaml: """
                discovery:
                  local_engines: true
                  interval: 0.5
                  ollama_url: "\(ollama.baseURL)"
                  vllm_url: "\(dead.baseURL)"
                  lmstudio_url: "\(dead.baseURL)"
                  llamacpp_url: "\(dead.baseURL)"
                """)
        // Found at start — or, on a machine so loaded that the first probe outran its 2 s, by
        // the next round.
        var found = false
        for _ in 0..<100 where !found {
            found = try await TestHTTP.send(.GET, "\(gateway.url)/health").body.contains("ollama-default")
            if !found { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(found)
        let byName = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"ollama-tag:latest","messages":[]}"#)
        #expect(byName.status == 200)
        #expect(byName.headers["x-upstream-name"].first == "ollama")
        let scoped = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"ollama/llama3.2","messages":[]}"#)
        #expect(scoped.status == 200)
        // The last chat request (discovery polls /api/tags in the background meanwhile).
        let chat = ollama.received.last { $0.path.hasSuffix("/chat/completions") }
        #expect(chat?.body == #"{"model":"llama3.2","messages":[]}"#)
        #expect(chat?.headers[.authorization] == nil)
        let health = try await TestHTTP.send(.GET, "\(gateway.url)/health")
        let names = (health.json["upstreams"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(names == ["ollama-default"])
        // The engine's own model list is fetched by the model refresh after discovery: on a
        // loaded machine, a moment later.
        var listed = ""
        for _ in 0..<300 where !listed.contains("ollama-model") {
            listed = try await TestHTTP.send(.GET, "\(gateway.url)/v1/models").body
            if !listed.contains("ollama-model") { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(listed.contains("ollama-model"), "\(listed)")
        await gateway.stop()
        await ollama.stop()
        withExtendedLifetime(dead) {}
    }

    @Test("an engine that starts after the gateway is found by the periodic discovery")
    func engineAppearsLater() async throws {
        // The engine's port is held from the start, closing every connection until the
        // engine "starts": no other server can take the port meanwhile.
        let vllm = MockUpstream(name: "vllm", requiredKey: "")
        try await vllm.start()
        await vllm.closeConnectionsAtAccept(true)
        let dead = try RefusingPort()
        let gateway = try await GatewayHarness.start(
            yaml: """
                discovery:
                  local_engines: true
                  interval: 0.2
                  ollama_url: "\(dead.baseURL)"
                  vllm_url: "\(vllm.baseURL)"
                  lmstudio_url: "\(dead.baseURL)"
                  llamacpp_url: "\(dead.baseURL)"
                """)
        let before = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"vllm-model","messages":[]}"#)
        #expect(before.status == 404)
        await vllm.closeConnectionsAtAccept(false)
        var status = 0
        for _ in 0..<100 {
            status = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"vllm-model","messages":[]}"#).status
            if status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(status == 200)
        await gateway.stop()
        await vllm.stop()
        withExtendedLifetime(dead) {}
    }
}
