import Foundation
import Testing

/// `x-llmproxy-overhead-ms`: the gateway's own time up to the response head, on every
/// answer it gives — forwarded, streamed, from the cache, refused — with the upstream's time
/// left out, and the same figure as a histogram.
@Suite("Gateway overhead")
struct OverheadTests {
    static func overhead(_ response: TestResponse) -> Double? { response.headers["x-llmproxy-overhead-ms"].first.flatMap(Double.init) }

    @Test("every answer carries its overhead; an upstream 300 ms slow to answer is not counted in it; the histogram counts them")
    func header() async throws {
        try await withGateway(yaml: { Configs.threeProviders($0["primary"]!, extra: "cache: {enabled: true}") }) { gateway, upstreams in
            let url = gateway.url + "/v1/chat/completions"
            let chat = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"overhead?"}]}"#
            let stream = #"{"model":"stream-3-10","stream":true,"messages":[{"role":"user","content":"overhead?"}]}"#
            var answers: [(String, TestResponse, Duration)] = []
            for (name, body, headers) in [
                ("forwarded", chat, Configs.auth), ("cache hit", chat, Configs.auth), ("stream", stream, Configs.auth),
                ("refused", chat, [("Authorization", "Bearer wrong-key")]),
                ("unknown model", #"{"model":"no-such-model-anywhere","messages":[]}"#, Configs.auth),
            ] {
                let started = ContinuousClock.now
                let response = try await TestHTTP.send(.POST, url, headers: headers, body: body)
                answers.append((name, response, ContinuousClock.now - started))
            }
            #expect(answers[1].1.headers["x-llmproxy-cache"].first == "hit")
            for (name, response, total) in answers {
                let own = Self.overhead(response)
                #expect(
                    own.map { $0 >= 0 && $0 <= Double(total.components.seconds) * 1000 + Double(total.components.attoseconds) / 1e15 } == true,
                    "\(name): \(String(describing: own))")
            }
            // An upstream that takes 300 ms before its head: the overhead leaves those out.
            upstreams["primary"]!.headDelayMs.store(300, ordering: .relaxed)
            let started = ContinuousClock.now
            let slow = try await TestHTTP.send(
                .POST, url, headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"slow one"}]}"#)
            let total = ContinuousClock.now - started
            upstreams["primary"]!.headDelayMs.store(0, ordering: .relaxed)
            #expect(slow.status == 200)
            let totalMs = Double(total.components.seconds) * 1000 + Double(total.components.attoseconds) / 1e15
            let own = Self.overhead(slow) ?? .infinity
            #expect(totalMs >= 300 && own <= totalMs - 290, "overhead \(own) ms of \(totalMs) ms with a 300 ms upstream")
            let metrics = try await TestHTTP.send(.GET, gateway.url + "/metrics").body
            let count = metrics.split(separator: "\n").first { $0.hasPrefix("llmproxy_overhead_seconds_count") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            #expect((count ?? 0) >= 6, "\(metrics.split(separator: "\n").filter { $0.contains("overhead") })")
        }
    }
}
