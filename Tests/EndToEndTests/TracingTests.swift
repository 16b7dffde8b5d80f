import Foundation
import Testing

/// OpenTelemetry traces end to end: the real binary exports over OTLP/HTTP to a receiver that
/// decodes the protobuf with the `opentelemetry-proto` package. A server span per request,
/// client spans per upstream attempt, GenAI attributes, the client's `traceparent` continued
/// and handed on upstream, sampling, and nothing secret in any byte exported.
@Suite("OpenTelemetry traces", .serialized)
struct TracingTests {
    static let clientTrace = "0af7651916cd43dd8448eb211c80319c"
    static let clientSpan = "b7ad6b7169203331"
    static let prompt = "a prompt no span may carry 7f3a9c"

    static func yaml(_ a: MockUpstream, _ b: MockUpstream, tracing: String) -> String {
        """
        auth:
          keys: ["\(Configs.clientKey)"]
        providers:
          - {name: a, type: openai, base_url: "\(a.baseURL)/v1", api_key: \(a.requiredKey), models: [gpt-4o], discover_models: false}
          - {name: b, type: openai, base_url: "\(b.baseURL)/v1", api_key: \(b.requiredKey), models: [gpt-4o-mini], discover_models: false}
          - {name: an, type: anthropic, base_url: "\(b.baseURL)", api_key: \(b.requiredKey)}
        routing:
          fallbacks: {gpt-4o: [gpt-4o-mini]}
        \(tracing)
        """
    }

    /// Two upstreams, a receiver and the gateway, stopped whatever the body does.
    static func withTracedGateway(
        tracing: String, environment: (OTLPReceiver) -> [String: String] = { _ in [:] },
        _ body: (GatewayProcess, OTLPReceiver, MockUpstream, MockUpstream) async throws -> Void
    ) async throws {
        let a = MockUpstream(name: "a", requiredKey: "upstream-key-a")
        let b = MockUpstream(name: "b", requiredKey: "upstream-key-b")
        try await a.start()
        try await b.start()
        let receiver = try await OTLPReceiver.start()
        let config = try TempFile(yaml(a, b, tracing: tracing.replacingOccurrences(of: "RECEIVER", with: receiver.endpoint)))
        defer { config.remove() }
        var failure: (any Error)?
        do {
            let gateway = try await GatewayProcess.launch(config: config.path, environment: environment(receiver))
            do { try await body(gateway, receiver, a, b) } catch { failure = error }
            await gateway.stop()
            // A clean exit: the exporter's shutdown once trapped when its last reference went
            // on an event loop thread.
            #expect(gateway.process.terminationStatus == 0, "\(gateway.log.suffix(2000))")
        } catch {
            failure = error
        }
        receiver.stop()
        await a.stop()
        await b.stop()
        if let failure { throw failure }
    }

    static func chat(_ model: String, stream: Bool = false) -> String {
        #"{"model":"\#(model)","stream":\#(stream),"messages":[{"role":"user","content":"\#(prompt)"}]}"#
    }

    @Test(
        "set by OTEL_EXPORTER_OTLP_ENDPOINT: a server span continuing the client's trace, a client span per attempt (a 502 then the fallback), GenAI attributes, traceparent handed upstream, trace_id in the log, no key or prompt exported"
    )
    func spans() async throws {
        try await Self.withTracedGateway(
            tracing: "tracing: {export_interval: 0.2}",
            environment: {
                // A common environment: propagators the SDK would trap on, its chattiest log level,
                // and a collector credential that must not reach the log.
                [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": $0.endpoint, "OTEL_SERVICE_NAME": "gateway-under-test", "OTEL_PROPAGATORS": "tracecontext,baggage",
                    "OTEL_LOG_LEVEL": "debug", "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer collector-token-5c1d",
                ]
            }
        ) { gateway, receiver, a, b in
            a.inject(.init(status: 502))
            let traced = try await TestHTTP.send(
                .POST, gateway.url + "/v1/chat/completions",
                headers: Configs.auth + [("traceparent", "00-\(Self.clientTrace)-\(Self.clientSpan)-01"), ("tracestate", "congo=t61rcWkgMzE")],
                body: Self.chat("gpt-4o"))
            #expect(traced.status == 200, "\(traced.body)")
            // A streamed Anthropic request with no trace of its own, and a refused one.
            let streamed = try await TestHTTP.send(
                .POST, gateway.url + "/v1/messages", headers: [("x-api-key", Configs.clientKey), ("anthropic-version", "2023-06-01")],
                body: #"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"\#(Self.prompt)"}]}"#)
            #expect(streamed.status == 200)
            let wrongKey = "sk-wrong-key-that-must-not-leak-91d2"
            let refused = try await TestHTTP.send(
                .POST, gateway.url + "/v1/chat/completions", headers: [("Authorization", "Bearer \(wrongKey)")], body: Self.chat("gpt-4o-mini"))
            #expect(refused.status == 401)

            let (spans, bodies) = try await receiver.spans { spans in spans.filter { $0.kind == 2 }.count >= 3 }
            let servers = spans.filter { $0.kind == 2 }
            let clients = spans.filter { $0.kind == 3 }
            #expect(servers.count == 3, "\(spans.map(\.name))")

            // 1. The client's trace, continued: its span is the parent of ours.
            let request = try #require(servers.first { $0.traceID == Self.clientTrace }, "\(servers.map(\.traceID))")
            #expect(request.parentSpanID == Self.clientSpan)
            #expect(request.name == "chat gpt-4o")
            #expect(request.resource["service.name"] as? String == "gateway-under-test")
            #expect(request.string("gen_ai.operation.name") == "chat")
            #expect(request.string("gen_ai.request.model") == "gpt-4o")
            #expect(request.string("gen_ai.response.model") == "gpt-4o-mini")
            #expect(request.string("gen_ai.provider.name") == "openai")
            #expect((request.int("gen_ai.usage.input_tokens") ?? 0) > 0)
            #expect((request.int("gen_ai.usage.output_tokens") ?? 0) > 0)
            #expect(request.int("http.response.status_code") == 200)
            #expect((request.int("llmproxy.retries") ?? 0) >= 1)
            #expect(request.string("llmproxy.request_id") == traced.headers["x-request-id"].first)
            #expect(request.attributes["gen_ai.request.stream"] as? Bool == false)

            // Its attempts: children of the request span, the failed one marked, the last to b.
            let attempts = clients.filter { $0.parentSpanID == request.spanID }
            #expect(attempts.count >= 2, "\(clients.map { ($0.name, $0.parentSpanID) })")
            let failed = try #require(attempts.first { $0.int("http.response.status_code") == 502 })
            #expect(failed.statusCode == 2)
            #expect(failed.string("llmproxy.provider") == "a")
            #expect(failed.string("gen_ai.request.model") == "gpt-4o")
            let answered = try #require(attempts.first { $0.int("http.response.status_code") == 200 })
            #expect(answered.string("llmproxy.provider") == "b")
            #expect(answered.string("gen_ai.request.model") == "gpt-4o-mini")
            #expect(answered.name == "chat gpt-4o-mini")
            #expect(answered.string("server.address") == "127.0.0.1")
            #expect(answered.traceID == Self.clientTrace)

            // Each upstream continued the trace under its attempt's span; the client's
            // tracestate went along.
            let atB = try #require(b.received.last { $0.path == "/v1/chat/completions" })
            let sentToB = atB.headers[values: .init("traceparent")!]
            #expect(sentToB == ["00-\(Self.clientTrace)-\(answered.spanID)-01"], "\(sentToB)")
            #expect(atB.headers[.init("tracestate")!] == "congo=t61rcWkgMzE")
            let atA = try #require(a.received.last { $0.path == "/v1/chat/completions" })
            #expect(atA.headers[.init("traceparent")!] == "00-\(Self.clientTrace)-\(failed.spanID)-01")

            // 2. A new trace for the streamed request, with its stream and tokens.
            let anthropic = try #require(servers.first { $0.string("llmproxy.dialect") == "anthropic" })
            #expect(anthropic.traceID != Self.clientTrace && anthropic.traceID.count == 32)
            #expect(anthropic.parentSpanID.isEmpty)
            #expect(anthropic.attributes["gen_ai.request.stream"] as? Bool == true)
            #expect(anthropic.string("gen_ai.provider.name") == "anthropic")
            #expect(anthropic.attributes["gen_ai.response.time_to_first_chunk"] is Double)

            // 3. The refusal: a span with its reason, no attempt.
            let refusal = try #require(servers.first { $0.int("http.response.status_code") == 401 })
            #expect(refusal.string("error.type") != nil)
            #expect(refusal.string("llmproxy.rejected_by") != nil)
            #expect(clients.allSatisfy { $0.parentSpanID != refusal.spanID })

            // Nothing secret in any byte exported: no client or upstream key, no prompt.
            let exported = bodies.reduce(Data(), +)
            for secret in [Configs.clientKey, wrongKey, a.requiredKey, b.requiredKey, Self.prompt] {
                #expect(exported.range(of: Data(secret.utf8)) == nil, "\(secret) was exported")
            }

            #expect(!gateway.log.contains("collector-token-5c1d"))
            #expect(gateway.log.contains("OTEL_PROPAGATORS"), "the unsupported propagator is warned about")
            // The request log carries the trace id; the metrics count the refusal by reason.
            #expect(gateway.log.contains(#""trace_id":"\#(Self.clientTrace)""#))
            let metrics = try await TestHTTP.send(.GET, gateway.url + "/metrics").body
            let rejection = metrics.split(separator: "\n").first { $0.hasPrefix("llmproxy_rejections_total{") }
            #expect(rejection?.contains(#"reason="\#(refusal.string("error.type") ?? "?")""#) == true, "\(String(describing: rejection))")
        }
    }

    @Test("sampling: at ratio 0 a request is not exported but still hands on an unsampled traceparent; a client's sampled decision is followed")
    func sampling() async throws {
        try await Self.withTracedGateway(tracing: "tracing: {enabled: true, endpoint: \"RECEIVER\", sample_ratio: 0, export_interval: 0.2}") {
            gateway, receiver, _, b in
            let unsampled = try await TestHTTP.send(.POST, gateway.url + "/v1/chat/completions", headers: Configs.auth, body: Self.chat("gpt-4o-mini"))
            #expect(unsampled.status == 200)
            let handedOn = try #require(b.received.last { $0.path == "/v1/chat/completions" }?.headers[.init("traceparent")!])
            #expect(handedOn.hasPrefix("00-") && handedOn.hasSuffix("-00") && handedOn.count == 55, "\(handedOn)")

            let sampledTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
            let sampled = try await TestHTTP.send(
                .POST, gateway.url + "/v1/chat/completions", headers: Configs.auth + [("traceparent", "00-\(sampledTrace)-00f067aa0ba902b7-01")],
                body: Self.chat("gpt-4o-mini"))
            #expect(sampled.status == 200)
            // A malformed traceparent starts a trace of our own (unsampled here) and is not passed on.
            let malformed = try await TestHTTP.send(
                .POST, gateway.url + "/v1/chat/completions", headers: Configs.auth + [("traceparent", "00-XYZ-bad-01")], body: Self.chat("gpt-4o-mini"))
            #expect(malformed.status == 200)
            let replaced = b.received.last { $0.path == "/v1/chat/completions" }?.headers[.init("traceparent")!]
            #expect(replaced != "00-XYZ-bad-01" && replaced?.count == 55, "\(String(describing: replaced))")
            // A client without a valid key cannot make the gateway trace: its sampled decision is not followed.
            let refused = try await TestHTTP.send(
                .POST, gateway.url + "/v1/chat/completions",
                headers: [("Authorization", "Bearer not-a-key"), ("traceparent", "00-11111111111111111111111111111111-2222222222222222-01")],
                body: Self.chat("gpt-4o-mini"))
            #expect(refused.status == 401)

            let (spans, _) = try await receiver.spans { spans in spans.contains { $0.kind == 2 } }
            // Give a straggling export of the unsampled requests time to arrive: none may.
            try await Task.sleep(for: .milliseconds(600))
            let all = try await receiver.received().spans
            #expect(!spans.isEmpty)
            #expect(all.allSatisfy { $0.traceID == sampledTrace }, "\(all.map { ($0.name, $0.traceID) })")
            #expect(all.filter { $0.kind == 2 }.count == 1)
            #expect(all.filter { $0.kind == 3 }.count == 1)
        }
    }

    @Test("OTLP/JSON as configured: the same spans, ids in hex")
    func json() async throws {
        try await Self.withTracedGateway(tracing: "tracing: {enabled: true, endpoint: \"RECEIVER\", protocol: http/json, export_interval: 0.2}") {
            gateway, receiver, _, _ in
            let response = try await TestHTTP.send(.POST, gateway.url + "/v1/chat/completions", headers: Configs.auth, body: Self.chat("gpt-4o-mini"))
            #expect(response.status == 200)
            let (spans, _) = try await receiver.spans { spans in spans.contains { $0.kind == 2 } && spans.contains { $0.kind == 3 } }
            let server = try #require(spans.first { $0.kind == 2 })
            let client = try #require(spans.first { $0.kind == 3 })
            #expect(client.parentSpanID == server.spanID)
            #expect(server.name == "chat gpt-4o-mini")
            #expect(server.string("gen_ai.request.model") == "gpt-4o-mini")
        }
    }
}
