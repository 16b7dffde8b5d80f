import Dialects
import HTTPTypes
import NIOCore
import Testing

@testable import ProxyCore

@Suite("Planner: one outcome per request, from its head and then its body")
struct RequestPlannerTests {
    let chat = #"{"model":"gpt-4o-mini","messages":[]}"#

    @Test("the gateway's own surfaces are not proxied; every API path is the engine's")
    func surfaces() throws {
        let state = try EngineFixtures.state()
        #expect({ if case .notProxied = EngineFixtures.plan(EngineFixtures.request(.get, "/health"), body: nil, state: state) { true } else { false } }())
        #expect({ if case .notProxied = EngineFixtures.plan(EngineFixtures.request(.get, "/admin/keys"), body: nil, state: state) { true } else { false } }())
        let unknown = EngineFixtures.plan(EngineFixtures.request(.get, "/nowhere"), body: nil, state: state)
        #expect(unknown.rejection?.error.status == .notFound)
    }

    @Test("unsafe paths, unknown keys and oversized declared bodies are refused from the head, in the route's dialect")
    func headRefusals() throws {
        let state = try EngineFixtures.state()
        let dots = EngineFixtures.plan(EngineFixtures.request("/v1beta/models/a/../b:generateContent"), body: "{}", state: state)
        #expect(dots.rejection?.error.status == .badRequest)
        #expect(dots.rejection?.dialect == .gemini)
        // An unsafe admin path is the engine's to refuse too: nothing half-checked is handed on.
        #expect(EngineFixtures.plan(EngineFixtures.request(.get, "/admin/../v1/models"), body: nil, state: state).rejection != nil)

        let wrongKey = EngineFixtures.plan(EngineFixtures.request("/v1/messages", key: "nope"), body: chat, state: state)
        guard case .rejected(let rejection, let atHead)? = Optional(wrongKey) else {
            Issue.record("not rejected")
            return
        }
        #expect(atHead)
        #expect(rejection.error.code == .invalidAPIKey)
        #expect(rejection.dialect == .anthropic)
        #expect(!rejection.record.authenticated)

        let big = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions", headers: [("content-length", "5000")]), body: nil, state: state)
        #expect(big.rejection?.error.status == .contentTooLarge)
        #expect(big.rejection?.closeConnection == true)
    }

    @Test("model listings are answered locally, after the key check")
    func listings() throws {
        let state = try EngineFixtures.state()
        guard case .answered(let response) = EngineFixtures.plan(EngineFixtures.request(.get, "/v1/models"), body: nil, state: state) else {
            Issue.record("not answered locally")
            return
        }
        #expect(response.status == .ok)
        #expect(String(buffer: response.body).contains("gpt-4.1"))
        #expect(EngineFixtures.plan(EngineFixtures.request(.get, "/v1/models", key: nil), body: nil, state: state).rejection?.error.status == .unauthorized)
    }

    @Test("bodies are checked: not JSON, smuggled keys, no model")
    func bodyRefusals() throws {
        let state = try EngineFixtures.state()
        for body in ["", "[1]", #"{"model":"gpt-4o-mini","mod\u0065l":"claude-x"}"#, "{"] {
            let outcome = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions"), body: body, state: state)
            #expect(outcome.rejection?.error.status == .badRequest, "\(body)")
        }
        let unknown = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions"), body: #"{"model":"no-such"}"#, state: state)
        #expect(unknown.rejection?.error.code == .modelNotFound)
    }

    @Test("a forward plan: route, alias rewritten in the body, usage asked for on the client's behalf")
    func forward() throws {
        let state = try EngineFixtures.state()
        let plan = try #require(
            EngineFixtures.plan(
                EngineFixtures.request("/v1/chat/completions"),
                body: #"{"model":"fast","stream":true,"messages":[]}"#, state: state
            ).forward)
        #expect(plan.record.model == "gpt-4o-mini")
        #expect(plan.record.rule == "alias")
        #expect(plan.record.stream)
        #expect(plan.record.authenticated)
        guard case .send(let endpoint, false) = plan.attempts.next() else {
            Issue.record("no endpoint")
            return
        }
        let attempt = try plan.attempt(to: endpoint).get()
        let sent = String(buffer: try #require(attempt.body))
        #expect(sent.contains(#""model":"gpt-4o-mini""#))
        #expect(sent.contains(#""include_usage":true"#))
        #expect(attempt.head.uri == "/v1/chat/completions")
        #expect(attempt.head.headers["authorization"] == ["Bearer upstream-secret"])
        // The client's key never reaches the upstream.
        #expect(!attempt.head.headers.contains { $0.value.contains(EngineFixtures.key) })
        #expect(attempt.stages.stages.count == 2)
    }

    @Test("request ids are 32 lowercase hex characters and never repeat; a client's sane id is kept")
    func requestIDs() {
        let ids = (0..<1000).map { _ in RequestIdentifier.generate() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count == 32 && $0.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } })
        #expect(RequestIdentifier.sanitized("abc-123") == "abc-123")
        #expect(RequestIdentifier.sanitized("a b") == nil)
    }
}
