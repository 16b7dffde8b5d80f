import Foundation

/// A base URL split into the parts the forwarder needs. Parsed once at configuration time so
/// the request path only concatenates strings.
///
package struct UpstreamURL: Sendable, Equatable, CustomStringConvertible {
    package var scheme: String { didSet { derive() } }
    package var host: String { didSet { derive() } }
    package var port: Int { didSet { derive() } }
    /// Path prefix without a trailing slash ("" for the host root, "/v1" for OpenAI).
    package var path: String
    /// Connections to this origin must end at a public address: one that resolves into a
    /// private, loopback or link-local network is refused before a byte is sent (set for
    /// tunnel targets that are not configured providers). Never set by parsing.
    package var publicOnly = false

    package var isTLS: Bool { scheme == "https" }
    /// `scheme://host[:port]`, what connections are pooled by. Kept, not computed: the pool
    /// and the request plan read it on every request.
    package private(set) var origin = ""
    package var description: String { origin + path }
    /// The `Host` header for requests to this origin (the port only when not the scheme's default).
    package private(set) var hostHeader = ""

    private mutating func derive() {
        let defaultPort = (scheme == "https" && port == 443) || (scheme == "http" && port == 80)
        let hostPart = host.contains(":") ? "[\(host)]" : host
        hostHeader = defaultPort ? hostPart : "\(hostPart):\(port)"
        origin = "\(scheme)://\(hostHeader)"
    }

    /// Parses `http(s)://host[:port][/path]` (or `mock://…`); nil with anything else, including
    /// user info, queries and fragments, which have no meaning for a base URL.
    package init?(_ text: String) {
        guard let schemeEnd = text.range(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard ["http", "https", "mock"].contains(scheme) else { return nil }
        var rest = text[schemeEnd.upperBound...]
        guard !rest.contains("@"), !rest.contains("?"), !rest.contains("#") else { return nil }
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        while path.hasSuffix("/") { path.removeLast() }
        var host = String(rest)
        var port = scheme == "https" ? 443 : 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }
                port = p
            } else if !after.isEmpty {
                return nil
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { return nil }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port
        self.path = path
        derive()
    }
}
