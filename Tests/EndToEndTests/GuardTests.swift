import Foundation
import Testing

@Suite("Authentication, size limits and request ids")
struct GuardTests {
    @Test("a missing or wrong key is a 401 in the route's dialect, before anything goes upstream")
    func unauthorizedShapes() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, ups in
            let before = ups["primary"]!.received.count
            let openai = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"gpt-4o-mini"}"#)
            #expect(openai.status == 401)
            let error = openai.json["error"] as? [String: Any]
            #expect(error?["code"] as? String == "invalid_api_key")
            #expect(error?["type"] as? String == "authentication_error")
            #expect(error?["message"] is String)

            let anthropic = try await TestHTTP.send(.POST, "\(gateway.url)/v1/messages", headers: [("x-api-key", "wrong-key-value")], body: #"{"model":"claude-3"}"#)
            #expect(anthropic.status == 401)
            #expect(anthropic.json["type"] as? String == "error")
            #expect((anthropic.json["error"] as? [String: Any])?["type"] as? String == "authentication_error")

            let gemini = try await TestHTTP.send(.POST, "\(gateway.url)/v1beta/models/gemini-2.0-flash:generateContent?key=wrong-key-value", body: "{}")
            #expect(gemini.status == 401)
            let geminiError = gemini.json["error"] as? [String: Any]
            #expect(geminiError?["code"] as? Int == 401)
            #expect(geminiError?["status"] as? String == "UNAUTHENTICATED")
            #expect(ups["primary"]!.received.count == before)

            let lowercaseBearer = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", headers: [("AUTHORIZATION", "bearer \(Configs.clientKey)")], body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            #expect(lowercaseBearer.status == 200)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/health").status == 200)
        }
    }

    @Test("keys given as SHA-256 digests and per-provider auth_keys are honoured")
    func hashedAndProviderKeys() async throws {
        try await withGateway(
            upstreams: ["alpha", "beta"],
            yaml: { ups in
                """
                auth:
                  keys: ["sha256:\(Self.sha256Hex("hashed-client-key"))"]
                providers:
                  - {name: a, type: openai, base_url: "\(ups["alpha"]!.baseURL)/v1", api_key: \(ups["alpha"]!.requiredKey), models: [ma], auth_keys: ["only-for-a-key"]}
                  - {name: b, type: openai, base_url: "\(ups["beta"]!.baseURL)/v1", api_key: \(ups["beta"]!.requiredKey), models: [mb]}
                """
            }
        ) { gateway, _ in
            func status(_ key: String, _ model: String) async throws -> Int {
                try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: [("x-api-key", key)], body: #"{"model":"\#(model)","messages":[]}"#).status
            }
            let statuses = [
                try await status("hashed-client-key", "ma"), try await status("hashed-client-key", "mb"),
                try await status("only-for-a-key", "ma"), try await status("only-for-a-key", "mb"),
                try await status("some-other-key", "ma"),
            ]
            #expect(statuses == [200, 200, 200, 401, 401])
        }
    }

    @Test("a body over the size limit is a 413 and nothing reaches the upstream")
    func requestTooLarge() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "server:\n  max_request_size: 1000") }) { gateway, ups in
            let before = ups["primary"]!.received.count
            let big = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":""# + String(repeating: "x", count: 5000) + #""}]}"#
            let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: big)
            #expect(response.status == 413)
            #expect((response.json["error"] as? [String: Any])?["code"] as? String == "request_too_large")
            let anthropic = try await TestHTTP.send(.POST, "\(gateway.url)/v1/messages", headers: Configs.auth, body: big)
            #expect(anthropic.status == 413)
            #expect((anthropic.json["error"] as? [String: Any])?["type"] as? String == "request_too_large")
            #expect(ups["primary"]!.received.count == before)
            let small = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            #expect(small.status == 200)
        }
    }

    @Test("every response carries exactly one x-request-id: the client's when sane, otherwise a new one")
    func requestIDs() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, ups in
            let echoed = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth + [("x-request-id", "client-id-42")], body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            #expect(echoed.headers["x-request-id"] == ["client-id-42"])
            #expect(echoed.headers["x-upstream-request-id"] == ["upstream-own-id"])
            #expect(ups["primary"]!.received.last?.headers[values: .init("x-request-id")!] == ["client-id-42"])
            let replaced = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth + [("x-request-id", "bad id\twith spaces")], body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            #expect(replaced.headers["x-request-id"].count == 1)
            #expect(replaced.headers["x-request-id"].first?.count == 32)
            let error = try await TestHTTP.send(.GET, "\(gateway.url)/nowhere")
            #expect(error.status == 404)
            #expect(error.headers["x-request-id"].count == 1)
            let wrongMethod = try await TestHTTP.send(.GET, "\(gateway.url)/v1/chat/completions", headers: Configs.auth)
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers["x-request-id"].count == 1)
        }
    }

    @Test("the provider-header filter strips identifying upstream headers when enabled")
    func responseHeaderFilter() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "server:\n  response_header_filter: provider_headers") }) { gateway, _ in
            let response = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#)
            #expect(response.status == 200)
            #expect(response.headers["openai-processing-ms"].isEmpty)
            #expect(response.headers["x-upstream-request-id"].isEmpty)
            #expect(response.headers["x-request-id"].count == 1)
            #expect(response.headers["x-upstream-name"].first == "primary")
        }
    }

    static func sha256Hex(_ text: String) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try? process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return String(out.prefix(64))
    }
}

@Suite("Malformed requests")
struct MalformedRequestTests {
    @Test("a body that is not a JSON object is a 400 in the route's dialect")
    func notJSON() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!) }) { gateway, _ in
            let openai = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: "model=gpt-4o")
            #expect(openai.status == 400)
            #expect((openai.json["error"] as? [String: Any])?["type"] as? String == "invalid_request_error")
            let anthropic = try await TestHTTP.send(.POST, "\(gateway.url)/v1/messages", headers: Configs.auth, body: "[1,2]")
            #expect(anthropic.status == 400)
            #expect((anthropic.json["error"] as? [String: Any])?["type"] as? String == "invalid_request_error")
        }
    }
}
