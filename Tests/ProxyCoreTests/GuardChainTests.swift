import Dialects
import Guards
import HTTPTypes
import Store
import Testing

@testable import ProxyCore

@Suite("Guard chain: each guard asked once per stage, the first refusal wins")
struct GuardChainTests {
    let chat = #"{"model":"gpt-4o-mini","messages":[]}"#

    @Test("a stateful guard is asked exactly once per stage for a forwarded request, and not at all for the gateway's own surfaces")
    func once() throws {
        let counter = CountingGuard()
        let state = try EngineFixtures.state(extra: [counter])
        _ = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions"), body: chat, state: state)
        #expect(counter.heads.load(ordering: .relaxed) == 1)
        #expect(counter.routed.load(ordering: .relaxed) == 1)
        _ = EngineFixtures.plan(EngineFixtures.request(.get, "/health"), body: nil, state: state)
        #expect(counter.heads.load(ordering: .relaxed) == 1)
    }

    @Test("a refusal by an earlier guard means later guards are not asked")
    func shortCircuit() throws {
        let counter = CountingGuard()
        let state = try EngineFixtures.state(extra: [counter])
        let refused = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions", key: "wrong"), body: chat, state: state)
        #expect(refused.rejection?.error.code == .invalidAPIKey)
        #expect(counter.heads.load(ordering: .relaxed) == 0)
        #expect(counter.routed.load(ordering: .relaxed) == 0)
    }

    @Test("a guard's refusal reaches the client in its dialect with Retry-After")
    func refusal() throws {
        let state = try EngineFixtures.state(extra: [CountingGuard(refuseRouted: true)])
        let refused = try #require(
            EngineFixtures.plan(
                EngineFixtures.request("/v1/messages"),
                body: #"{"model":"claude-x","messages":[]}"#, state: state
            ).rejection)
        #expect(refused.error.status == .tooManyRequests)
        #expect(refused.dialect == .anthropic)
        #expect(refused.response.headers[.retryAfterSeconds] == "2")
        #expect(String(buffer: refused.response.body).contains(#""type":"error""#))
    }

    @Test("a managed key limited to one model is refused another, before the route says whether it exists")
    func allowlist() throws {
        let keys = ManagedKeyIndex()
        let hash = KeyIssuerForTests.hash("sk-limited")
        keys.upsert(hash: hash, identity: ClientIdentity(keyID: "k1", username: "ann", expiresAt: nil, revoked: false, models: ["gpt-4o-mini"]))
        let state = try EngineFixtures.state(keys: keys)
        let other = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions", key: "sk-limited"), body: #"{"model":"gpt-4.1"}"#, state: state)
        #expect(other.rejection?.error.code == .modelNotAllowed)
        let unknown = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions", key: "sk-limited"), body: #"{"model":"nope"}"#, state: state)
        #expect(unknown.rejection?.error.code == .modelNotAllowed)
        let allowed = EngineFixtures.plan(EngineFixtures.request("/v1/chat/completions", key: "sk-limited"), body: chat, state: state)
        #expect(allowed.forward?.record.identity?.keyID == "k1")
    }
}

enum KeyIssuerForTests {
    static func hash(_ key: String) -> String { KeyIssuer.sha256Hex(key) }
}
