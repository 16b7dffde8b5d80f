import Dialects
import Foundation
import NIOSSL
import ProxyCore
import Synchronization
import Testing

/// The engine's promise to every stateful guard (rate limits, budgets, detectors): asked
/// exactly once per request and stage, whatever carries the request and however it ends.
@Suite("A stateful guard runs once per request")
struct GuardOnceTests {
    final class Counting: AdmissionGuard {
        let heads = Atomic<Int>(0)
        let routed = Atomic<Int>(0)
        var name: String { "counting" }

        func admitHead(_ admission: inout Admission) -> GuardVerdict {
            heads.add(1, ordering: .relaxed)
            return .admit
        }

        func admitRouted(_ admission: inout Admission) -> GuardVerdict {
            routed.add(1, ordering: .relaxed)
            return admission.model == "refused-by-guard"
                ? .reject(GatewayError(status: .tooManyRequests, code: .rateLimited, message: "slow down", retryAfter: 3)) : .admit
        }

        var counts: (Int, Int) { (heads.load(ordering: .relaxed), routed.load(ordering: .relaxed)) }
    }

    @Test("plain and TLS upstreams, the mock, streams, rejections and local answers each count once; the gateway's own surfaces not at all")
    func everyKind() async throws {
        let certs = try UpstreamTLSTests.makeCertificates()
        defer { try? FileManager.default.removeItem(atPath: certs.directory) }
        let tls = try UpstreamTLSTests.serverTLS(certificate: certs.cert, key: certs.key)
        let plain = MockUpstream(name: "plain", requiredKey: "k-plain")
        let secure = MockUpstream(name: "secure", requiredKey: "k-secure", tls: tls)
        try await plain.start()
        try await secure.start()
        let counting = Counting()
        let gateway = try await GatewayHarness.start(
            yaml: """
                auth: {keys: ["\(Configs.clientKey)"]}
                upstream: {ca_file: "\(certs.ca)"}
                providers:
                  - {name: p, type: openai, base_url: "\(plain.baseURL)/v1", api_key: k-plain, models: [plain-model, stream-3-5, refused-by-guard], discover_models: false}
                  - {name: s, type: openai, base_url: "\(secure.baseURL)/v1", api_key: k-secure, models: [tls-model], discover_models: false}
                  - {name: m, type: mock, models: [mock-model]}
                """, extraGuards: [counting])

        func post(_ body: String, key: String = Configs.clientKey) async throws -> TestResponse {
            try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: [("Authorization", "Bearer \(key)")], body: body)
        }
        var expected = (0, 0)
        func check(_ what: String, head: Int, routed: Int) {
            expected = (expected.0 + head, expected.1 + routed)
            #expect(counting.counts == expected, "\(what)")
        }

        #expect(try await post(#"{"model":"plain-model","messages":[]}"#).status == 200)
        check("plain upstream", head: 1, routed: 1)
        #expect(try await post(#"{"model":"tls-model","messages":[]}"#).status == 200)
        check("TLS upstream", head: 1, routed: 1)
        #expect(try await post(#"{"model":"mock-model","messages":[]}"#).status == 200)
        check("mock", head: 1, routed: 1)
        let stream = try await post(#"{"model":"stream-3-5","stream":true,"messages":[]}"#)
        #expect(stream.status == 200 && stream.body.contains("[DONE]"))
        check("stream", head: 1, routed: 1)
        #expect(try await post(#"{"model":"no-such-model","messages":[]}"#).status == 404)
        check("routing refusal", head: 1, routed: 1)
        #expect(try await post(#"{"model":"#).status == 400)
        check("unreadable body", head: 1, routed: 0)
        let refused = try await post(#"{"model":"refused-by-guard","messages":[]}"#)
        #expect(refused.status == 429)
        #expect(refused.headers["retry-after"].first == "3")
        check("refused by the guard itself", head: 1, routed: 1)
        #expect(try await post(#"{"model":"plain-model","messages":[]}"#, key: "wrong").status == 401)
        check("refused by the key guard before it", head: 0, routed: 0)
        #expect(try await TestHTTP.send(.GET, "\(gateway.url)/v1/models", headers: Configs.auth).status == 200)
        check("model listing answered locally", head: 1, routed: 0)
        #expect(try await TestHTTP.send(.GET, "\(gateway.url)/health/live").status == 200)
        check("health (not the engine's)", head: 0, routed: 0)

        await gateway.stop()
        await plain.stop()
        await secure.stop()
    }
}
