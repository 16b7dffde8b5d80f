import HTTPTypes
import Testing

@testable import Guards

@Suite("Client keys")
struct ClientAuthenticatorTests {
    @Test(
        "the key is found in any of the four places",
        arguments: [
            ([HTTPField(name: .authorization, value: "Bearer k-123")], nil as String?),
            ([HTTPField(name: .authorization, value: "bearer   k-123")], nil),
            ([HTTPField(name: HTTPField.Name("X-API-KEY")!, value: "k-123")], nil),
            ([HTTPField(name: HTTPField.Name("x-goog-api-key")!, value: "k-123")], nil),
            ([], "alt=sse&key=k-123"),
            ([], "key=k%2D123"),
        ])
    func extraction(fields: [HTTPField], query: String?) {
        #expect(ClientKey.extract(from: HTTPFields(fields), query: query.map { Substring($0) }) == "k-123")
    }

    @Test("no key, or an Authorization header that is not Bearer, is nil")
    func noKey() {
        #expect(ClientKey.extract(from: [:], query: "alt=sse") == nil)
        #expect(ClientKey.extract(from: [.authorization: "Basic dXNlcjpwYXNz"], query: nil) == nil)
        #expect(ClientKey.extract(from: [.authorization: "Bearer "], query: nil) == nil)
    }

    @Test("Bearer is read byte by byte: any case, spaces around it, nothing else")
    func bearer() {
        #expect(ClientKey.bearerToken("BEARER k") == "k")
        #expect(ClientKey.bearerToken("  bEaReR   k-1 x") == "k-1 x")
        for refused in ["", "Bearer", "Bearer ", "Bearer    ", "Bearerk", "Bearer\tk", "Beare k", "Basic k", "Bearér k", "\u{0}earer k"] {
            #expect(ClientKey.bearerToken(refused) == nil, "\(refused)")
        }
    }

    @Test("plain, sha256: and bare-hex configured keys all accept the plain key")
    func forms() {
        // FIPS 180-2 test vector: SHA-256("abc").
        let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        for configured in ["abc", "sha256:\(digest)", digest, "SHA256:\(digest.uppercased())"] {
            let auth = ClientAuthenticator(globalKeys: [configured], providerKeys: [:])
            #expect(auth.check("abc") == .accepted, "\(configured)")
            #expect(auth.check("secret-key-2") == .rejected(missing: false))
            #expect(auth.check(nil) == .rejected(missing: true))
        }
    }

    @Test("provider keys: global ∪ own; once any key exists no provider is keyless")
    func providerKeys() {
        let auth = ClientAuthenticator(globalKeys: ["global-key-1"], providerKeys: ["a": ["a-only-key"], "b": []])
        #expect(auth.check("a-only-key") == .needsProvider)
        #expect(auth.allows("a-only-key", provider: "a"))
        #expect(!auth.allows("a-only-key", provider: "b"))
        #expect(auth.allows("global-key-1", provider: "a"))
        // Only provider keys: a provider without its own is not open to requests without a key.
        let providerOnly = ClientAuthenticator(globalKeys: [], providerKeys: ["a": ["a-only-key"]])
        #expect(providerOnly.check(nil) == .rejected(missing: true))
        #expect(!providerOnly.allows(nil, provider: "b"))
        #expect(!providerOnly.allows("a-only-key", provider: "b"))
        #expect(!providerOnly.allows(nil, provider: "a"))
        #expect(ClientAuthenticator(globalKeys: [], providerKeys: [:]).isOpen)
        #expect(ClientAuthenticator(globalKeys: [], providerKeys: [:]).allows(nil, provider: "b"))
    }
}
