import Dialects
import ProxyConfig
import Testing

@testable import Upstreams

/// Prompt-cache affinity without sockets: the prefix digest, and rendezvous hashing over
/// endpoints that come and go.
@Suite("Prompt-cache affinity")
struct AffinityTests {
    static func provider(_ name: String, keys: Int = 1) -> Provider {
        var config = ProviderConfig(name: name, type: .openai, baseURL: "http://\(name).test/v1")
        config.apiKeys = (0..<keys).map { WeightedKey(key: "k\($0)") }
        return Provider(config: config)
    }

    static func digest(_ body: String) -> UInt64? {
        let bytes = Array(body.utf8)
        guard let fields = TopLevelFields.scan(bytes) else { return nil }
        return bytes.withUnsafeBytes { PrefixHash.of($0, prefix: fields.prefix) }
    }

    @Test("one conversation keeps its digest as it grows past a long system prompt; another system prompt, other tools, another digest")
    func digest() throws {
        let system = String(repeating: "You are a careful assistant. ", count: 60)
        let first = #"{"model":"m","messages":[{"role":"system","content":"\#(system)"},{"role":"user","content":"hi"}]}"#
        let later =
            #"{"model":"m","messages":[{"role":"system","content":"\#(system)"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"more"}]}"#
        let other = #"{"model":"m","messages":[{"role":"system","content":"Another prompt \#(system)"},{"role":"user","content":"hi"}]}"#
        let digest = try #require(Self.digest(first))
        #expect(digest == Self.digest(later))
        #expect(Self.digest(first) != Self.digest(other))
        // Anthropic: system and tools at the top level; the model and max_tokens do not count.
        let a = #"{"model":"a","max_tokens":5,"system":"S","tools":[{"name":"t"}],"messages":[{"role":"user","content":"x"}]}"#
        let b = #"{"system":"S","tools":[{"name":"t"}],"model":"b","messages":[{"role":"user","content":"x"}],"max_tokens":99}"#
        let c = #"{"model":"a","max_tokens":5,"system":"S","tools":[{"name":"u"}],"messages":[{"role":"user","content":"x"}]}"#
        #expect(Self.digest(a) == Self.digest(b))
        #expect(Self.digest(a) != Self.digest(c))
        #expect(Self.digest(#"{"model":"m"}"#) == nil)
        #expect(PrefixHash.of(session: "s1") == PrefixHash.of(session: "s1"))
        #expect(PrefixHash.of(session: "s1") != PrefixHash.of(session: "s2"))
    }

    @Test("a key sticks to one endpoint, moves to the next-best when it is out, comes back when it recovers; others stay put")
    func rendezvous() {
        let providers = [Self.provider("a", keys: 2), Self.provider("b", keys: 2)]
        let endpoints = providers.flatMap(\.endpoints)
        let keys = (0..<400).map { PrefixHash.of(session: "session-\($0)") }
        let chosen = keys.map { key in EndpointSelector.pick(from: providers, random: 0.3, second: 0.7, affinity: key)!.id }
        // Stable whatever the random draws say.
        #expect(keys.map { EndpointSelector.pick(from: providers, random: 0.9, second: 0.1, affinity: $0)!.id } == chosen)
        // Spread over the four endpoints (equal weights): each gets a fair share.
        for endpoint in endpoints {
            let share = chosen.filter { $0 == endpoint.id }.count
            #expect((60...140).contains(share), "\(endpoint.id): \(share) of 400")
        }
        // One endpoint out: only its keys move.
        let out = endpoints[1]
        out.health.recordCheck(healthy: false, error: "down")
        let moved = keys.map { EndpointSelector.pick(from: providers, affinity: $0)!.id }
        for (before, after) in zip(chosen, moved) {
            if before == out.id { #expect(after != out.id) } else { #expect(after == before) }
        }
        out.health.recordCheck(healthy: true, error: nil)
        #expect(keys.map { EndpointSelector.pick(from: providers, affinity: $0)!.id } == chosen)
        // A retry excludes the endpoint already tried, and goes to the key's next-best.
        let first = EndpointSelector.pick(from: providers, affinity: keys[0])!
        let retry = EndpointSelector.pick(from: providers, excluding: [first], affinity: keys[0])!
        #expect(retry !== first)
    }

    @Test("routing.affinity and providers[].affinity parse; a wrong value names the choices")
    func config() throws {
        let config = try GatewayConfig.parse(
            yaml: """
                routing: {affinity: prefix}
                providers:
                  - {name: a, type: openai, base_url: "http://a.test/v1", affinity: "off"}
                """)
        #expect(config.routing.affinity == .prefix)
        #expect(config.providers.first?.affinity == .off)
        do {
            _ = try GatewayConfig.parse(yaml: "routing: {affinity: sticky}")
            Issue.record("accepted affinity: sticky")
        } catch {
            #expect("\(error)".contains("routing.affinity") && "\(error)".contains("session"), "\(error)")
        }
    }
}
