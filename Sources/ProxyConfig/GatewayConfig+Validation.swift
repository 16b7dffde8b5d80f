extension GatewayConfig {
    /// Every problem that makes this configuration unusable, each naming its key, the value
    /// found and what to do. An empty list means the configuration can be served, and every
    /// number in it lies in its ``ConfigRange``, so no later conversion of it can trap.
    package func validate(fileExists: (String) -> Bool = { _ in true }) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func fail(_ path: String, _ message: String) { problems.append(ConfigProblem(path: path, message: message)) }
        func check(_ path: String, _ value: Double, _ range: ConfigRange) {
            if !range.contains(value) { fail(path, range.message(got: "\(value)")) }
        }
        func check(_ path: String, _ value: Int, _ range: ConfigRange) {
            if !range.contains(value) { fail(path, range.message(got: "\(value)")) }
        }

        if !(0...65535).contains(server.port) { fail("server.port", "must be between 1 and 65535, or 0 for any free port (got \(server.port)); the default is 8080") }
        if server.host.isEmpty { fail("server.host", "must not be empty: use 127.0.0.1 for this machine only or 0.0.0.0 for every interface") }
        check("server.max_request_size", server.maxRequestSize, .maxRequestSize)
        if let url = database.url, !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) {
            fail(
                "database.url",
                "must be a PostgreSQL URL like postgres://user:password@host:5432/database (got \"\(Self.redactedURL(url))\"); leave it unset to use the SQLite file at database.path"
            )
        }
        if database.url == nil, database.enabled, database.path.isEmpty { fail("database.path", "must name a file, e.g. ./data/llmproxy.sqlite") }
        check("database.event_queue_limit", database.eventQueueLimit, .eventQueueLimit)
        for (index, cidr) in admin.allowCIDRs.enumerated() where CIDR(cidr) == nil {
            fail("admin.allow_cidrs[\(index)]", "is not an address or network (got \"\(cidr)\"); write e.g. 127.0.0.1/32, 10.0.0.0/8 or ::1/128")
        }
        if let secret = admin.jwtSecret, secret.utf8.count < 32 {
            fail("admin.jwt_secret", "must be at least 32 characters (got \(secret.utf8.count)); leave it unset to have one generated and kept in the database")
        }
        check("admin.session_hours", admin.sessionHours, .sessionHours)
        if let user = admin.username, !AdminConfig.isValidUsername(user) {
            fail("admin.username", "must be 3–50 characters of letters, digits, _ . - (got \"\(user)\")")
        }
        if admin.password != nil, admin.username == nil { fail("admin.password", "is set without admin.username (LLMPROXY_ADMIN_USER)") }
        if let password = admin.password, password.count < 8 { fail("admin.password", "must be at least 8 characters") }
        if admin.password != nil, admin.passwordHash != nil {
            fail("admin.password_hash", "is set together with admin.password (LLMPROXY_ADMIN_PASSWORD): keep one")
        }
        if let hash = admin.passwordHash, !AdminConfig.isBcryptHash(hash) {
            fail("admin.password_hash", "is not a bcrypt hash ($2b$, a cost 04–16, 60 characters in all); make one with `llm-proxy hash-password`")
        }
        check("server.drain_timeout", server.drainTimeout, .drainTimeout)
        check("server.request_head_timeout", server.requestHeadTimeout, .requestHeadTimeout)
        check("server.request_body_timeout", server.requestBodyTimeout, .requestBodyTimeout)
        check("server.keep_alive_timeout", server.keepAliveTimeout, .keepAliveTimeout)
        check("server.max_connections", server.maxConnections, .maxConnections)
        for (index, cidr) in server.trustedProxies.enumerated() where CIDR(cidr) == nil {
            fail("server.trusted_proxies[\(index)]", "is not an address or network (got \"\(cidr)\"); write e.g. 10.0.0.0/8 or 127.0.0.1/32")
        }
        check("database.event_retention_days", database.eventRetentionDays, .eventRetentionDays)
        for (index, path) in server.publicPaths.enumerated() where !path.hasPrefix("/") {
            fail("server.public_paths[\(index)]", "must start with / (got \"\(path)\")")
        }
        if !isLoopback(server.host), auth.keys.isEmpty, !server.allowUnauthenticatedPublicBind {
            fail(
                "server.host",
                "is \(server.host), reachable from other machines, but no client key is configured: set auth.keys (or API_KEYS), or set server.allow_unauthenticated_public_bind: true if the network in front already restricts access"
            )
        }

        check("upstream.connect_timeout", upstream.connectTimeout, .connectTimeout)
        check("upstream.first_byte_timeout", upstream.firstByteTimeout, .firstByteTimeout)
        check("upstream.idle_timeout", upstream.idleTimeout, .idleTimeout)
        check("upstream.max_connections_per_host", upstream.maxConnectionsPerHost, .maxConnectionsPerHost)
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
            check("\(path).weight", provider.weight, .weight)
            if provider.type != .mock {
                if UpstreamURL(provider.baseURL) == nil || provider.baseURL.hasPrefix("mock:") {
                    fail("\(path).base_url", "must be an http:// or https:// URL without query or user info (got \"\(provider.baseURL)\")")
                }
            }
            for (keyIndex, key) in provider.apiKeys.enumerated() {
                if key.key.isEmpty {
                    fail("\(path).api_keys[\(keyIndex)].key", "must not be empty")
                } else if !HeaderText.isValue(key.key) {
                    fail("\(path).api_keys[\(keyIndex)].key", HeaderText.valueRule)
                }
                check("\(path).api_keys[\(keyIndex)].weight", key.weight, .weight)
            }
            for (keyIndex, key) in provider.authKeys.enumerated() {
                if let problem = ClientKeySpec.problem(with: key) { fail("\(path).auth_keys[\(keyIndex)]", problem) }
            }
            if let host = provider.host {
                if host.isEmpty || host.hasPrefix("/") || host.contains(" ") {
                    fail("\(path).host", "must be a host name, optionally followed by /prefix (got \"\(host)\")")
                }
            }
            for (name, value) in provider.headers.sorted(by: { $0.key < $1.key }) {
                if let problem = HeaderText.problem(name: name, value: value) { fail("\(path).headers.\(name)", problem) }
            }
            if let check = provider.healthCheck {
                for (name, value) in check.headers.sorted(by: { $0.key < $1.key }) {
                    if let problem = HeaderText.problem(name: name, value: value) { fail("\(path).health_check.headers.\(name)", problem) }
                }
                if !["GET", "POST", "HEAD", "PUT", "OPTIONS"].contains(check.method) {
                    fail("\(path).health_check.method", "must be GET, POST, HEAD, PUT or OPTIONS (got \"\(check.method)\")")
                }
                if !check.path.hasPrefix("/") || check.path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                    fail("\(path).health_check.path", "must start with / and hold no space or control character (got \"\(check.path)\")")
                }
            }
            check("\(path).health_check_interval", provider.healthCheckInterval, .healthCheckInterval)
            check("\(path).mock.chunks", provider.mock.chunks, .mockChunks)
            check("\(path).mock.chunk_delay_ms", provider.mock.chunkDelayMilliseconds, .mockChunkDelay)
            check("\(path).mock.latency_ms", provider.mock.latencyMilliseconds, .mockLatency)
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
        check("discovery.interval", discovery.interval, .discoveryInterval)
        for (key, url) in [("ollama_url", discovery.ollamaURL), ("vllm_url", discovery.vllmURL), ("lmstudio_url", discovery.lmStudioURL), ("llamacpp_url", discovery.llamaCppURL)] {
            if UpstreamURL(url) == nil { fail("discovery.\(key)", "must be an http:// URL (got \"\(url)\")") }
        }
        for (index, target) in targetURLs.enumerated() {
            if UpstreamURL(target.url) == nil {
                fail("target_urls[\(index)]", "must be an http:// or https:// URL, optionally followed by |key (got \"\(target.url)\")")
            }
            if let key = target.apiKey, !HeaderText.isValue(key) {
                fail("target_urls[\(index)]", "has a key with a line break, control character or surrounding spaces after |; write url|key on one line")
            }
        }
        problems += guardProblems()
        problems += resilience.problems()
        problems += cache.problems(providers: providers, database: database)
        problems += tracing.problems()
        for (index, provider) in providers.enumerated() {
            let at = "providers[\(index)]"
            if let attempts = provider.retries?.maxAttempts, !ConfigRange.retryAttempts.contains(attempts) {
                fail("\(at).retries.max_attempts", ConfigRange.retryAttempts.message(got: "\(attempts)"))
            }
            if let total = provider.retries?.totalTimeout, !ConfigRange.retryTotal.contains(total) {
                fail("\(at).retries.total_timeout", ConfigRange.retryTotal.message(got: ConfigRange.text(total)))
            }
            if provider.fallbacks.count > 5 { fail("\(at).fallbacks", "must list at most 5 models (got \(provider.fallbacks.count))") }
            for (position, model) in provider.fallbacks.enumerated() where model.isEmpty {
                fail("\(at).fallbacks[\(position)]", "must name a model")
            }
        }
        for (model, chain) in routing.fallbacks.sorted(by: { $0.key < $1.key }) {
            if !ConfigRange.fallbackModels.contains(chain.count) {
                fail("routing.fallbacks.\(model)", "must list 1 to 5 models to try after \(model) (got \(chain.count))")
            }
            for (index, other) in chain.enumerated() where other == model || other.isEmpty {
                fail("routing.fallbacks.\(model)[\(index)]", "must name another model than \(model)")
            }
        }
        problems += tlsProblems(fileExists: fileExists)
        if tunnel.enabled {
            if !(0...65535).contains(tunnel.port) { fail("tunnel.port", "must be between 1 and 65535, or 0 for any free port (got \(tunnel.port)); the default is 50051") }
            if tunnel.host.isEmpty { fail("tunnel.host", "must not be empty: use 0.0.0.0 for every interface or 127.0.0.1 for this machine only") }
            if tunnel.key != nil, tunnel.keyFile != nil { fail("tunnel.key_file", "is set together with tunnel.key: give the key one way only") }
            if let file = tunnel.keyFile, !fileExists(file) {
                fail("tunnel.key_file", "names a file that does not exist (\(file)): write a key there with `llm-proxy tunnel keygen > \(file)`")
            } else if case .failure(let problem) = tunnel.resolvedKey() {
                problems.append(problem)
            }
            for (index, entry) in tunnel.allowHosts.enumerated() where TunnelHostRule(entry) == nil {
                fail("tunnel.allow_hosts[\(index)]", "must be HOST or HOST:PORT, without scheme, path or wildcard (got \"\(entry)\")")
            }
            check("tunnel.max_document_bytes", tunnel.maxDocumentBytes, .tunnelDocumentBytes)
            check("tunnel.max_response_bytes", tunnel.maxResponseBytes, .tunnelDocumentBytes)
            check("tunnel.read_timeout", tunnel.readTimeout, .tunnelTimeout)
            check("tunnel.total_timeout", tunnel.totalTimeout, .tunnelTimeout)
            check("tunnel.idle_timeout", tunnel.idleTimeout, .tunnelTimeout)
            check("tunnel.replay_window", tunnel.replayWindow, .tunnelReplayWindow)
            check("tunnel.max_streams", tunnel.maxStreams, .tunnelStreams)
            check("tunnel.max_connections", tunnel.maxConnections, .maxConnections)
        }
        return problems
    }

    /// Names of the engines discovery may add, valid as `routing.default_provider`.
    package static let engineNames = ["ollama-default", "vllm-default", "lmstudio-default", "llamacpp-default"]

    func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// A client key as written in the configuration: plain, `sha256:<hex>`, or a bare 64-hex
/// SHA-256 digest (the edge seed's form).
package enum ClientKeySpec {
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
