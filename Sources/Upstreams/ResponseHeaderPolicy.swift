import ProxyConfig

/// Which upstream response headers reach the client. Hop-by-hop headers never do; the
/// upstream's own request id is renamed so the client sees exactly one `x-request-id`
/// (the gateway's); the configured filter removes provider headers on request.
public struct ResponseHeaderPolicy: Sendable {
    /// The xllm tunnel's list: headers that identify the provider behind the gateway.
    public static let providerHeaderRules = [
        "anthropic-*", "openai-*", "x-ratelimit*", "x-request-id", "request-id", "cf-ray", "cf-cache-status", "via", "x-robots-tag",
    ]
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade",
        "date", "server", "alt-svc", "set-cookie",
    ]

    let exact: Set<String>
    let prefixes: [String]

    public init(_ config: ResponseHeaderFilterConfig) {
        let rules: [String]
        switch config {
        case .off: rules = []
        case .providerHeaders: rules = Self.providerHeaderRules
        case .custom(let names): rules = names
        }
        exact = Set(rules.filter { !$0.hasSuffix("*") })
        prefixes = rules.filter { $0.hasSuffix("*") }.map { String($0.dropLast()) }
    }

    /// What to do with one upstream header (`name` lowercased).
    public enum Decision: Equatable { case keep, drop, rename(String) }

    public func decide(_ name: String) -> Decision {
        if Self.hopByHop.contains(name) { return .drop }
        if exact.contains(name) || prefixes.contains(where: { name.hasPrefix($0) }) { return .drop }
        if name == "x-request-id" { return .rename("x-upstream-request-id") }
        return .keep
    }
}
