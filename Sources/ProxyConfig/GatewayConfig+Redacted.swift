import Yams

extension GatewayConfig {
    /// The effective configuration as YAML in the file's own schema, with every secret
    /// (upstream keys, client keys, secret-looking header values) replaced by `<redacted>`.
    package func redactedYAML() -> String {
        func map(_ pairs: [(String, Node?)]) -> Node {
            Node(pairs.compactMap { key, value in value.map { (Node(key), $0) } })
        }
        func list(_ items: [Node]) -> Node { Node(items) }
        func str(_ s: String) -> Node { Node(s, Tag(.str), .doubleQuoted) }
        func num(_ d: Double) -> Node { d == d.rounded() && abs(d) < 1e15 ? Node(String(Int(d))) : Node(String(d)) }
        func int(_ i: Int) -> Node { Node(String(i)) }
        func bool(_ b: Bool) -> Node { Node(b ? "true" : "false") }
        func cacheOverride(_ o: CacheConfig.Override) -> Node { map([("enabled", o.enabled.map(bool)), ("ttl", o.ttl.map(num))]) }
        let redacted = str("<redacted>")
        func rule(_ r: RateRule) -> Node? {
            r.isEmpty
                ? nil
                : map([
                    ("requests_per_minute", r.requestsPerMinute.map(int)), ("burst", r.burst.map(int)),
                    ("tokens_per_minute", r.tokensPerMinute.map(int)), ("concurrency", r.concurrency.map(int)),
                ])
        }
        func headers(_ h: [String: String]) -> Node {
            map(
                h.sorted { $0.key < $1.key }.map { name, value in
                    (name, Self.isSecretHeader(name) ? redacted : str(value))
                })
        }

        let filter: Node
        switch server.responseHeaderFilter {
        case .off: filter = Node("off")
        case .providerHeaders: filter = Node("provider_headers")
        case .custom(let names): filter = list(names.map(str))
        }
        let providerNodes = providers.map { p -> Node in
            map([
                ("name", str(p.name)),
                ("type", Node(p.type.rawValue)),
                ("host", p.host.map(str)),
                ("base_url", str(p.baseURL)),
                ("weight", num(p.weight)),
                ("balancing", p.balancing.map { str($0.rawValue) }),
                ("affinity", p.affinity.map { str($0.rawValue) }),
                ("cache", p.cache.map { cacheOverride($0) }),
                ("retries", p.retries.map { map([("max_attempts", $0.maxAttempts.map(int)), ("total_timeout", $0.totalTimeout.map(num))]) }),
                ("fallbacks", p.fallbacks.isEmpty ? nil : list(p.fallbacks.map(str))),
                ("api_keys", p.apiKeys.isEmpty ? nil : list(p.apiKeys.map { map([("key", redacted), ("weight", num($0.weight))]) })),
                ("auth_keys", p.authKeys.isEmpty ? nil : list(p.authKeys.map { _ in redacted })),
                ("models", p.models.isEmpty ? nil : list(p.models.map(str))),
                ("discover_models", bool(p.discoverModels)),
                ("responses_api", p.type == .openai && !p.responsesAPI ? bool(false) : nil),
                ("openai_compatible", p.openAICompatible ? bool(true) : nil),
                ("headers", p.headers.isEmpty ? nil : headers(p.headers)),
                (
                    "health_check",
                    p.healthCheck.map { check in
                        map([
                            ("method", Node(check.method)),
                            ("path", str(check.path)),
                            ("body", check.body.map(str)),
                            ("headers", check.headers.isEmpty ? nil : headers(check.headers)),
                        ])
                    }
                ),
                ("health_check_interval", num(p.healthCheckInterval)),
            ])
        }
        let root = map([
            (
                "server",
                map([
                    ("host", str(server.host)),
                    ("port", int(server.port)),
                    ("allow_unauthenticated_public_bind", bool(server.allowUnauthenticatedPublicBind)),
                    ("max_request_size", int(server.maxRequestSize)),
                    ("drain_timeout", num(server.drainTimeout)),
                    ("public_paths", list(server.publicPaths.map(str))),
                    ("auth_health_check", bool(server.authHealthCheck)),
                    ("metrics", bool(server.metrics)),
                    ("response_header_filter", filter),
                    ("request_head_timeout", num(server.requestHeadTimeout)),
                    ("request_body_timeout", num(server.requestBodyTimeout)),
                    ("keep_alive_timeout", num(server.keepAliveTimeout)),
                    ("max_connections", int(server.maxConnections)),
                    ("trusted_proxies", list(server.trustedProxies.map(str))),
                    ("public_health_details", bool(server.publicHealthDetails)),
                ])
            ),
            (
                "upstream",
                map([
                    ("connect_timeout", num(upstream.connectTimeout)),
                    ("first_byte_timeout", num(upstream.firstByteTimeout)),
                    ("idle_timeout", num(upstream.idleTimeout)),
                    ("max_connections_per_host", int(upstream.maxConnectionsPerHost)),
                    ("ca_file", upstream.caFile.map(str)),
                    ("fast_path", bool(upstream.fastPath)),
                ])
            ),
            ("auth", map([("keys", list(auth.keys.map { _ in redacted }))])),
            (
                "database",
                map([
                    ("enabled", bool(database.enabled)),
                    ("path", database.url == nil ? str(database.path) : nil),
                    ("url", database.url.map { str(Self.redactedURL($0)) }),
                    ("event_queue_limit", int(database.eventQueueLimit)),
                    ("event_retention_days", num(database.eventRetentionDays)),
                ])
            ),
            (
                "admin",
                map([
                    ("enabled", bool(admin.enabled)),
                    ("allow_cidrs", list(admin.allowCIDRs.map(str))),
                    ("deny_cidrs", admin.denyCIDRs.isEmpty ? nil : list(admin.denyCIDRs.map(str))),
                    ("cors_origins", list(admin.corsOrigins.map(str))),
                    ("jwt_secret", admin.jwtSecret == nil ? nil : redacted),
                    ("username", admin.username.map(str)),
                    ("password", admin.password == nil ? nil : redacted),
                    ("password_hash", admin.passwordHash == nil ? nil : redacted),
                    ("session_hours", num(admin.sessionHours)),
                ])
            ),
            ("providers", list(providerNodes)),
            ("target_urls", targetURLs.isEmpty ? nil : list(targetURLs.map { str($0.url + ($0.apiKey == nil ? "" : "|<redacted>")) })),
            (
                "routing",
                map([
                    ("aliases", routing.aliases.isEmpty ? nil : map(routing.aliases.sorted { $0.key < $1.key }.map { ($0.key, str($0.value)) })),
                    ("default_model", routing.defaultModel.map(str)),
                    ("default_provider", routing.defaultProvider.map(str)),
                    (
                        "fallbacks",
                        routing.fallbacks.isEmpty ? nil : map(routing.fallbacks.sorted { $0.key < $1.key }.map { ($0.key, list($0.value.map(str))) })
                    ),
                    ("fallback_on_context_length", routing.fallbackOnContextLength ? bool(true) : nil),
                    ("balancing", str(routing.balancing.rawValue)),
                    ("affinity", str(routing.affinity.rawValue)),
                ])
            ),
            (
                "discovery",
                map([
                    ("local_engines", bool(discovery.localEngines)),
                    ("interval", num(discovery.interval)),
                    ("ollama_url", str(discovery.ollamaURL)),
                    ("vllm_url", str(discovery.vllmURL)),
                    ("lmstudio_url", str(discovery.lmStudioURL)),
                    ("llamacpp_url", str(discovery.llamaCppURL)),
                ])
            ),
            (
                "logging",
                map([
                    ("format", Node(logging.format.rawValue)),
                    ("level", Node(logging.level.rawValue)),
                    ("requests", bool(logging.requests)),
                    ("levels", logging.levels.isEmpty ? nil : map(logging.levels.sorted { $0.key < $1.key }.map { ($0.key, Node($0.value.rawValue) as Node?) })),
                ])
            ),
            (
                "limits",
                limits.isEmpty && limits.defaultOutputTokens == 1024 && limits.acrossInstances == .split
                    ? nil
                    : map([
                        ("ip", rule(limits.ip)), ("key", rule(limits.key)), ("key_model", rule(limits.keyModel)),
                        ("models", limits.models.isEmpty ? nil : map(limits.models.map { ($0.pattern, rule($0.rule) ?? map([])) })),
                        (
                            "providers",
                            limits.providers.isEmpty ? nil : map(limits.providers.sorted { $0.key < $1.key }.map { ($0.key, rule($0.value) ?? map([])) })
                        ),
                        ("across_instances", Node(limits.acrossInstances.rawValue)),
                        ("default_output_tokens", int(limits.defaultOutputTokens)),
                    ])
            ),
            (
                "budgets",
                budgets.owners.isEmpty
                    ? nil
                    : map([
                        (
                            "owners",
                            map(
                                budgets.owners.sorted { $0.key < $1.key }.map { owner, budget in
                                    (owner, map([("tokens", budget.tokens.map { Node(String($0)) }), ("cost_usd", budget.costUSD.map(num)), ("period", Node(budget.period))]))
                                })
                        )
                    ])
            ),
            (
                "pricing",
                pricing.models.isEmpty && pricing.builtIn
                    ? nil
                    : map([
                        ("builtin", bool(pricing.builtIn)),
                        (
                            "models",
                            pricing.models.isEmpty
                                ? nil
                                : map(
                                    pricing.models.map { entry in
                                        (
                                            entry.pattern,
                                            map([
                                                ("input", num(entry.input)), ("output", num(entry.output)), ("cached_input", entry.cachedInput.map(num)),
                                                ("reasoning", entry.reasoning.map(num)),
                                            ])
                                        )
                                    })
                        ),
                    ])
            ),
            (
                "security",
                map([
                    ("allow_ips", security.allowIPs.isEmpty ? nil : list(security.allowIPs.map(str))),
                    ("deny_ips", security.denyIPs.isEmpty ? nil : list(security.denyIPs.map(str))),
                    ("cors_origins", security.corsOrigins.isEmpty ? nil : list(security.corsOrigins.map(str))),
                    ("security_headers", bool(security.securityHeaders)),
                    (
                        "auto_block",
                        map([
                            ("enabled", bool(security.autoBlock.enabled)), ("threshold", num(security.autoBlock.threshold)),
                            ("half_life", num(security.autoBlock.halfLife)), ("block_seconds", num(security.autoBlock.blockSeconds)),
                            ("max_block_seconds", num(security.autoBlock.maxBlockSeconds)),
                            ("exempt", security.autoBlock.exempt.isEmpty ? nil : list(security.autoBlock.exempt.map(str))),
                        ])
                    ),
                ])
            ),
            (
                "shedding",
                !shedding.isEnabled
                    ? nil
                    : map([
                        ("max_in_flight", int(shedding.maxInFlight)), ("max_memory_mb", int(shedding.maxMemoryMB)),
                        ("max_cpu_percent", num(shedding.maxCPUPercent)), ("retry_after", int(shedding.retryAfter)),
                    ])
            ),
            (
                "tls",
                !tls.isEnabled
                    ? nil
                    : map([
                        ("mode", Node(tls.mode.rawValue)), ("https_port", int(tls.httpsPort(serverPort: server.port))),
                        ("cert_file", tls.certFile.map(str)), ("key_file", tls.keyFile.map(str)),
                        ("domains", tls.domains.isEmpty ? nil : list(tls.domains.map(str))), ("directory", tls.directory.map(str)),
                        ("hsts_max_age", int(tls.effectiveHSTSMaxAge)), ("http2", bool(tls.http2)),
                    ])
            ),
            (
                "tunnel",
                !tunnel.enabled
                    ? nil
                    : map([
                        ("enabled", bool(true)), ("host", str(tunnel.host)), ("port", int(tunnel.port)),
                        ("key", tunnel.key == nil ? nil : redacted), ("key_file", tunnel.keyFile.map(str)),
                        ("allow_hosts", tunnel.allowHosts.isEmpty ? nil : list(tunnel.allowHosts.map(str))),
                        ("allow_private_networks", bool(tunnel.allowPrivateNetworks)),
                        ("max_document_bytes", int(tunnel.maxDocumentBytes)), ("max_response_bytes", int(tunnel.maxResponseBytes)),
                        ("read_timeout", num(tunnel.readTimeout)), ("total_timeout", num(tunnel.totalTimeout)),
                        ("idle_timeout", num(tunnel.idleTimeout)), ("replay_window", num(tunnel.replayWindow)),
                        ("max_streams", int(tunnel.maxStreams)), ("max_connections", int(tunnel.maxConnections)),
                    ])
            ),
            (
                "resilience",
                map([
                    (
                        "retries",
                        map([
                            ("max_attempts", int(resilience.retries.maxAttempts)), ("total_timeout", num(resilience.retries.totalTimeout)),
                            ("max_retry_after", num(resilience.retries.maxRetryAfter)), ("on_status", list(resilience.retries.onStatus.map(int))),
                        ])
                    ),
                    (
                        "breaker",
                        map([
                            ("enabled", bool(resilience.breaker.enabled)), ("consecutive_failures", int(resilience.breaker.consecutiveFailures)),
                            ("failure_ratio", num(resilience.breaker.failureRatio)), ("minimum_requests", int(resilience.breaker.minimumRequests)),
                            ("window", num(resilience.breaker.window)), ("open_for", num(resilience.breaker.openFor)),
                            ("max_open_for", num(resilience.breaker.maxOpenFor)), ("probes", int(resilience.breaker.probes)),
                            ("probe_successes", int(resilience.breaker.probeSuccesses)),
                        ])
                    ),
                ])
            ),
            (
                "tracing",
                !tracing.enabled && tracing == TracingConfig()
                    ? nil
                    : map([
                        ("enabled", bool(tracing.enabled)), ("endpoint", str(Self.redactedURL(tracing.endpoint))),
                        ("traces_endpoint", tracing.tracesEndpoint.map { str(Self.redactedURL($0)) }), ("sample_ratio", num(tracing.sampleRatio)),
                        ("parent_based", bool(tracing.parentBased)), ("service_name", str(tracing.serviceName)),
                        ("protocol", str(tracing.wireProtocol.rawValue)), ("export_interval", num(tracing.exportInterval)),
                        ("queue_size", int(tracing.queueSize)),
                    ])
            ),
            (
                "cache",
                map([
                    ("enabled", bool(cache.enabled)), ("ttl", num(cache.ttl)), ("max_bytes", int(cache.maxBytes)),
                    ("max_entry_bytes", int(cache.maxEntryBytes)), ("scope", str(cache.scope.rawValue)),
                    ("store", bool(cache.store)), ("models", cache.models.isEmpty ? nil : map(cache.models.map { ($0.pattern, cacheOverride($0.override)) })),
                ])
            ),
        ])
        return (try? Yams.serialize(node: root)) ?? ""
    }

    /// Header names whose values are credentials and must never be printed.
    package static func isSecretHeader(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["auth", "key", "token", "secret", "cookie", "password"].contains { lower.contains($0) }
    }

    /// A URL with its password replaced, for display.
    package static func redactedURL(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":<redacted>" + String(url[at...])
    }
}
