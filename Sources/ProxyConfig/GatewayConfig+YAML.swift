import Foundation
import Yams

extension GatewayConfig {
    /// Parses a YAML document. Every problem found (syntax, unknown keys, wrong types) is
    /// collected and thrown together as a ``ConfigError``.
    package static func parse(yaml text: String) throws -> GatewayConfig {
        let (config, problems) = parseCollecting(yaml: text)
        if !problems.isEmpty { throw ConfigError(problems) }
        return config
    }

    /// Parses what it can and returns it with the problems found, so a loader can report
    /// these together with the validation of the rest.
    static func parseCollecting(yaml text: String) -> (GatewayConfig, [ConfigProblem]) {
        if let problem = complexKeyProblem(in: text) { return (GatewayConfig(), [problem]) }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            return (GatewayConfig(), [ConfigProblem(path: "(file)", message: "is not valid YAML: \(error)")])
        }
        var config = GatewayConfig()
        guard let root else { return (config, []) }
        var reader = YAMLReader()
        config.read(root, with: &reader)
        return (config, reader.problems)
    }

    /// Refuses a document that uses a list, a mapping or an alias as a mapping key while it has
    /// aliases, before Yams composes it. Yams checks each mapping's keys for duplicates by
    /// hashing them whole, aliases expanded: a key of nested aliases (a few hundred bytes, ten
    /// aliases per level) would take hours. No configuration key is anything but a plain name.
    /// Textual, so an alias or a `]:` inside a quoted string may refuse a harmless document
    /// too; the message says what to change.
    static func complexKeyProblem(in text: String) -> ConfigProblem? {
        // One pass over the bytes (a Regex took about a millisecond per short document).
        let bytes = Array(text.utf8)
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        func isBlank(_ byte: UInt8) -> Bool { byte == space || byte == tab || byte == newline || byte == cr }
        func startsToken(_ index: Int) -> Bool {
            index == 0 || isBlank(bytes[index - 1]) || [UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ",")].contains(bytes[index - 1])
        }
        func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
        /// Whether `: ` (a key's end) follows `index`, after spaces on the same line.
        func keyEndFollows(_ index: Int) -> Bool {
            var cursor = index
            while cursor < bytes.count, bytes[cursor] == space || bytes[cursor] == tab { cursor += 1 }
            return cursor < bytes.count && bytes[cursor] == UInt8(ascii: ":") && (cursor + 1 == bytes.count || isBlank(bytes[cursor + 1]))
        }
        var hasAlias = false, hasComplexKey = false
        for index in bytes.indices {
            switch bytes[index] {
            case UInt8(ascii: "*") where startsToken(index) && index + 1 < bytes.count && isNameByte(bytes[index + 1]):
                hasAlias = true
                var end = index + 1
                while end < bytes.count, isNameByte(bytes[end]) { end += 1 }
                if keyEndFollows(end) { hasComplexKey = true }
            case UInt8(ascii: "?") where startsToken(index) && (index + 1 == bytes.count || isBlank(bytes[index + 1])):
                hasComplexKey = true
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if keyEndFollows(index + 1) { hasComplexKey = true }
            default:
                break
            }
        }
        guard hasAlias, hasComplexKey else { return nil }
        return ConfigProblem(path: "(file)", message: "uses a list, a mapping or an alias (*name) as a mapping key: write every key as a plain name (aliases are fine as values)")
    }

    private static let topLevelKeys: Set<String> = [
        "server", "upstream", "auth", "providers", "routing", "discovery", "logging", "target_urls", "database", "admin",
        "limits", "budgets", "pricing", "security", "shedding", "tls", "tunnel", "resilience", "cache", "tracing",
        // the multi-provider seed's top-level keys
        "auth_keys", "health_check_interval", "cert_file", "private_key_file",
    ]

    private mutating func read(_ root: Node, with reader: inout YAMLReader) {
        let top = reader.mapping(root, at: "", known: Self.topLevelKeys)
        if let node = top["server"] { server.read(node, at: "server", with: &reader) }
        if let node = top["upstream"] { upstream.read(node, at: "upstream", with: &reader) }
        if let node = top["auth"] {
            let auth = reader.mapping(node, at: "auth", known: ["keys"])
            self.auth.keys = reader.strings(auth["keys"], at: "auth.keys") ?? []
        }
        if let keys = reader.strings(top["auth_keys"], at: "auth_keys") { auth.keys += keys }
        let seedInterval = reader.double(top["health_check_interval"], at: "health_check_interval")
        // The multi-provider seed's certificate files: HTTPS with them.
        if let cert = reader.string(top["cert_file"], at: "cert_file") { tls.certFile = cert }
        if let key = reader.string(top["private_key_file"], at: "private_key_file") { tls.keyFile = key }
        if tls.certFile != nil || tls.keyFile != nil { tls.mode = .https }
        if let node = top["tls"] { tls.read(node, at: "tls", with: &reader) }
        if let node = top["providers"] {
            if let sequence = node.sequence {
                for (index, item) in sequence.enumerated() {
                    if let provider = ProviderConfig.read(item, at: "providers[\(index)]", index: index, seedInterval: seedInterval, with: &reader) {
                        providers.append(provider)
                    }
                }
            } else {
                reader.problem("providers", "must be a list of providers (got \(reader.describe(node)))")
            }
        }
        if let node = top["routing"] { routing.read(node, at: "routing", with: &reader) }
        if let node = top["discovery"] { discovery.read(node, at: "discovery", with: &reader) }
        if let node = top["logging"] { logging.read(node, at: "logging", with: &reader) }
        if let node = top["database"] { database.read(node, at: "database", with: &reader) }
        if let node = top["admin"] { admin.read(node, at: "admin", with: &reader) }
        if let node = top["limits"] { limits.read(node, at: "limits", with: &reader) }
        if let node = top["budgets"] { budgets.read(node, at: "budgets", with: &reader) }
        if let node = top["pricing"] { pricing.read(node, at: "pricing", with: &reader) }
        if let node = top["security"] { security.read(node, at: "security", with: &reader) }
        if let node = top["shedding"] { shedding.read(node, at: "shedding", with: &reader) }
        if let node = top["tunnel"] { tunnel.read(node, at: "tunnel", with: &reader) }
        if let node = top["resilience"] { resilience.read(node, at: "resilience", with: &reader) }
        if let node = top["cache"] { cache.read(node, at: "cache", with: &reader) }
        if let node = top["tracing"] { tracing.read(node, at: "tracing", with: &reader) }
        if let urls = reader.strings(top["target_urls"], at: "target_urls") {
            targetURLs += urls.compactMap(TargetURL.init(spec:))
        }
    }
}

extension ServerConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(
            node, at: path,
            known: [
                "host", "port", "allow_unauthenticated_public_bind", "max_request_size", "drain_timeout",
                "public_paths", "auth_health_check", "response_header_filter", "metrics",
                "request_head_timeout", "request_body_timeout", "keep_alive_timeout", "max_connections", "trusted_proxies",
                "public_health_details",
            ])
        host = reader.string(map["host"], at: "\(path).host") ?? host
        port = reader.int(map["port"], at: "\(path).port") ?? port
        allowUnauthenticatedPublicBind = reader.bool(map["allow_unauthenticated_public_bind"], at: "\(path).allow_unauthenticated_public_bind") ?? allowUnauthenticatedPublicBind
        maxRequestSize = reader.int(map["max_request_size"], at: "\(path).max_request_size") ?? maxRequestSize
        drainTimeout = reader.double(map["drain_timeout"], at: "\(path).drain_timeout") ?? drainTimeout
        publicPaths = reader.strings(map["public_paths"], at: "\(path).public_paths") ?? publicPaths
        authHealthCheck = reader.bool(map["auth_health_check"], at: "\(path).auth_health_check") ?? authHealthCheck
        metrics = reader.bool(map["metrics"], at: "\(path).metrics") ?? metrics
        requestHeadTimeout = reader.double(map["request_head_timeout"], at: "\(path).request_head_timeout") ?? requestHeadTimeout
        requestBodyTimeout = reader.double(map["request_body_timeout"], at: "\(path).request_body_timeout") ?? requestBodyTimeout
        keepAliveTimeout = reader.double(map["keep_alive_timeout"], at: "\(path).keep_alive_timeout") ?? keepAliveTimeout
        maxConnections = reader.int(map["max_connections"], at: "\(path).max_connections") ?? maxConnections
        trustedProxies = reader.strings(map["trusted_proxies"], at: "\(path).trusted_proxies") ?? trustedProxies
        publicHealthDetails = reader.bool(map["public_health_details"], at: "\(path).public_health_details") ?? publicHealthDetails
        if let filter = map["response_header_filter"] {
            let filterPath = "\(path).response_header_filter"
            if filter.sequence != nil {
                responseHeaderFilter = .custom((reader.strings(filter, at: filterPath) ?? []).map { $0.lowercased() })
            } else if let word = reader.string(filter, at: filterPath) {
                switch word.lowercased() {
                case "off", "none", "false": responseHeaderFilter = .off
                case "provider", "provider_headers", "xllm", "true": responseHeaderFilter = .providerHeaders
                default: reader.problem(filterPath, "must be off, provider_headers or a list of header names (got \"\(word)\")")
                }
            }
        }
    }
}

extension UpstreamClientConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(
            node, at: path,
            known: [
                "connect_timeout", "first_byte_timeout", "idle_timeout", "max_connections_per_host", "ca_file", "fast_path",
            ])
        connectTimeout = reader.double(map["connect_timeout"], at: "\(path).connect_timeout") ?? connectTimeout
        firstByteTimeout = reader.double(map["first_byte_timeout"], at: "\(path).first_byte_timeout") ?? firstByteTimeout
        idleTimeout = reader.double(map["idle_timeout"], at: "\(path).idle_timeout") ?? idleTimeout
        maxConnectionsPerHost = reader.int(map["max_connections_per_host"], at: "\(path).max_connections_per_host") ?? maxConnectionsPerHost
        caFile = reader.string(map["ca_file"], at: "\(path).ca_file") ?? caFile
        fastPath = reader.bool(map["fast_path"], at: "\(path).fast_path") ?? fastPath
    }
}

extension YAMLReader {
    /// One of a fixed set of words; `choices` explains them in the error.
    mutating func choice<Value: RawRepresentable<String>>(_ node: Node?, at path: String, choices: String) -> Value? {
        guard let node, let text = string(node, at: path) else { return nil }
        guard let value = Value(rawValue: text) else {
            problem(path, "must be \(choices); got \"\(text)\"")
            return nil
        }
        return value
    }
}

extension Balancing {
    static func read(_ node: Node?, at path: String, with reader: inout YAMLReader) -> Balancing? {
        reader.choice(node, at: path, choices: "weighted (random by weight) or latency (the faster and less busy of two)")
    }
}

extension Affinity {
    static func read(_ node: Node?, at path: String, with reader: inout YAMLReader) -> Affinity? {
        reader.choice(node, at: path, choices: "off, session (by the x-llmproxy-session header) or prefix (by the header, else the prompt's start)")
    }
}

extension RoutingConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: ["aliases", "default_model", "default_provider", "fallbacks", "fallback_on_context_length", "balancing", "affinity"])
        aliases = reader.headers(map["aliases"], at: "\(path).aliases") ?? aliases
        defaultModel = reader.string(map["default_model"], at: "\(path).default_model") ?? defaultModel
        defaultProvider = reader.string(map["default_provider"], at: "\(path).default_provider") ?? defaultProvider
        fallbackOnContextLength = reader.bool(map["fallback_on_context_length"], at: "\(path).fallback_on_context_length") ?? fallbackOnContextLength
        balancing = Balancing.read(map["balancing"], at: "\(path).balancing", with: &reader) ?? balancing
        affinity = Affinity.read(map["affinity"], at: "\(path).affinity", with: &reader) ?? affinity
        if let node = map["fallbacks"] {
            if let pairs = node.mapping {
                for (key, value) in pairs {
                    guard let model = reader.string(key, at: "\(path).fallbacks") else { continue }
                    fallbacks[model] = reader.strings(value, at: "\(path).fallbacks.\(model)") ?? []
                }
            } else {
                reader.problem(
                    "\(path).fallbacks", "must map a model to the models tried after it, e.g. {claude-sonnet-4-5: [gpt-4.1, gemini-2.5-pro]} (got \(reader.describe(node)))")
            }
        }
    }
}

extension DiscoveryConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(
            node, at: path,
            known: [
                "local_engines", "interval", "ollama_url", "vllm_url", "lmstudio_url", "llamacpp_url",
            ])
        localEngines = reader.bool(map["local_engines"], at: "\(path).local_engines") ?? localEngines
        interval = reader.double(map["interval"], at: "\(path).interval") ?? interval
        ollamaURL = reader.string(map["ollama_url"], at: "\(path).ollama_url") ?? ollamaURL
        vllmURL = reader.string(map["vllm_url"], at: "\(path).vllm_url") ?? vllmURL
        lmStudioURL = reader.string(map["lmstudio_url"], at: "\(path).lmstudio_url") ?? lmStudioURL
        llamaCppURL = reader.string(map["llamacpp_url"], at: "\(path).llamacpp_url") ?? llamaCppURL
    }
}

extension LoggingConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: ["format", "level", "requests", "levels"])
        if let value = reader.string(map["format"], at: "\(path).format") {
            if let format = Format(rawValue: value.lowercased()) {
                self.format = format
            } else {
                reader.problem("\(path).format", "must be auto, json or text (got \"\(value)\")")
            }
        }
        if let value = reader.string(map["level"], at: "\(path).level") {
            if let level = Level(rawValue: value.lowercased()) {
                self.level = level
            } else {
                reader.problem("\(path).level", "must be one of \(Level.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(value)\")")
            }
        }
        requests = reader.bool(map["requests"], at: "\(path).requests") ?? requests
        if let node = map["levels"] {
            guard let mapping = node.mapping else {
                reader.problem("\(path).levels", "must be a mapping of logger names to levels, e.g. {llmproxy.tunnel: debug} (got \(reader.describe(node)))")
                return
            }
            for (key, value) in mapping {
                guard let name = key.string, !name.isEmpty else { continue }
                let at = "\(path).levels.\(name)"
                guard let text = reader.string(value, at: at) else { continue }
                if let level = Level(rawValue: text.lowercased()) {
                    levels[name] = level
                } else {
                    reader.problem(at, "must be one of \(Level.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(text)\")")
                }
            }
        }
    }
}

extension ProviderConfig {
    static let knownKeys: Set<String> = [
        "name", "type", "host", "base_url", "endpoint", "port", "tls", "weight", "api_key", "api_keys",
        "auth_keys", "models", "discover_models", "health_check", "health_check_interval", "headers", "mock",
        "responses_api", "openai_compatible", "balancing", "affinity", "cache", "retries", "fallbacks",
    ]

    static func read(_ node: Node, at path: String, index: Int, seedInterval: Double?, with reader: inout YAMLReader) -> ProviderConfig? {
        let map = reader.mapping(node, at: path, known: knownKeys)
        guard let typeName = reader.string(map["type"], at: "\(path).type") else {
            if map["type"] == nil, node.mapping != nil {
                reader.problem("\(path).type", "is required: one of \(ProviderType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return nil
        }
        guard let type = ProviderType(rawValue: typeName.lowercased()) else {
            reader.problem("\(path).type", "must be one of \(ProviderType.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(typeName)\")")
            return nil
        }
        let name = reader.string(map["name"], at: "\(path).name") ?? ""
        var provider = ProviderConfig(name: name, type: type, baseURL: "")
        provider.host = reader.string(map["host"], at: "\(path).host")

        // base_url (ours) or endpoint/port/tls (the seed's). OpenAI's base URL carries /v1.
        let baseURL = reader.string(map["base_url"], at: "\(path).base_url")
        let endpoint = reader.string(map["endpoint"], at: "\(path).endpoint")
        if let baseURL {
            if endpoint != nil { reader.problem("\(path).endpoint", "cannot be combined with base_url: keep one of them") }
            provider.baseURL = baseURL
        } else if let endpoint {
            let tls = reader.bool(map["tls"], at: "\(path).tls") ?? true
            let port = reader.int(map["port"], at: "\(path).port") ?? (tls ? 443 : 80)
            if !ConfigRange.port.contains(port) { reader.problem("\(path).port", ConfigRange.port.message(got: "\(port)")) }
            let defaultPort = (tls && port == 443) || (!tls && port == 80)
            let suffix = type == .openai ? "/v1" : ""
            provider.baseURL = "\(tls ? "https" : "http")://\(endpoint)\(defaultPort ? "" : ":\(port)")\(suffix)"
        } else {
            provider.baseURL = type.defaultBaseURL ?? ""
        }

        provider.weight = reader.double(map["weight"], at: "\(path).weight") ?? 1
        provider.balancing = Balancing.read(map["balancing"], at: "\(path).balancing", with: &reader)
        provider.affinity = Affinity.read(map["affinity"], at: "\(path).affinity", with: &reader)
        if let node = map["cache"] { provider.cache = CacheConfig.Override.read(node, at: "\(path).cache", with: &reader) }
        if let node = map["retries"] {
            let retries = reader.mapping(node, at: "\(path).retries", known: ["max_attempts", "total_timeout"])
            provider.retries = RetryConfig.Override(
                maxAttempts: reader.int(retries["max_attempts"], at: "\(path).retries.max_attempts"),
                totalTimeout: reader.double(retries["total_timeout"], at: "\(path).retries.total_timeout"))
        }
        provider.fallbacks = reader.strings(map["fallbacks"], at: "\(path).fallbacks") ?? []
        if let node = map["api_key"] {
            provider.apiKeys = (reader.strings(node, at: "\(path).api_key") ?? []).map { WeightedKey(key: $0) }
        }
        if let node = map["api_keys"] {
            if let sequence = node.sequence {
                for (i, item) in sequence.enumerated() {
                    let itemPath = "\(path).api_keys[\(i)]"
                    if item.mapping != nil {
                        let entry = reader.mapping(item, at: itemPath, known: ["key", "weight"])
                        guard let key = reader.string(entry["key"], at: "\(itemPath).key") else {
                            if entry["key"] == nil { reader.problem("\(itemPath).key", "is required") }
                            continue
                        }
                        provider.apiKeys.append(WeightedKey(key: key, weight: reader.double(entry["weight"], at: "\(itemPath).weight") ?? 1))
                    } else if let key = reader.string(item, at: itemPath) {
                        provider.apiKeys.append(WeightedKey(key: key))
                    }
                }
            } else {
                reader.problem("\(path).api_keys", "must be a list of {key, weight} entries (got \(reader.describe(node)))")
            }
        }
        provider.authKeys = reader.strings(map["auth_keys"], at: "\(path).auth_keys") ?? []
        provider.models = reader.strings(map["models"], at: "\(path).models") ?? []
        provider.discoverModels = reader.bool(map["discover_models"], at: "\(path).discover_models") ?? (type != .mock)
        provider.headers = reader.headers(map["headers"], at: "\(path).headers") ?? [:]
        provider.responsesAPI = reader.bool(map["responses_api"], at: "\(path).responses_api") ?? true
        provider.openAICompatible = reader.bool(map["openai_compatible"], at: "\(path).openai_compatible") ?? false
        if map["responses_api"] != nil, type != .openai {
            reader.problem("\(path).responses_api", "applies to openai providers only: remove it (other providers always get Responses requests translated)")
        }
        if map["openai_compatible"] != nil, type != .anthropic, type != .gemini {
            reader.problem("\(path).openai_compatible", "applies to anthropic and gemini providers only: remove it")
        }
        if let node = map["mock"] {
            let mock = reader.mapping(node, at: "\(path).mock", known: ["chunks", "chunk_delay_ms", "latency_ms"])
            provider.mock.chunks = reader.int(mock["chunks"], at: "\(path).mock.chunks") ?? provider.mock.chunks
            provider.mock.chunkDelayMilliseconds = reader.int(mock["chunk_delay_ms"], at: "\(path).mock.chunk_delay_ms") ?? provider.mock.chunkDelayMilliseconds
            provider.mock.latencyMilliseconds = reader.int(mock["latency_ms"], at: "\(path).mock.latency_ms") ?? provider.mock.latencyMilliseconds
        }
        provider.healthCheckInterval = reader.double(map["health_check_interval"], at: "\(path).health_check_interval") ?? seedInterval ?? 60
        if let node = map["health_check"] {
            let checkPath = "\(path).health_check"
            let check = reader.mapping(node, at: checkPath, known: ["method", "path", "body", "headers"])
            if let checkPathValue = reader.string(check["path"], at: "\(checkPath).path") {
                var health = HealthCheckConfig(path: checkPathValue)
                health.method = (reader.string(check["method"], at: "\(checkPath).method") ?? "GET").uppercased()
                health.body = reader.string(check["body"], at: "\(checkPath).body")
                health.headers = reader.headers(check["headers"], at: "\(checkPath).headers") ?? [:]
                provider.healthCheck = health
            } else if check["path"] == nil, node.mapping != nil {
                reader.problem("\(checkPath).path", "is required (for example /v1/models)")
            }
        }
        return provider
    }
}

extension ProviderType {
    /// The official API's base URL, in the form its SDK uses.
    package var defaultBaseURL: String? {
        switch self {
        case .openai: return "https://api.openai.com/v1"
        case .anthropic: return "https://api.anthropic.com"
        case .gemini: return "https://generativelanguage.googleapis.com"
        case .mock: return "mock://local"
        }
    }
}

extension TargetURL {
    /// Parses `url` or `url|key`. A bare host root means its `/v1`.
    init?(spec: String) {
        let trimmed = spec.trimmingSpaces()
        guard !trimmed.isEmpty else { return nil }
        // Empty parts kept: "|" and "|key" have an empty URL (reported by validation), not none.
        let parts = trimmed.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        var url = parts[0]
        while url.hasSuffix("/") { url.removeLast() }
        if let schemeEnd = url.range(of: "://"), !url[schemeEnd.upperBound...].contains("/") { url += "/v1" }
        self.init(url: url, apiKey: parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil)
    }
}

extension DatabaseConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: ["enabled", "path", "url", "event_queue_limit", "event_retention_days"])
        enabled = reader.bool(map["enabled"], at: "\(path).enabled") ?? enabled
        self.path = reader.string(map["path"], at: "\(path).path") ?? self.path
        url = reader.string(map["url"], at: "\(path).url") ?? url
        eventQueueLimit = reader.int(map["event_queue_limit"], at: "\(path).event_queue_limit") ?? eventQueueLimit
        eventRetentionDays = reader.double(map["event_retention_days"], at: "\(path).event_retention_days") ?? eventRetentionDays
    }
}

extension AdminConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(
            node, at: path, known: ["enabled", "allow_cidrs", "deny_cidrs", "cors_origins", "jwt_secret", "username", "password", "password_hash", "session_hours"])
        enabled = reader.bool(map["enabled"], at: "\(path).enabled") ?? enabled
        allowCIDRs = reader.strings(map["allow_cidrs"], at: "\(path).allow_cidrs") ?? allowCIDRs
        denyCIDRs = reader.strings(map["deny_cidrs"], at: "\(path).deny_cidrs") ?? denyCIDRs
        corsOrigins = reader.strings(map["cors_origins"], at: "\(path).cors_origins") ?? corsOrigins
        jwtSecret = reader.string(map["jwt_secret"], at: "\(path).jwt_secret") ?? jwtSecret
        username = reader.string(map["username"], at: "\(path).username") ?? username
        password = reader.string(map["password"], at: "\(path).password") ?? password
        passwordHash = reader.string(map["password_hash"], at: "\(path).password_hash") ?? passwordHash
        sessionHours = reader.double(map["session_hours"], at: "\(path).session_hours") ?? sessionHours
    }
}

extension TLSConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(
            node, at: path,
            known: [
                "mode", "https_port", "cert_file", "key_file", "domains", "email", "acme_directory", "acme_ca_file", "acme_dns_hook",
                "directory", "hsts_max_age", "http2",
            ])
        if let text = reader.string(map["mode"], at: "\(path).mode") {
            if let mode = TLSMode(rawValue: text) {
                self.mode = mode
            } else {
                reader.problem("\(path).mode", "must be one of \(TLSMode.names) (got \"\(text)\")")
            }
        }
        httpsPort = reader.int(map["https_port"], at: "\(path).https_port") ?? httpsPort
        certFile = reader.string(map["cert_file"], at: "\(path).cert_file") ?? certFile
        keyFile = reader.string(map["key_file"], at: "\(path).key_file") ?? keyFile
        domains = reader.strings(map["domains"], at: "\(path).domains") ?? domains
        email = reader.string(map["email"], at: "\(path).email") ?? email
        acmeDirectory = reader.string(map["acme_directory"], at: "\(path).acme_directory") ?? acmeDirectory
        acmeCAFile = reader.string(map["acme_ca_file"], at: "\(path).acme_ca_file") ?? acmeCAFile
        acmeDNSHook = reader.string(map["acme_dns_hook"], at: "\(path).acme_dns_hook") ?? acmeDNSHook
        directory = reader.string(map["directory"], at: "\(path).directory") ?? directory
        hstsMaxAge = reader.int(map["hsts_max_age"], at: "\(path).hsts_max_age") ?? hstsMaxAge
        http2 = reader.bool(map["http2"], at: "\(path).http2") ?? http2
    }
}

extension TunnelConfig {
    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(
            node, at: path,
            known: [
                "enabled", "host", "port", "key", "key_file", "allow_hosts", "allow_private_networks", "max_document_bytes",
                "max_response_bytes", "read_timeout", "total_timeout", "idle_timeout", "replay_window", "max_streams", "max_connections",
            ])
        enabled = reader.bool(map["enabled"], at: "\(path).enabled") ?? enabled
        host = reader.string(map["host"], at: "\(path).host") ?? host
        port = reader.int(map["port"], at: "\(path).port") ?? port
        key = reader.string(map["key"], at: "\(path).key") ?? key
        keyFile = reader.string(map["key_file"], at: "\(path).key_file") ?? keyFile
        allowHosts = reader.strings(map["allow_hosts"], at: "\(path).allow_hosts") ?? allowHosts
        allowPrivateNetworks = reader.bool(map["allow_private_networks"], at: "\(path).allow_private_networks") ?? allowPrivateNetworks
        maxDocumentBytes = reader.int(map["max_document_bytes"], at: "\(path).max_document_bytes") ?? maxDocumentBytes
        maxResponseBytes = reader.int(map["max_response_bytes"], at: "\(path).max_response_bytes") ?? maxResponseBytes
        readTimeout = reader.double(map["read_timeout"], at: "\(path).read_timeout") ?? readTimeout
        totalTimeout = reader.double(map["total_timeout"], at: "\(path).total_timeout") ?? totalTimeout
        idleTimeout = reader.double(map["idle_timeout"], at: "\(path).idle_timeout") ?? idleTimeout
        replayWindow = reader.double(map["replay_window"], at: "\(path).replay_window") ?? replayWindow
        maxStreams = reader.int(map["max_streams"], at: "\(path).max_streams") ?? maxStreams
        maxConnections = reader.int(map["max_connections"], at: "\(path).max_connections") ?? maxConnections
    }
}
