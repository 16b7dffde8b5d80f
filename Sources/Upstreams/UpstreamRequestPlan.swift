import Dialects
import HTTPTypes
import ProxyConfig

/// The upstream side of one forwarded request: URL and headers, derived from the client's
/// request by pure rules so they can be tested without a server.
package struct UpstreamRequestPlan: Sendable, Equatable {
    /// The full URL (for AsyncHTTPClient), built only when asked: the lean pool needs the
    /// target alone.
    package var url: String { base.origin + target }
    let base: UpstreamURL
    /// Path and query, the request target on the upstream.
    package var target: String
    package var headers: [(name: String, value: String)]

    package static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.url == rhs.url && lhs.target == rhs.target && lhs.headers.elementsEqual(rhs.headers, by: { $0 == $1 })
    }

    /// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus the ones the
    /// HTTP client recomputes. `Expect` is answered by the gateway itself: passed on, an
    /// upstream would wait for a go-ahead the gateway never relays.
    package static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "expect",
        // The gateway's own: prompt-cache affinity's session key.
        "x-llmproxy-session",
    ]
    /// Where clients put their gateway key; removed so it can never reach an upstream.
    package static let clientCredentials: Set<String> = ["authorization", "x-api-key", "x-goog-api-key", "api-key"]

    /// - Parameters:
    ///   - path: the client's path after any host prefix was stripped, without query.
    ///   - query: the raw query string without `?`, or nil.
    ///   - requestID: the gateway's id for this request, passed on for correlation.
    ///   - tunnel: the request came through the tunnel, which names the upstream's own URL:
    ///     `path` is sent as it is, and the client's credentials (meant for that upstream) are
    ///     kept unless the endpoint has a key of its own.
    package init(
        endpoint: Endpoint, dialect: Dialect, path: String, query: String?, clientHeaders: HTTPFields, extraHeaders: [(String, String)],
        requestID: String, tunnel: Bool = false
    ) {
        let base = endpoint.baseURL
        var upstreamPath: String
        let keepCredentials = tunnel && endpoint.apiKey == nil
        switch (endpoint.type, dialect) {
        case _ where tunnel:
            upstreamPath = path
        case (.openai, _), (.mock, _):
            // OpenAI base URLs carry the version (`…/v1`): the client's `/v1` is replaced by it.
            upstreamPath = base.path + (path.hasPrefix("/v1/") || path == "/v1" ? String(path.dropFirst(3)) : path)
        case (.anthropic, .openai):
            // Anthropic's OpenAI-compatible endpoints live under its own /v1.
            upstreamPath = base.path + path
        case (.gemini, .openai):
            upstreamPath = base.path + "/v1beta/openai" + (path.hasPrefix("/v1/") ? String(path.dropFirst(3)) : path)
        default:
            upstreamPath = base.path + path
        }
        if upstreamPath.isEmpty { upstreamPath = "/" }
        var target = upstreamPath
        if let query, !query.isEmpty {
            // `key=` is a client credential on Gemini routes: never forward it.
            let kept = query.split(separator: "&", omittingEmptySubsequences: true).filter { keepCredentials || !$0.hasPrefix("key=") }
            if !kept.isEmpty { target += "?" + kept.joined(separator: "&") }
        }
        self.target = target
        self.base = base

        var connectionListed: Set<String> = []
        for field in clientHeaders where field.name == .connection {
            for token in field.value.split(separator: ",") { connectionListed.insert(token.trimmingSpaces().lowercased()) }
        }
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(clientHeaders.count + 4)
        var hasAnthropicVersion = false
        for field in clientHeaders {
            let name = field.name.canonicalName
            if Self.hopByHop.contains(name) || connectionListed.contains(name) { continue }
            if !keepCredentials, Self.clientCredentials.contains(name) { continue }
            if name == "x-request-id" || name == "accept-encoding" || name == "cookie" { continue }
            if name == "anthropic-version" { hasAnthropicVersion = true }
            headers.append((name, field.value))
        }
        headers.append(("x-request-id", requestID))
        if let key = endpoint.apiKey {
            switch (endpoint.type, dialect) {
            case (.anthropic, .anthropic):
                headers.append(("x-api-key", key))
            case (.gemini, .gemini):
                headers.append(("x-goog-api-key", key))
            default:
                headers.append(("authorization", "Bearer \(key)"))
            }
        }
        if endpoint.type == .anthropic, dialect == .anthropic, !hasAnthropicVersion {
            headers.append(("anthropic-version", "2023-06-01"))
        }
        for (name, value) in extraHeaders { headers.append((name.lowercased(), value)) }
        self.headers = headers
    }
}
