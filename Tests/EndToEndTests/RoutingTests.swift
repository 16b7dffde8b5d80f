import Foundation
import HTTPTypes
import Testing

@Suite("Routing over live upstreams")
struct RoutingTests {
    static func twoUpstreams(_ ups: [String: MockUpstream], extra: String = "") -> String {
        let a = ups["alpha"]!, b = ups["beta"]!
        return """
            providers:
              - {name: a, type: openai, base_url: "\(a.baseURL)/v1", api_key: \(a.requiredKey), host: "a.example.com", models: ["exact-a"]}
              - {name: b, type: openai, base_url: "\(b.baseURL)/v1", api_key: \(b.requiredKey), host: "b.example.com/beta", models: ["team-*"]}
            routing:
              aliases: {fast: exact-a}
            \(extra)
            """
    }

    func chat(_ gateway: GatewayHarness, model: String, path: String = "/v1/chat/completions", host: String? = nil) async throws -> TestResponse {
        var headers: [(String, String)] = []
        if let host { headers.append(("Host", host)) }
        return try await TestHTTP.send(.POST, gateway.url + path, headers: headers, body: #"{"model":"\#(model)","messages":[]}"#)
    }

    @Test("the Host header routes to its provider; a name/prefix host also needs and strips the prefix")
    func hostRouting() async throws {
        try await withGateway(upstreams: ["alpha", "beta"], yaml: { Self.twoUpstreams($0) }) { gateway, ups in
            let toA = try await chat(gateway, model: "team-x", host: "a.example.com")
            #expect(toA.headers["x-upstream-name"].first == "alpha")
            let toB = try await chat(gateway, model: "exact-a", path: "/beta/v1/chat/completions", host: "b.example.com:8080")
            #expect(toB.status == 200)
            #expect(toB.headers["x-upstream-name"].first == "beta")
            #expect(ups["beta"]!.received.last?.path == "/v1/chat/completions")
            // Without the prefix, b.example.com is not host-routed: the model decides.
            let byModel = try await chat(gateway, model: "exact-a", host: "b.example.com")
            #expect(byModel.headers["x-upstream-name"].first == "alpha")
        }
    }

    @Test("models route by exact name, alias (rewritten upstream), glob, learnt list and provider/model")
    func modelRouting() async throws {
        try await withGateway(upstreams: ["alpha", "beta"], yaml: { Self.twoUpstreams($0) }) { gateway, ups in
            #expect(try await chat(gateway, model: "exact-a").headers["x-upstream-name"].first == "alpha")
            #expect(try await chat(gateway, model: "team-42").headers["x-upstream-name"].first == "beta")
            #expect(try await chat(gateway, model: "beta-model").headers["x-upstream-name"].first == "beta")

            let alias = try await chat(gateway, model: "fast")
            #expect(alias.headers["x-upstream-name"].first == "alpha")
            #expect(ups["alpha"]!.received.last?.body == #"{"model":"exact-a","messages":[]}"#)

            let scoped = try await chat(gateway, model: "b/custom-model")
            #expect(scoped.headers["x-upstream-name"].first == "beta")
            #expect(ups["beta"]!.received.last?.body == #"{"model":"custom-model","messages":[]}"#)
            let flm = try await chat(gateway, model: "flm://a/other")
            #expect(flm.headers["x-upstream-name"].first == "alpha")
        }
    }

    @Test("an unknown model is a 404 model_not_found in the client's dialect")
    func unknownModel() async throws {
        try await withGateway(upstreams: ["alpha", "beta"], yaml: { Self.twoUpstreams($0) }) { gateway, _ in
            let openai = try await chat(gateway, model: "no-such-model")
            #expect(openai.status == 404)
            #expect((openai.json["error"] as? [String: Any])?["code"] as? String == "model_not_found")
            let anthropic = try await TestHTTP.send(.POST, "\(gateway.url)/v1/messages", body: #"{"model":"no-such-model","max_tokens":1,"messages":[]}"#)
            #expect(anthropic.status == 404)
            #expect((anthropic.json["error"] as? [String: Any])?["type"] as? String == "not_found_error")
            let gemini = try await TestHTTP.send(.POST, "\(gateway.url)/v1beta/models/no-such-model:generateContent", body: "{}")
            #expect(gemini.status == 404)
            #expect((gemini.json["error"] as? [String: Any])?["status"] as? String == "NOT_FOUND")
        }
    }

    @Test("a default model catches names no rule matches")
    func defaultModel() async throws {
        try await withGateway(upstreams: ["alpha", "beta"], yaml: { Self.twoUpstreams($0, extra: "  default_model: team-default") }) { gateway, _ in
            let response = try await chat(gateway, model: "unheard-of")
            #expect(response.headers["x-upstream-name"].first == "beta")
        }
    }

    @Test("providers serving the same model share its traffic by weight")
    func weightedBalancing() async throws {
        try await withGateway(
            upstreams: ["alpha", "beta"],
            yaml: { ups in
                """
                providers:
                  - {name: a, type: openai, base_url: "\(ups["alpha"]!.baseURL)/v1", api_key: \(ups["alpha"]!.requiredKey), models: [w], weight: 1}
                  - {name: b, type: openai, base_url: "\(ups["beta"]!.baseURL)/v1", api_key: \(ups["beta"]!.requiredKey), models: [w], weight: 3}
                """
            }
        ) { gateway, _ in
            var beta = 0
            let total = 400
            for _ in 0..<total where try await chat(gateway, model: "w").headers["x-upstream-name"].first == "beta" { beta += 1 }
            // Expected 300 of 400; ±60 is more than 6 standard deviations (σ ≈ 8.7).
            #expect((240...360).contains(beta), "beta served \(beta) of \(total)")
        }
    }

    @Test("several upstream keys of one provider are each their own weighted endpoint")
    func weightedKeys() async throws {
        try await withGateway(
            upstreams: ["alpha"],
            yaml: { ups in
                """
                providers:
                  - name: a
                    type: openai
                    base_url: "\(ups["alpha"]!.baseURL)/v1"
                    models: [k]
                    api_keys:
                      - {key: \(ups["alpha"]!.requiredKey), weight: 1}
                      - {key: second-upstream-key, weight: 1}
                """
            }
        ) { gateway, ups in
            for _ in 0..<60 { _ = try await chat(gateway, model: "k") }
            let keys = ups["alpha"]!.received.filter { $0.path == "/v1/chat/completions" }.compactMap { $0.headers[.authorization] }
            let first = keys.filter { $0 == "Bearer \(ups["alpha"]!.requiredKey)" }.count
            #expect(keys.count == 60)
            #expect(first > 10 && first < 50, "first key used \(first) of 60 times")
        }
    }

    @Test("an OpenAI-dialect request for a Claude or Gemini model is translated to that provider's own API, answered in the OpenAI shape")
    func crossProviderTranslated() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, ups in
            let body = #"{"model":"claude-3-5-sonnet","messages":[{"role":"user","content":"hi"}]}"#
            let claude = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: body)
            #expect(claude.status == 200)
            #expect(claude.body.contains(#""object":"chat.completion""#), "\(claude.body)")
            let sent = ups["primary"]!.received.last
            #expect(sent?.path == "/v1/messages")
            #expect(sent?.headers[HTTPField.Name("x-api-key")!] == ups["primary"]!.requiredKey)
            #expect(sent?.body.contains(#""max_tokens":4096"#) == true)
            let gemini = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(gemini.status == 200)
            #expect(gemini.body.contains(#""object":"chat.completion""#), "\(gemini.body)")
            #expect(ups["primary"]!.received.last?.path == "/v1beta/models/gemini-2.0-flash:generateContent")
            #expect(ups["primary"]!.received.last?.headers[HTTPField.Name("x-goog-api-key")!] == ups["primary"]!.requiredKey)
        }
    }

    @Test("openai_compatible: true sends OpenAI clients to the provider's OpenAI-compatible endpoint untranslated")
    func crossProviderOpenAICompat() async throws {
        try await withGateway(yaml: {
            Configs.threeProviders($0["primary"]!).replacingOccurrences(of: "type: anthropic\n", with: "type: anthropic\n    openai_compatible: true\n")
                .replacingOccurrences(of: "type: gemini\n", with: "type: gemini\n    openai_compatible: true\n")
        }) { gateway, ups in
            let claude = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"claude-3-5-sonnet","messages":[]}"#)
            #expect(claude.status == 200)
            #expect(ups["primary"]!.received.last?.path == "/v1/chat/completions")
            let gemini = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gemini-2.0-flash","messages":[]}"#)
            _ = gemini // the mock has no OpenAI-compatible Gemini route; the path proves where it went
            #expect(ups["primary"]!.received.last?.path == "/v1beta/openai/chat/completions")
            #expect(ups["primary"]!.received.last?.headers[.authorization] == "Bearer \(ups["primary"]!.requiredKey)")
        }
    }
}
