import Foundation
import Testing

@Suite("API surfaces through the gateway")
struct SurfaceTests {
    @Test("OpenAI chat, completions and embeddings reach the OpenAI upstream and come back intact")
    func openAISurfaces() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, upstreams in
            let chat = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth,
                body: #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(chat.status == 200)
            #expect(chat.body.contains("hello from primary"))
            #expect(chat.headers["x-upstream-name"].first == "primary")

            let completion = try await TestHTTP.send(.POST, "\(gateway.url)/v1/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","prompt":"hi"}"#)
            #expect(completion.status == 200)
            #expect(completion.json["object"] as? String == "text_completion")

            let embedding = try await TestHTTP.send(.POST, "\(gateway.url)/v1/embeddings", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","input":"hi"}"#)
            #expect(embedding.status == 200)
            #expect(embedding.body.contains("0.1,0.2"))
            let paths = upstreams["primary"]!.received.map(\.path)
            #expect(paths.contains("/v1/chat/completions") && paths.contains("/v1/completions") && paths.contains("/v1/embeddings"))
        }
    }

    @Test("other /v1 paths pass through with their method and query string")
    func passthrough() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "routing:\n  default_provider: oa") }) { gateway, upstreams in
            let files = try await TestHTTP.send(.GET, "\(gateway.url)/v1/files?purpose=batch&limit=2", headers: Configs.auth)
            #expect(files.status == 200)
            #expect(files.json["query"] as? String == "purpose=batch&limit=2")
            let last = upstreams["primary"]!.received.last
            #expect(last?.method == "GET")
            #expect(last?.path == "/v1/files")
        }
    }

    @Test("GET /v1/models is the de-duplicated union of every upstream's list, each tagged with its provider")
    func modelsUnion() async throws {
        try await withGateway(
            upstreams: ["primary", "second"],
            yaml: { ups in
                """
                auth: {keys: ["\(Configs.clientKey)"]}
                providers:
                  - {name: one, type: openai, base_url: "\(ups["primary"]!.baseURL)/v1", api_key: \(ups["primary"]!.requiredKey)}
                  - {name: two, type: openai, base_url: "\(ups["second"]!.baseURL)/v1", api_key: \(ups["second"]!.requiredKey)}
                  - {name: dead, type: openai, base_url: "http://127.0.0.1:1/v1", api_key: whatever-key}
                """
            }
        ) { gateway, _ in
            let response = try await TestHTTP.send(.GET, "\(gateway.url)/v1/models", headers: Configs.auth)
            #expect(response.status == 200)
            let data = response.json["data"] as? [[String: Any]] ?? []
            let ids = data.compactMap { $0["id"] as? String }
            #expect(Set(ids) == ["primary-model", "second-model", "shared-model"])
            #expect(ids.count == 3)
            #expect(data.first { $0["id"] as? String == "primary-model" }?["owned_by"] as? String == "one")
            // The failing upstream is skipped here and reported in /health (to a client with a key).
            let health = try await TestHTTP.send(.GET, "\(gateway.url)/health", headers: Configs.auth)
            let upstreams = health.json["upstreams"] as? [[String: Any]] ?? []
            let dead = upstreams.first { $0["name"] as? String == "dead" }
            #expect(dead?["models_error"] is String)
        }
    }

    @Test("Anthropic messages and count_tokens reach the Anthropic upstream in its own format")
    func anthropicSurfaces() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, upstreams in
            let headers = [("x-api-key", Configs.clientKey), ("anthropic-version", "2023-06-01")]
            let message = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/messages", headers: headers,
                body: #"{"model":"claude-3-5-haiku-latest","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#)
            #expect(message.status == 200)
            #expect(message.json["type"] as? String == "message")
            let count = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/messages/count_tokens", headers: headers,
                body: #"{"model":"claude-3-5-haiku-latest","messages":[]}"#)
            #expect(count.json["input_tokens"] as? Int == 7)
            let received = upstreams["primary"]!.received.filter { $0.path.hasPrefix("/v1/messages") }
            #expect(received.count == 2)
            #expect(received.allSatisfy { $0.headers[values: .init("anthropic-version")!] == ["2023-06-01"] })
        }
    }

    @Test("Gemini generateContent, streamGenerateContent (SSE and JSON array), countTokens, embedContent and models")
    func geminiSurfaces() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, _ in
            let headers = [("x-goog-api-key", Configs.clientKey)]
            let base = "\(gateway.url)/v1beta/models/gemini-2.0-flash"
            let generate = try await TestHTTP.send(.POST, "\(base):generateContent", headers: headers, body: #"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
            #expect(generate.status == 200)
            #expect(generate.body.contains("hello from primary"))

            let sse = try await TestHTTP.send(.POST, "\(base):streamGenerateContent?alt=sse", headers: headers, body: #"{"contents":[]}"#)
            #expect(sse.status == 200)
            #expect(sse.headers["content-type"].first == "text/event-stream")
            // Three chunks and Gemini's last one with the finish reason.
            #expect(sse.body.components(separatedBy: "data: ").count == 5)
            #expect(sse.body.contains(#""finishReason":"STOP""#))

            let array = try await TestHTTP.send(.POST, "\(base):streamGenerateContent", headers: headers, body: #"{"contents":[]}"#)
            let parsed = try JSONSerialization.jsonObject(with: Data(array.body.utf8)) as? [Any]
            #expect(parsed?.count == 4)

            let tokens = try await TestHTTP.send(.POST, "\(base):countTokens?key=\(Configs.clientKey)", body: #"{"contents":[]}"#)
            #expect(tokens.json["totalTokens"] as? Int == 9)

            let embed = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1beta/models/gemini-embedding-001:embedContent", headers: headers, body: #"{"content":{"parts":[{"text":"hi"}]}}"#)
            #expect(embed.body.contains("0.25"))

            let models = try await TestHTTP.send(.GET, "\(gateway.url)/v1beta/models", headers: headers)
            #expect(models.status == 200)
            #expect(models.body.contains("models/primary-gemini"))
        }
    }

    @Test("the mock provider answers every dialect without a network")
    func mockProvider() async throws {
        try await withGateway(
            upstreams: [],
            yaml: { _ in
                """
                providers:
                  - {name: demo, type: mock, mock: {chunks: 3, chunk_delay_ms: 1}}
                """
            }
        ) { gateway, _ in
            let chat = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"anything","messages":[]}"#)
            #expect(chat.status == 200)
            #expect((chat.json["usage"] as? [String: Any])?["total_tokens"] is Int)
            let stream = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"anything","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#)
            #expect(stream.body.hasSuffix("data: [DONE]\n\n"))
            #expect(stream.body.contains(#""usage":{"#))
            let message = try await TestHTTP.send(.POST, "\(gateway.url)/v1/messages", body: #"{"model":"claude-x","stream":true,"max_tokens":5,"messages":[]}"#)
            #expect(message.body.contains("event: message_stop"))
            let gemini = try await TestHTTP.send(.POST, "\(gateway.url)/v1beta/models/gemini-x:generateContent", body: #"{"contents":[]}"#)
            #expect(gemini.body.contains(#""finishReason":"STOP""#))
            let models = try await TestHTTP.send(.GET, "\(gateway.url)/v1/models")
            #expect(models.body.contains("mock-model"))
        }
    }
}
