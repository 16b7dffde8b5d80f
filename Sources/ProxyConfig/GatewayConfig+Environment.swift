extension GatewayConfig {
    /// Applies environment variables over the file's values: our own `LLMPROXY_*` names, the
    /// names of the edge and aggregator seeds, and the providers' usual key variables.
    /// Problems (a port that is not a number, …) name the variable.
    package mutating func applyEnvironment(_ env: [String: String]) throws {
        var problems: [ConfigProblem] = []
        func value(_ names: String...) -> (name: String, value: String)? {
            for name in names { if let v = env[name], !v.isEmpty { return (name, v) } }
            return nil
        }
        // Both parsers refuse what does not fit (99999999999999999999, 1e400, nan, inf), so
        // validation sees only finite values; it then checks their ranges.
        func number(_ item: (name: String, value: String)?, as: Int.Type) -> Int? {
            guard let item else { return nil }
            guard let parsed = Int(item.value.trimmingSpaces()) else {
                problems.append(ConfigProblem(path: "$\(item.name)", message: "must be a whole number between \(Int.min) and \(Int.max) (got \"\(item.value)\")"))
                return nil
            }
            return parsed
        }
        func number(_ item: (name: String, value: String)?, as: Double.Type) -> Double? {
            guard let item else { return nil }
            guard let parsed = Double(item.value.trimmingSpaces()), parsed.isFinite else {
                problems.append(ConfigProblem(path: "$\(item.name)", message: "must be a finite number of seconds (got \"\(item.value)\")"))
                return nil
            }
            return parsed
        }
        func portNumber(_ item: (name: String, value: String)?) -> Int? {
            guard let item, let parsed = number(item, as: Int.self) else { return nil }
            guard ConfigRange.port.contains(parsed) else {
                problems.append(ConfigProblem(path: "$\(item.name)", message: "must be a port between 1 and 65535 (got \"\(item.value)\")"))
                return nil
            }
            return parsed
        }
        func flag(_ item: (name: String, value: String)?) -> Bool? {
            guard let item else { return nil }
            switch item.value.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default:
                problems.append(ConfigProblem(path: "$\(item.name)", message: "must be true or false (got \"\(item.value)\")"))
                return nil
            }
        }

        if let address = value("LLMPROXY_ADDRESS", "SERVER_ADDRESS") {
            if let colon = address.value.lastIndex(of: ":"), let port = Int(address.value[address.value.index(after: colon)...]) {
                let host = String(address.value[..<colon])
                if !host.isEmpty { server.host = host.trimmingCharacters(in: "[]") }
                server.port = port
            } else {
                problems.append(ConfigProblem(path: "$\(address.name)", message: "must look like HOST:PORT, for example 127.0.0.1:8080 (got \"\(address.value)\")"))
            }
        }
        if let host = value("LLMPROXY_HOST") { server.host = host.value }
        if let port = number(value("LLMPROXY_PORT"), as: Int.self) { server.port = port }
        if let size = number(value("LLMPROXY_MAX_REQUEST_SIZE", "MAX_REQUEST_SIZE"), as: Int.self) { server.maxRequestSize = size }
        if let seconds = number(value("LLMPROXY_FIRST_BYTE_TIMEOUT", "SERVER_TIMEOUT_SECONDS"), as: Double.self) { upstream.firstByteTimeout = seconds }
        if let seconds = number(value("LLMPROXY_CONNECT_TIMEOUT"), as: Double.self) { upstream.connectTimeout = seconds }
        if let seconds = number(value("LLMPROXY_IDLE_TIMEOUT"), as: Double.self) { upstream.idleTimeout = seconds }
        if let seconds = number(value("LLMPROXY_DRAIN_TIMEOUT"), as: Double.self) { server.drainTimeout = seconds }
        if let allow = flag(value("LLMPROXY_ALLOW_UNAUTHENTICATED_PUBLIC_BIND")) { server.allowUnauthenticatedPublicBind = allow }
        if let on = flag(value("LLMPROXY_AUTH_HEALTH_CHECK", "AUTH_HEALTH_CHECK")) { server.authHealthCheck = on }
        if let path = value("LLMPROXY_CA_FILE") { upstream.caFile = path.value }
        if let on = flag(value("LLMPROXY_METRICS", "ENABLE_METRICS")) { server.metrics = on }
        if let url = value("LLMPROXY_DATABASE_URL", "DATABASE_URL") { database.url = url.value.isEmpty ? nil : url.value }
        if let path = value("LLMPROXY_DATABASE_PATH") { database.path = path.value }
        if let secret = value("LLMPROXY_JWT_SECRET", "JWT_SECRET") { admin.jwtSecret = secret.value }
        if let user = value("LLMPROXY_ADMIN_USER", "AUTH_USERNAME") { admin.username = user.value }
        if let password = value("LLMPROXY_ADMIN_PASSWORD", "AUTH_PASSWORD") { admin.password = password.value }
        if let hash = value("LLMPROXY_ADMIN_PASSWORD_HASH") { admin.passwordHash = hash.value }

        if let on = flag(value("LLMPROXY_CACHE_ENABLED", "LLMPROXY_CACHE")) { cache.enabled = on }
        if let seconds = number(value("LLMPROXY_CACHE_TTL"), as: Double.self) { cache.ttl = seconds }
        if let bytes = number(value("LLMPROXY_CACHE_MAX_BYTES"), as: Int.self) { cache.maxBytes = bytes }
        if let bytes = number(value("LLMPROXY_CACHE_MAX_ENTRY_BYTES"), as: Int.self) { cache.maxEntryBytes = bytes }
        if let on = flag(value("LLMPROXY_CACHE_STORE")) { cache.store = on }
        if let scope = value("LLMPROXY_CACHE_SCOPE") {
            if let parsed = CacheConfig.Scope(rawValue: scope.value.lowercased()) {
                cache.scope = parsed
            } else {
                problems.append(ConfigProblem(path: "$\(scope.name)", message: "must be global, owner or key (got \"\(scope.value)\")"))
            }
        }

        if let on = flag(value("LLMPROXY_TUNNEL")) { tunnel.enabled = on }
        if let host = value("XLLM_PROXY_HOST", "LLMPROXY_TUNNEL_HOST") { tunnel.host = host.value }
        if let port = portNumber(value("XLLM_PROXY_PORT", "LLMPROXY_TUNNEL_PORT")) { tunnel.port = port }
        if let key = value("LLMPROXY_TUNNEL_KEY"), !key.value.isEmpty { tunnel.key = key.value }
        if let keys = value("LLMPROXY_API_KEYS", "API_KEYS") {
            auth.keys += keys.value.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        }
        if let enabled = flag(value("AUTH_ENABLED")) {
            if !enabled, !auth.keys.isEmpty {
                auth.keys = []
                warnings.append("AUTH_ENABLED=false: client keys are ignored and every request is accepted")
            } else if enabled, auth.keys.isEmpty {
                problems.append(ConfigProblem(path: "$AUTH_ENABLED", message: "is true but no client key is configured: set API_KEYS (comma-separated) or auth.keys"))
            }
        }

        if let level = value("LLMPROXY_LOG_LEVEL", "LOG_LEVEL") {
            if let parsed = LoggingConfig.Level(rawValue: level.value.lowercased()) {
                logging.level = parsed
            } else {
                problems.append(
                    ConfigProblem(
                        path: "$\(level.name)", message: "must be one of \(LoggingConfig.Level.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(level.value)\")"))
            }
        }
        if let format = value("LLMPROXY_LOG_FORMAT") {
            if let parsed = LoggingConfig.Format(rawValue: format.value.lowercased()) {
                logging.format = parsed
            } else {
                problems.append(ConfigProblem(path: "$\(format.name)", message: "must be auto, json or text (got \"\(format.value)\")"))
            }
        }

        if let on = flag(value("LLMPROXY_DISCOVERY")) { discovery.localEngines = on }
        if let url = value("OLLAMA_BASE_URL") { discovery.ollamaURL = url.value }
        if value("VLLM_HOST") != nil || value("VLLM_PORT") != nil {
            let host = value("VLLM_HOST")?.value ?? "127.0.0.1"
            let port = portNumber(value("VLLM_PORT")) ?? 8000
            discovery.vllmURL = host.contains("://") ? host : "http://\(host):\(port)"
        }
        if let host = value("LMSTUDIO_API_HOST") {
            discovery.lmStudioURL = host.value.contains("://") ? host.value : "http://\(host.value)"
        }
        if let port = portNumber(value("LLAMA_CPP_PORT")) { discovery.llamaCppURL = "http://127.0.0.1:\(port)" }

        if let targets = value("TARGET_URLS") {
            targetURLs += targets.value.split(separator: ",").compactMap { TargetURL(spec: String($0)) }
        }

        for (type, keyName, urlName) in [
            (ProviderType.openai, "OPENAI_API_KEY", "OPENAI_BASE_URL"),
            (.anthropic, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
            (.gemini, "GEMINI_API_KEY", "GEMINI_BASE_URL"),
        ] {
            guard let key = value(keyName) else { continue }
            var baseURL = value(urlName)?.value ?? type.defaultBaseURL!
            while baseURL.hasSuffix("/") { baseURL.removeLast() }
            let taken = Set(providers.map(\.name))
            let name = taken.contains(type.rawValue) ? "\(type.rawValue)-env" : type.rawValue
            var provider = ProviderConfig(name: name, type: type, baseURL: baseURL)
            provider.apiKeys = [WeightedKey(key: key.value)]
            providers.append(provider)
        }

        // The edge seed's per-client rate limit: RATE_LIMIT_ENABLED turns it on with
        // RATE_LIMIT_RPM (default 1000) and RATE_LIMIT_BURST (default 100); false turns off
        // whatever limits.ip the file set.
        if let enabled = flag(value("RATE_LIMIT_ENABLED")) {
            if enabled {
                limits.ip.requestsPerMinute = number(value("RATE_LIMIT_RPM"), as: Int.self) ?? limits.ip.requestsPerMinute ?? 1000
                limits.ip.burst = number(value("RATE_LIMIT_BURST"), as: Int.self) ?? limits.ip.burst ?? 100
            } else {
                limits.ip = RateRule()
            }
        }
        // TLS: our LLMPROXY_TLS_* names, and the edge seed's ENABLE_TLS with TLS_CERT_PATH and
        // TLS_KEY_PATH (certificate files: https mode).
        if let cert = value("LLMPROXY_TLS_CERT", "TLS_CERT_PATH") { tls.certFile = cert.value }
        if let key = value("LLMPROXY_TLS_KEY", "TLS_KEY_PATH") { tls.keyFile = key.value }
        if let enabled = flag(value("ENABLE_TLS")) {
            if enabled, !tls.isEnabled { tls.mode = .https }
            if !enabled { tls.mode = .localHTTP }
        }
        if let mode = value("LLMPROXY_TLS_MODE") {
            if let parsed = TLSMode(rawValue: mode.value) {
                tls.mode = parsed
            } else {
                problems.append(ConfigProblem(path: "$\(mode.name)", message: "must be one of \(TLSMode.names) (got \"\(mode.value)\")"))
            }
        }
        if let port = portNumber(value("LLMPROXY_HTTPS_PORT")) { tls.httpsPort = port }
        tracing.apply(
            env, flag: { name in flag((name, env[name] ?? "")) },
            problem: { name, message in problems.append(ConfigProblem(path: "$\(name)", message: message)) },
            warn: { warnings.append($0) })
        if !problems.isEmpty { throw ConfigError(problems) }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
