import HTTPTypes
import NIOHTTP1
import ProxyConfig

/// Which upstream response headers reach the client. Hop-by-hop headers never do; the
/// upstream's own request id is renamed so the client sees exactly one `x-request-id`
/// (the gateway's); the configured filter removes provider headers on request.
package struct ResponseHeaderPolicy: Sendable {
    /// The xllm tunnel's list: headers that identify the provider behind the gateway.
    package static let providerHeaderRules = [
        "anthropic-*", "openai-*", "x-ratelimit*", "x-request-id", "request-id", "cf-ray", "cf-cache-status", "via", "x-robots-tag",
    ]
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade",
        "date", "server", "alt-svc", "set-cookie",
    ]

    let exact: Set<String>
    let prefixes: [String]

    package init(_ config: ResponseHeaderFilterConfig) {
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
    package enum Decision: Equatable {
        case keep, drop
        case rename(String)
    }

    package func decide(_ name: String) -> Decision {
        if Self.hopByHop.contains(name) { return .drop }
        if exact.contains(name) || prefixes.contains(where: { name.hasPrefix($0) }) { return .drop }
        if name == "x-request-id" { return .rename("x-upstream-request-id") }
        return .keep
    }

    /// The headers of an upstream response as the client gets them, with the gateway's
    /// request id (both forwarding paths use this).
    package func clientFields(_ upstream: HTTPHeaders, requestID: String) -> HTTPFields {
        var fields = HTTPFields()
        fields.reserveCapacity(upstream.count + 1)
        for header in upstream {
            let lower = header.name.lowercased()
            switch decide(lower) {
            case .drop: continue
            case .keep: if let name = HTTPField.Name(lower) { fields.append(HTTPField(name: name, value: header.value)) }
            case .rename(let newName): if let name = HTTPField.Name(newName) { fields.append(HTTPField(name: name, value: header.value)) }
            }
        }
        fields[Self.requestID] = requestID
        return fields
    }

    static let requestID = HTTPField.Name("x-request-id")!
}
