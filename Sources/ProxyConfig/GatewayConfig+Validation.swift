extension GatewayConfig {
    /// Every problem that makes this configuration unusable, each naming its key, the value
    /// found and what to do. An empty list means the configuration can be served.
    public func validate(fileExists: (String) -> Bool = { _ in true }) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func fail(_ path: String, _ message: String) { problems.append(ConfigProblem(path: path, message: message)) }

        if !(0...65535).contains(server.port) { fail("server.port", "must be between 1 and 65535, or 0 for any free port (got \(server.port))") }
        if server.host.isEmpty { fail("server.host", "must not be empty: use 127.0.0.1 for this machine only or 0.0.0.0 for every interface") }
        if server.maxRequestSize <= 0 { fail("server.max_request_size", "must be > 0 bytes (got \(server.maxRequestSize)); the default is 10485760 (10 MiB)") }
        if let url = database.url, !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) {
            fail("database.url", "must be a PostgreSQL URL like postgres://user:password@host:5432/database (got \"\(Self.redactedURL(url))\"); leave it unset to use the SQLite file at database.path")
        }
        if database.url == nil, database.enabled, database.path.isEmpty { fail("database.path", "must name a file, e.g. ./data/llmproxy.sqlite") }
        if database.eventQueueLimit <= 0 { fail("database.event_queue_limit", "must be > 0 (got \(database.eventQueueLimit)); the default is 100000") }
        for (index, cidr) in admin.allowCIDRs.enumerated() where CIDR(cidr) == nil {
            fail("admin.allow_cidrs[\(index)]", "is not an address or network (got \"\(cidr)\"); write e.g. 127.0.0.1/32, 10.0.0.0/8 or ::1/128")
        }
        if let secret = admin.jwtSecret, secret.utf8.count < 32 {
            fail("admin.jwt_secret", "must be at least 32 characters (got \(secret.utf8.count)); leave it unset to have one generated and kept in the database")
        }
        if admin.sessionHours <= 0 { fail("admin.session_hours", "must be > 0 (got \(admin.sessionHours))") }
        if let user = admin.username, !AdminConfig.isValidUsername(user) {
            fail("admin.username", "must be 3–50 characters of letters, digits, _ . - (got \"\(user)\")")
        }
        if admin.password != nil, admin.username == nil { fail("admin.password", "is set without admin.username (LLMPROXY_ADMIN_USER)") }
        if let password = admin.password, password.count < 8 { fail("admin.password", "must be at least 8 characters") }
        if server.drainTimeout < 0 { fail("server.drain_timeout", "must be >= 0 seconds (got \(server.drainTimeout))") }
        for (index, path) in server.publicPaths.enumerated() where !path.hasPrefix("/") {
            fail("server.public_paths[\(index)]", "must start with / (got \"\(path)\")")
        }
        if !isLoopback(server.host), auth.keys.isEmpty, !server.allowUnauthenticatedPublicBind {
            fail("server.host", "is \(server.host), reachable from other machines, but no client key is configured: set auth.keys (or API_KEYS), or set server.allow_unauthenticated_public_bind: true if the network in front already restricts access")
        }

        if upstream.connectTimeout <= 0 { fail("upstream.connect_timeout", "must be > 0 seconds (got \(upstream.connectTimeout))") }
        if upstream.firstByteTimeout <= 0 { fail("upstream.first_byte_timeout", "must be > 0 seconds (got \(upstream.firstByteTimeout))") }
        if upstream.idleTimeout <= 0 { fail("upstream.idle_timeout", "must be > 0 seconds (got \(upstream.idleTimeout))") }
        if upstream.maxConnectionsPerHost < 1 { fail("upstream.max_connections_per_host", "must be >= 1 (got \(upstream.maxConnectionsPerHost))") }
        if let ca = upstream.caFile, !fileExists(ca) { fail("upstream.ca_file", "names \(ca), which does not exist: give the path of a PEM file of CA certificates") }

        for (index, key) in auth.keys.enumerated() {
            if let problem = ClientKeySpec.problem(with: key) { fail("auth.keys[\(index)]", problem) }
        }

        var names: [String: Int] = [:]
        for (index, provider) in providers.enumerated() {
            let path = "providers[\(index)]"
            if let previous = names[provider.name] {
                fail("\(path).name", "\"\(provider.name)\" is already used by providers[\(previous)]: give each provider a unique name")
            } else {
                names[provider.name] = index
            }
            if !(provider.weight > 0) || !provider.weight.isFinite {
                fail("\(path).weight", "must be a number > 0 (got \(provider.weight)); weights are relative, 1 is the default")
            }
            if provider.type != .mock {
                if UpstreamURL(provider.baseURL) == nil || provider.baseURL.hasPrefix("mock:") {
                    fail("\(path).base_url", "must be an http:// or https:// URL without query or user info (got \"\(provider.baseURL)\")")
                }
            }
            for (keyIndex, key) in provider.apiKeys.enumerated() {
                if key.key.isEmpty { fail("\(path).api_keys[\(keyIndex)].key", "must not be empty") }
                if !(key.weight > 0) || !key.weight.isFinite {
                    fail("\(path).api_keys[\(keyIndex)].weight", "must be a number > 0 (got \(key.weight))")
                }
            }
            for (keyIndex, key) in provider.authKeys.enumerated() {
                if let problem = ClientKeySpec.problem(with: key) { fail("\(path).auth_keys[\(keyIndex)]", problem) }
            }
            if let host = provider.host {
                if host.isEmpty || host.hasPrefix("/") || host.contains(" ") {
                    fail("\(path).host", "must be a host name, optionally followed by /prefix (got \"\(host)\")")
                }
            }
            if let check = provider.healthCheck {
                if !["GET", "POST", "HEAD", "PUT", "OPTIONS"].contains(check.method) {
                    fail("\(path).health_check.method", "must be GET, POST, HEAD, PUT or OPTIONS (got \"\(check.method)\")")
                }
                if !check.path.hasPrefix("/") { fail("\(path).health_check.path", "must start with / (got \"\(check.path)\")") }
            }
            if !(provider.healthCheckInterval > 0) { fail("\(path).health_check_interval", "must be > 0 seconds (got \(provider.healthCheckInterval))") }
            if provider.mock.chunks < 1 || provider.mock.chunks > 10_000 { fail("\(path).mock.chunks", "must be between 1 and 10000 (got \(provider.mock.chunks))") }
            if provider.mock.chunkDelayMilliseconds < 0 { fail("\(path).mock.chunk_delay_ms", "must be >= 0 (got \(provider.mock.chunkDelayMilliseconds))") }
            if provider.mock.latencyMilliseconds < 0 { fail("\(path).mock.latency_ms", "must be >= 0 (got \(provider.mock.latencyMilliseconds))") }
            for (modelIndex, model) in provider.models.enumerated() where model.isEmpty {
                fail("\(path).models[\(modelIndex)]", "must not be empty")
            }
        }

        for (alias, target) in routing.aliases where target.isEmpty || alias.isEmpty {
            fail("routing.aliases.\(alias)", "must map a non-empty name to a non-empty model (got \"\(alias)\": \"\(target)\")")
        }
        if let name = routing.defaultProvider, names[name] == nil, !Self.engineNames.contains(name) {
            let known = (providers.map(\.name) + Self.engineNames).joined(separator: ", ")
            fail("routing.default_provider", "names \"\(name)\", which is not a provider (known: \(known))")
        }
        if !(discovery.interval > 0) { fail("discovery.interval", "must be > 0 seconds (got \(discovery.interval))") }
        for (key, url) in [("ollama_url", discovery.ollamaURL), ("vllm_url", discovery.vllmURL), ("lmstudio_url", discovery.lmStudioURL), ("llamacpp_url", discovery.llamaCppURL)] {
            if UpstreamURL(url) == nil { fail("discovery.\(key)", "must be an http:// URL (got \"\(url)\")") }
        }
        for (index, target) in targetURLs.enumerated() where UpstreamURL(target.url) == nil {
            fail("target_urls[\(index)]", "must be an http:// or https:// URL, optionally followed by |key (got \"\(target.url)\")")
        }
        return problems
    }

    /// Names of the engines discovery may add, valid as `routing.default_provider`.
    public static let engineNames = ["ollama-default", "vllm-default", "lmstudio-default", "llamacpp-default"]

    func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// A client key as written in the configuration: plain, `sha256:<hex>`, or a bare 64-hex
/// SHA-256 digest (the edge seed's form).
public enum ClientKeySpec {
    static func problem(with key: String) -> String? {
        if key.isEmpty { return "must not be empty" }
        if key.lowercased().hasPrefix("sha256:") {
            let hex = key.dropFirst(7)
            if hex.count != 64 || !hex.allSatisfy(\.isHexDigit) {
                return "starts with sha256: but is not followed by 64 hex digits: give the SHA-256 of the key in hex"
            }
        }
        if key.count < 8 { return "is shorter than 8 characters: use a long random key" }
        return nil
    }
}
