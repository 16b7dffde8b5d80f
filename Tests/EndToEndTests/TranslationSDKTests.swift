import Foundation
import PostgresHarness
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The official SDKs through translated routes over real sockets: `Tests/Translation/
/// sdk_clients.py` drives the `anthropic`, `openai` and `google-genai` SDKs against the
/// gateway, which serves each model from a provider of another dialect; `Tests/Translation/
/// wire_mocks.py` plays the three providers in their exact wire formats (each scenario also
/// passes against the mock directly, which is how the mock was checked). Exact usage counts
/// are asserted in the client's own dialect: the mock's numbers, normalised and written back.
@Suite("Translation through the official SDKs", .serialized)
struct TranslationSDKTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = root.appendingPathComponent("Tests/Translation/sdk_clients.py").path

    /// The wire mock, a child process of this test (stopped by its PID).
    final class WireMock: Sendable {
        let process: Process
        let port: Int

        init() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", TranslationSDKTests.root.appendingPathComponent("Tests/Translation/wire_mocks.py").path]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The first line is `PORT <n>`.
            var line = Data()
            let handle = pipe.fileHandleForReading
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                line.append(chunk)
            }
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5).prefix { $0.isNumber }) else {
                process.terminate()
                throw MockError(message: "wire_mocks.py did not print its port: \(text)")
            }
            self.process = process
            self.port = port
        }

        var url: String { "http://127.0.0.1:\(port)" }

        /// SIGKILL: the mock keeps nothing, and a child of the test runner may inherit a
        /// signal mask that holds SIGTERM back.
        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        /// What the mock received, as JSON objects.
        func received() async throws -> [[String: Any]] {
            let response = try await TestHTTP.send(.GET, url + "/_requests", headers: [], body: nil)
            let data = Data(response.body.utf8)
            return (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
        }
    }

    struct MockError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    static func config(_ mock: WireMock) -> String {
        """
        auth:
          keys: ["\(Configs.clientKey)"]
        providers:
          - name: oa
            type: openai
            base_url: \(mock.url)/v1
            api_key: up-openai
            models: [gpt-4.1, gpt-error-429, gpt-error-400]
            discover_models: false
          - name: an
            type: anthropic
            base_url: \(mock.url)
            api_key: up-anthropic
            models: [claude-sonnet-4-5, claude-error-429, claude-error-400]
            discover_models: false
          - name: gm
            type: gemini
            base_url: \(mock.url)
            api_key: up-gemini
            models: [gemini-2.5-flash, gemini-error-429, gemini-error-400]
            discover_models: false
        """
    }

    /// Runs scenarios against models through `url` (one Python process), with exact usage expected.
    static func run(_ scenarios: [String], url: String, models: [String], expect usage: [String: Int] = [:]) async {
        let variables = usage.sorted { $0.key < $1.key }.map { "EXPECT_\($0.key)_TOKENS=\($0.value)" }
        let arguments = variables + ["python3", script, scenarios.joined(separator: ","), url, Configs.clientKey, models.joined(separator: ",")]
        do {
            try await PostgresServer.runAside("/usr/bin/env", arguments)
        } catch {
            Issue.record("\(scenarios) against \(models): \(error)")
        }
    }

    static func withRoutes(_ body: (String, WireMock) async throws -> Void) async throws {
        let mock = try WireMock()
        defer { mock.stop() }
        let gateway = try await GatewayHarness.start(yaml: config(mock))
        do {
            try await body(gateway.url, mock)
        } catch {
            await gateway.stop()
            throw error
        }
        await gateway.stop()
    }

    @Test("anthropic SDK (create, stream, tool use round trip with streamed parallel calls, thinking) against an OpenAI-type and a Gemini-type upstream")
    func anthropicClients() async throws {
        try await Self.withRoutes { url, mock in
            await Self.run(
                ["anthropic-create", "anthropic-stream", "anthropic-tools", "anthropic-thinking"], url: url, models: ["gpt-4.1", "gemini-2.5-flash"],
                expect: ["INPUT": 15, "OUTPUT": 10, "CACHED": 5])
            await Self.run(["anthropic-error"], url: url, models: ["gpt-error-429", "gpt-error-400", "gemini-error-429", "gemini-error-400"])
            let received = try await mock.received()
            let paths = Set(received.compactMap { $0["path"] as? String })
            #expect(paths.contains("/v1/chat/completions"))
            #expect(paths.contains("/v1beta/models/gemini-2.5-flash:streamGenerateContent"))
            #expect(paths.contains("/v1beta/models/gemini-2.5-flash:generateContent"))
            #expect(!paths.contains("/v1/messages"), "an Anthropic client's request reached no Anthropic upstream")
            Self.expectNoClientKey(received)
        }
    }

    @Test("openai SDK (chat and Responses, streamed, with tools) against an Anthropic-type and a Gemini-type upstream; Responses passed through to an OpenAI-type one")
    func openAIClients() async throws {
        try await Self.withRoutes { url, mock in
            await Self.run(
                ["openai-chat", "openai-tools", "openai-responses"], url: url, models: ["claude-sonnet-4-5"],
                expect: ["INPUT": 20, "OUTPUT": 10, "TOTAL": 30, "CACHED": 5])
            await Self.run(
                ["openai-chat", "openai-tools", "openai-responses"], url: url, models: ["gemini-2.5-flash"],
                expect: ["INPUT": 20, "OUTPUT": 10, "TOTAL": 30, "CACHED": 5, "REASONING": 2])
            await Self.run(["openai-error"], url: url, models: ["claude-error-429", "claude-error-400", "gemini-error-429"])
            let translated = try await mock.received()
            #expect(!translated.contains { ($0["path"] as? String)?.hasPrefix("/v1/responses") == true })
            #expect(translated.contains { $0["path"] as? String == "/v1/messages" })
            Self.expectNoClientKey(translated)
            // The Responses API to an OpenAI-type upstream goes out untouched.
            await Self.run(["openai-responses"], url: url, models: ["gpt-4.1"], expect: ["INPUT": 20, "OUTPUT": 10, "TOTAL": 30, "CACHED": 5, "REASONING": 2])
            let all = try await mock.received()
            #expect(all.contains { $0["path"] as? String == "/v1/responses" })
        }
    }

    @Test("google-genai SDK (generate, stream, function calling round trip) against an OpenAI-type and an Anthropic-type upstream")
    func geminiClients() async throws {
        try await Self.withRoutes { url, mock in
            await Self.run(
                ["gemini-generate", "gemini-stream", "gemini-tools"], url: url, models: ["gpt-4.1"],
                expect: ["INPUT": 20, "OUTPUT": 8, "TOTAL": 30, "CACHED": 5, "REASONING": 2])
            await Self.run(
                ["gemini-generate", "gemini-stream", "gemini-tools"], url: url, models: ["claude-sonnet-4-5"],
                expect: ["INPUT": 20, "OUTPUT": 10, "TOTAL": 30, "CACHED": 5])
            await Self.run(["gemini-error"], url: url, models: ["gpt-error-429", "claude-error-400"])
            let received = try await mock.received()
            let paths = Set(received.compactMap { $0["path"] as? String })
            #expect(paths == ["/v1/chat/completions", "/v1/messages"], "\(paths)")
            // The upstream credentials are the providers' own, in their own headers.
            for request in received {
                let headers = request["headers"] as? [String: Any] ?? [:]
                if request["path"] as? String == "/v1/messages" {
                    #expect(headers["x-api-key"] as? String == "up-anthropic")
                    #expect(headers["anthropic-version"] != nil)
                } else {
                    #expect(headers["authorization"] as? String == "Bearer up-openai")
                }
            }
            Self.expectNoClientKey(received)
        }
    }

    static func expectNoClientKey(_ received: [[String: Any]], sourceLocation: SourceLocation = #_sourceLocation) {
        for request in received {
            let text = String(describing: request)
            #expect(!text.contains(Configs.clientKey), "the client's key reached an upstream: \(request["path"] ?? "")", sourceLocation: sourceLocation)
        }
    }
}
