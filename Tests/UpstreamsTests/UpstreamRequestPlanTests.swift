import Dialects
import HTTPTypes
import ProxyConfig
import Testing

@testable import Upstreams

@Suite("Building the upstream request")
struct UpstreamRequestPlanTests {
    static func endpoint(_ type: ProviderType, _ base: String, key: String? = "upstream-key") -> Endpoint {
        Endpoint(id: "e#0", providerName: "e", type: type, baseURL: UpstreamURL(base)!, apiKey: key, weight: 1)
    }

    static let clientHeaders: HTTPFields = [
        .authorization: "Bearer client-key",
        HTTPField.Name("x-api-key")!: "client-key",
        HTTPField.Name("x-goog-api-key")!: "client-key",
        .contentType: "application/json",
        .connection: "keep-alive, x-hop",
        HTTPField.Name("x-hop")!: "1",
        HTTPField.Name("x-request-id")!: "client-id",
        HTTPField.Name("x-custom")!: "kept",
        .cookie: "session=1",
        .acceptEncoding: "gzip",
    ]

    func plan(_ endpoint: Endpoint, _ dialect: Dialect, _ path: String, query: String? = nil) -> UpstreamRequestPlan {
        UpstreamRequestPlan(
            endpoint: endpoint, dialect: dialect, path: path, query: query, clientHeaders: Self.clientHeaders, extraHeaders: [("OpenAI-Organization", "org-1")], requestID: "gw-id")
    }

    @Test(
        "URLs follow each SDK's base URL meaning",
        arguments: [
            (ProviderType.openai, "https://api.openai.com/v1", Dialect.openai, "/v1/chat/completions", "https://api.openai.com/v1/chat/completions"),
            (.openai, "http://127.0.0.1:11434/v1", .openai, "/v1/models", "http://127.0.0.1:11434/v1/models"),
            (.openai, "http://proxy.test/openai/v1", .openai, "/v1/files/abc", "http://proxy.test/openai/v1/files/abc"),
            (.anthropic, "https://api.anthropic.com", .anthropic, "/v1/messages", "https://api.anthropic.com/v1/messages"),
            (.anthropic, "https://api.anthropic.com", .openai, "/v1/chat/completions", "https://api.anthropic.com/v1/chat/completions"),
            (
                .gemini, "https://generativelanguage.googleapis.com", .gemini, "/v1beta/models/g:generateContent",
                "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent"
            ),
            (.gemini, "https://generativelanguage.googleapis.com", .openai, "/v1/chat/completions", "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"),
            (.openai, "https://host.test:8443/v1", .openai, "/v1/embeddings", "https://host.test:8443/v1/embeddings"),
        ])
    func urls(type: ProviderType, base: String, dialect: Dialect, path: String, expected: String) {
        #expect(plan(Self.endpoint(type, base), dialect, path).url == expected)
    }

    @Test("the query string is kept, except a key= credential")
    func query() {
        let result = plan(Self.endpoint(.gemini, "https://g.test"), .gemini, "/v1beta/models/x:streamGenerateContent", query: "alt=sse&key=client-key&x=1")
        #expect(result.url == "https://g.test/v1beta/models/x:streamGenerateContent?alt=sse&x=1")
        #expect(plan(Self.endpoint(.gemini, "https://g.test"), .gemini, "/v1beta/models", query: "key=client-key").url == "https://g.test/v1beta/models")
    }

    @Test("client credentials, hop-by-hop and connection-listed headers are dropped; the request id is ours")
    func headerFiltering() {
        let names = plan(Self.endpoint(.openai, "https://o.test/v1"), .openai, "/v1/chat/completions").headers.map(\.name)
        for dropped in ["x-api-key", "x-goog-api-key", "connection", "x-hop", "cookie", "accept-encoding"] { #expect(!names.contains(dropped)) }
        #expect(names.contains("x-custom"))
        let headers = plan(Self.endpoint(.openai, "https://o.test/v1"), .openai, "/v1/chat/completions").headers
        #expect(headers.filter { $0.name == "x-request-id" }.map(\.value) == ["gw-id"])
        #expect(headers.filter { $0.name == "authorization" }.map(\.value) == ["Bearer upstream-key"])
        #expect(headers.contains { $0.name == "openai-organization" && $0.value == "org-1" })
        #expect(!headers.contains { $0.value.contains("client-key") })
    }

    @Test(
        "each provider gets its key in its own header",
        arguments: [
            (ProviderType.openai, Dialect.openai, "authorization", "Bearer upstream-key"),
            (.anthropic, .anthropic, "x-api-key", "upstream-key"),
            (.anthropic, .openai, "authorization", "Bearer upstream-key"),
            (.gemini, .gemini, "x-goog-api-key", "upstream-key"),
            (.gemini, .openai, "authorization", "Bearer upstream-key"),
        ])
    func keyInjection(type: ProviderType, dialect: Dialect, header: String, value: String) {
        let headers = plan(Self.endpoint(type, "https://p.test"), dialect, "/v1/x").headers
        #expect(headers.filter { $0.name == header }.map(\.value) == [value])
    }

    @Test("anthropic-version is added when the client sent none, kept when it did")
    func anthropicVersion() {
        let added = plan(Self.endpoint(.anthropic, "https://a.test"), .anthropic, "/v1/messages").headers
        #expect(added.filter { $0.name == "anthropic-version" }.map(\.value) == ["2023-06-01"])
        var client = Self.clientHeaders
        client[HTTPField.Name("anthropic-version")!] = "2024-01-01"
        let kept = UpstreamRequestPlan(
            endpoint: Self.endpoint(.anthropic, "https://a.test"), dialect: .anthropic, path: "/v1/messages", query: nil, clientHeaders: client, extraHeaders: [], requestID: "id"
        ).headers
        #expect(kept.filter { $0.name == "anthropic-version" }.map(\.value) == ["2024-01-01"])
    }

    @Test("without an upstream key no credential is sent at all")
    func noKey() {
        let headers = plan(Self.endpoint(.openai, "http://local.test/v1", key: nil), .openai, "/v1/models").headers
        #expect(!headers.contains { $0.name == "authorization" })
    }
}

@Suite("Response header filtering")
struct ResponseHeaderPolicyTests {
    @Test("off keeps provider headers, drops hop-by-hop, renames the upstream request id")
    func off() {
        let policy = ResponseHeaderPolicy(.off)
        #expect(policy.decide("openai-processing-ms") == .keep)
        #expect(policy.decide("transfer-encoding") == .drop)
        #expect(policy.decide("connection") == .drop)
        #expect(policy.decide("x-request-id") == .rename("x-upstream-request-id"))
        #expect(policy.decide("content-type") == .keep)
    }

    @Test(
        "provider_headers strips the xllm list",
        arguments: [
            "anthropic-ratelimit-requests-limit", "openai-organization", "x-ratelimit-remaining-tokens", "x-request-id",
            "request-id", "cf-ray", "cf-cache-status", "via", "x-robots-tag",
        ])
    func providerHeaders(name: String) {
        #expect(ResponseHeaderPolicy(.providerHeaders).decide(name) == .drop)
    }

    @Test("custom lists match exact names and trailing-star prefixes")
    func custom() {
        let policy = ResponseHeaderPolicy(.custom(["x-secret", "x-internal-*"]))
        #expect(policy.decide("x-secret") == .drop)
        #expect(policy.decide("x-internal-trace") == .drop)
        #expect(policy.decide("x-secretive") == .keep)
    }
}

@Suite("Base URLs")
struct UpstreamURLTests {
    @Test(
        "parsing",
        arguments: [
            ("https://api.openai.com/v1", "https", "api.openai.com", 443, "/v1"),
            ("http://127.0.0.1:11434", "http", "127.0.0.1", 11434, ""),
            ("http://[::1]:8000/v1/", "http", "::1", 8000, "/v1"),
            ("HTTPS://Example.COM", "https", "example.com", 443, ""),
        ])
    func parse(text: String, scheme: String, host: String, port: Int, path: String) {
        let url = UpstreamURL(text)
        #expect(url?.scheme == scheme)
        #expect(url?.host == host)
        #expect(url?.port == port)
        #expect(url?.path == path)
    }

    @Test("rejected forms", arguments: ["api.openai.com", "ftp://x", "http://", "http://u:p@x", "http://x?q=1", "http://x:99999"])
    func reject(text: String) {
        #expect(UpstreamURL(text) == nil)
    }
}
