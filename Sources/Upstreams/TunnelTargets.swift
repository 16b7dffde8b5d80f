import Dialects
import ProxyConfig

/// The URL a tunnel request names, parsed strictly: `http` or `https`, a host, an optional
/// port, a path and query. User info is refused outright (`http://allowed@evil/` names
/// `evil`, and a prefix match would have let it through), as are fragments, spaces and
/// control characters.
package struct TunnelURL: Sendable, Equatable {
    /// Scheme, host and port (path empty).
    package var origin: UpstreamURL
    /// The path, starting with `/`.
    package var path: String
    /// The raw query without `?`, if any.
    package var query: String?

    package static func parse(_ text: String) -> Result<TunnelURL, GatewayError> {
        func refuse(_ why: String) -> Result<TunnelURL, GatewayError> { .failure(.badRequest("The tunnel request's url \(why)")) }
        guard text.utf8.count <= 8192 else { return refuse("is longer than 8192 bytes") }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return refuse("contains spaces, control or non-ASCII characters") }
        guard let schemeEnd = text.range(of: "://") else { return refuse("must start with http:// or https://") }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return refuse("must start with http:// or https://") }
        var rest = text[schemeEnd.upperBound...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.contains("@") else { return refuse("may not carry user info (user@host)") }
        guard !authority.contains("\\") else { return refuse("has a backslash in its host") }
        guard let origin = UpstreamURL("\(scheme)://\(authority)"), origin.path.isEmpty,
            origin.host.utf8.allSatisfy({ $0 == 0x2e || $0 == 0x2d || $0 == 0x3a || $0 == 0x5f || (0x30...0x39).contains($0) || (0x61...0x7a).contains($0) })
        else { return refuse("has no valid host and port") }
        var target = rest[authorityEnd...]
        var query: String?
        if let mark = target.firstIndex(of: "?") {
            query = String(target[target.index(after: mark)...])
            target = target[..<mark]
        }
        let path = target.isEmpty ? "/" : String(target)
        return .success(TunnelURL(origin: origin, path: path, query: query))
    }
}

/// Where tunnel requests may go: the configured providers' own origins (with their keys,
/// endpoints and health), plus the hosts of `tunnel.allow_hosts`, reached as they are named.
/// Nothing else: the tunnel is not an open relay. Built once per configuration snapshot.
package struct TunnelTargets: Sendable {
    let providers: [Provider]
    let rules: [TunnelHostRule]
    let allowPrivate: Bool

    package init(providers: [Provider], config: TunnelConfig) {
        self.providers = providers.filter { $0.type != .mock }
        rules = config.allowHosts.compactMap(TunnelHostRule.init)
        allowPrivate = config.allowPrivateNetworks
    }

    package enum Resolution: Sendable {
        /// Configured providers serve this origin and path: their endpoints, keys and health.
        case providers([Provider])
        /// An allowed host that is no provider: reached as named, with the client's headers.
        case allowedHost(Provider)
        case refused(GatewayError)
    }

    /// - Parameter dialect: the API the path belongs to; among several providers at one
    ///   origin, those whose own API it is are chosen (an OpenAI base `…/v1` and an
    ///   Anthropic base on one host both cover `/v1/messages`).
    package func resolve(_ url: TunnelURL, dialect: Dialect) -> Resolution {
        let origin = url.origin
        let matching = providers.filter { provider in
            let base = provider.baseURL
            guard base.scheme == origin.scheme, base.host == origin.host, base.port == origin.port else { return false }
            return base.path.isEmpty || url.path == base.path || url.path.hasPrefix(base.path + "/")
        }
        let native = matching.filter { $0.type.nativeDialect == dialect }
        if !native.isEmpty { return .providers(native) }
        if !matching.isEmpty { return .providers(matching) }
        guard rules.contains(where: { $0.matches(host: origin.host, port: origin.port) }) else {
            return .refused(.hostNotAllowed("The tunnel may not reach \(origin.hostHeader): it is neither a configured provider nor in tunnel.allow_hosts"))
        }
        if !allowPrivate, Self.namesNonPublic(origin.host) {
            return .refused(
                .hostNotAllowed("The tunnel may not reach \(origin.hostHeader): a private or loopback address (set tunnel.allow_private_networks to allow it)"))
        }
        var config = ProviderConfig(name: "tunnel:\(origin.hostHeader)", type: .openai, baseURL: origin.origin)
        config.discoverModels = false
        return .allowedHost(Provider(config: config, publicOnly: !allowPrivate))
    }

    /// Whether the host, as written, is a non-public address or a name for this machine.
    /// Names are checked again once resolved, when the connection is made.
    static func namesNonPublic(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        return CIDR.isNonPublic(host) ?? false
    }
}

extension ProviderType {
    /// The API a provider of this type speaks natively.
    var nativeDialect: Dialect? {
        switch self {
        case .openai: return .openai
        case .anthropic: return .anthropic
        case .gemini: return .gemini
        case .mock: return nil
        }
    }
}
