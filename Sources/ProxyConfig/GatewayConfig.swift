/// The whole gateway configuration: an immutable value built from YAML and the environment,
/// validated as a whole before it is used, and swapped atomically on reload.
///
/// Field names follow the YAML keys (snake_case there, camelCase here). Every default is
/// documented beside its field so `config check` and the docs agree.
package struct GatewayConfig: Sendable, Equatable {
    package var server = ServerConfig()
    package var upstream = UpstreamClientConfig()
    package var auth = AuthConfig()
    package var providers: [ProviderConfig] = []
    package var routing = RoutingConfig()
    package var discovery = DiscoveryConfig()
    package var logging = LoggingConfig()
    package var tracing = TracingConfig()
    package var database = DatabaseConfig()
    package var admin = AdminConfig()
    package var limits = LimitsConfig()
    package var budgets = BudgetsConfig()
    package var pricing = PricingConfig()
    package var security = SecurityConfig()
    package var shedding = SheddingConfig()
    package var tls = TLSConfig()
    package var tunnel = TunnelConfig()
    package var resilience = ResilienceConfig()
    /// The exact response cache (`cache:`). Off by default.
    package var cache = CacheConfig()
    /// OpenAI-compatible upstreams given as `TARGET_URLS` (`url1,url2|key`): their models are
    /// learnt from each upstream's `/models` list.
    package var targetURLs: [TargetURL] = []
    /// Non-fatal remarks found while loading (for example keys accepted for compatibility
    /// that have no effect yet). `config check` prints them.
    package var warnings: [String] = []

    package init() {}
}

package struct ServerConfig: Sendable, Equatable {
    /// Address to bind. Default 127.0.0.1: the gateway is reachable from this machine only.
    package var host = "127.0.0.1"
    /// Port to bind. Default 8080.
    package var port = 8080
    /// Bind to a non-loopback address even though no client key is configured. Default false:
    /// an open gateway on a public address would let anyone spend the upstream keys.
    package var allowUnauthenticatedPublicBind = false
    /// Largest request body accepted, in bytes. Default 10 MiB (`MAX_REQUEST_SIZE`).
    package var maxRequestSize = 10_485_760
    /// Seconds in-flight requests and streams get to finish after SIGTERM/SIGINT. Default 30.
    package var drainTimeout = 30.0
    /// Paths served without a client key. Default: the health endpoints and `/metrics`.
    package var publicPaths: [String] = ["/health", "/health/live", "/health/ready", "/metrics"]
    /// Serve Prometheus metrics at `/metrics` (`ENABLE_METRICS`). Default true.
    package var metrics = true
    /// Whether `/health*` needs a client key too (`AUTH_HEALTH_CHECK`). Default false.
    package var authHealthCheck = false
    /// Response headers removed before the response reaches the client.
    package var responseHeaderFilter = ResponseHeaderFilterConfig.off
    /// Seconds a client has to send a complete request head, counted from the connection's
    /// start or the end of the previous response. Default 10 (slow-header attacks).
    package var requestHeadTimeout = 10.0
    /// Seconds a request body may go without a byte arriving. Default 30.
    package var requestBodyTimeout = 30.0
    /// Seconds an idle keep-alive connection is kept open between requests. Default 75.
    package var keepAliveTimeout = 75.0
    /// Client connections held open at once; past it new ones are closed at accept.
    /// Default 8192 (the open-file limit is raised to its hard limit at start).
    package var maxConnections = 8192
    /// Networks of reverse proxies whose `X-Forwarded-For` names the real client (CIDR).
    /// Default none: the peer address is the client.
    package var trustedProxies: [String] = []
    /// Whether `/health` shows upstream details (URLs, errors, latencies) without a key.
    /// Default false: it then shows only the status; the details need a client key.
    package var publicHealthDetails = false

    package init() {}
}

/// Which upstream response headers the gateway strips.
///
package enum ResponseHeaderFilterConfig: Sendable, Equatable {
    /// Pass every end-to-end header through (default).
    case off
    /// Strip provider identification headers: `anthropic-*`, `openai-*`, `x-ratelimit*`,
    /// `x-request-id`, `request-id`, `cf-ray`, `cf-cache-status`, `via`, `x-robots-tag`.
    case providerHeaders
    /// Strip headers whose lowercased name equals or starts with one of these (a trailing `*`
    /// marks a prefix).
    case custom([String])
}

/// How the gateway talks to upstreams: one shared HTTP client for all of them.
///
package struct UpstreamClientConfig: Sendable, Equatable {
    /// Seconds to establish a connection (TCP + TLS). Default 10.
    package var connectTimeout = 10.0
    /// Seconds from sending the request until the response head arrives. Default 120: a large
    /// completion can take that long before the first byte (`SERVER_TIMEOUT_SECONDS`).
    package var firstByteTimeout = 120.0
    /// Seconds without any byte from the upstream while a response streams. Default 60.
    package var idleTimeout = 60.0
    /// Keep-alive connections per upstream host. Default 256 (AsyncHTTPClient's default is 8,
    /// which throttles a gateway under load).
    package var maxConnectionsPerHost = 256
    /// Extra PEM file of CA certificates trusted for upstream TLS, beside the system store.
    package var caFile: String?
    /// Deprecated, without effect: every proxied request now goes through the one proxy
    /// engine and its connection pool, plain and TLS alike. Still accepted so existing files
    /// load; the gateway warns at start when it is set to false.
    package var fastPath = true

    package init() {}
}

package struct AuthConfig: Sendable, Equatable {
    /// Client keys accepted on every route: plain keys, `sha256:<hex>` or a 64-hex SHA-256.
    package var keys: [String] = []

    package init() {}
}

/// Where managed keys, request events and settings are kept.
package struct DatabaseConfig: Sendable, Equatable {
    /// Keep managed keys and analytics. Default true; false runs the gateway on its
    /// configuration file alone (no admin API, no analytics).
    package var enabled = true
    /// SQLite file used when no `url` is set; created with its folder on first start.
    /// Default `./data/llmproxy.sqlite`.
    package var path = "./data/llmproxy.sqlite"
    /// PostgreSQL URL (`postgres://user:password@host:5432/db`, `DATABASE_URL`): several
    /// gateway instances then share keys and analytics.
    package var url: String?
    /// Request events held in memory for the background writer. Default 100,000; past it
    /// events are dropped (and counted), never the requests.
    package var eventQueueLimit = 100_000
    /// Days request events are kept; older ones are deleted in the background. Default 90;
    /// 0 keeps them forever.
    package var eventRetentionDays = 90.0

    package init() {}
}

/// The admin API (`/auth/*`, `/api/*`) and web UI (`/admin`).
package struct AdminConfig: Sendable, Equatable {
    /// Serve the admin API and UI. Default true (needs the database).
    package var enabled = true
    /// Client networks allowed to reach the admin routes (CIDR, e.g. `10.0.0.0/8`,
    /// `::1/128`). Default empty: any address that can reach the listener.
    package var allowCIDRs: [String] = []
    /// Client networks refused on the admin routes (CIDR), before the allow list. Default none.
    package var denyCIDRs: [String] = []
    /// Origins allowed to call the admin API from a browser (CORS). Default none.
    package var corsOrigins: [String] = []
    /// HS256 secret for admin session tokens (`LLMPROXY_JWT_SECRET`, `JWT_SECRET`). Default:
    /// generated once and kept in the database.
    package var jwtSecret: String?
    /// Admin user name and password (`LLMPROXY_ADMIN_USER`/`LLMPROXY_ADMIN_PASSWORD`, or
    /// `AUTH_USERNAME`/`AUTH_PASSWORD`). Default: user `admin` with a password generated on
    /// first start, printed once, and kept only as a hash.
    package var username: String?
    package var password: String?
    /// The admin password as a bcrypt hash instead (`LLMPROXY_ADMIN_PASSWORD_HASH`; make one
    /// with `llm-proxy hash-password`): no plaintext in the file or the environment, and no
    /// hashing at start. User `admin` unless `username` says otherwise.
    package var passwordHash: String?
    /// Hours an admin session lasts. Default 24.
    package var sessionHours = 24.0

    package init() {}

    /// `$2a$`, `$2b$` or `$2y$` (PHP's and htpasswd's name for `$2b$`), a two-digit cost
    /// 04–16 (above that one sign-in takes seconds and holds the bcrypt thread), `$`, then 53
    /// characters of bcrypt's base 64 (salt and checksum).
    package static func isBcryptHash(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func digit(_ byte: UInt8) -> Int? { byte >= 0x30 && byte <= 0x39 ? Int(byte - 0x30) : nil }
        guard bytes.count == 60, bytes[0] == 0x24, bytes[1] == 0x32, [0x61, 0x62, 0x79].contains(bytes[2]), bytes[3] == 0x24, bytes[6] == 0x24,
            let tens = digit(bytes[4]), let ones = digit(bytes[5]), (4...16).contains(tens * 10 + ones)
        else { return false }
        return bytes[7...].allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x2e || byte == 0x2f
        }
    }

    /// User names (admins and key owners): 3–50 of `[A-Za-z0-9_.-]`.
    package static func isValidUsername(_ name: String) -> Bool {
        (3...50).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x5f || byte == 0x2e || byte == 0x2d
            }
    }
}

/// Model aliases, and the model and provider used when a request does not decide them.
///
package struct RoutingConfig: Sendable, Equatable {
    /// Model aliases: the client's name → the model name sent upstream.
    package var aliases: [String: String] = [:]
    /// Model used when a request names none, or names one that no rule matches.
    package var defaultModel: String?
    /// Provider used when no rule matches (by `name`).
    package var defaultProvider: String?
    /// Models tried in order when every endpoint of a model fails or refuses:
    /// `{claude-sonnet-4-5: [gpt-4.1, gemini-2.5-pro]}`. Each is routed as if the client had
    /// asked for it (translated when its provider speaks another dialect).
    package var fallbacks: [String: [String]] = [:]
    /// Also fall back when the upstream says the prompt exceeds the model's context window
    /// (a 400 such as OpenAI's `context_length_exceeded`). Default false.
    package var fallbackOnContextLength = false
    /// How a request picks among the endpoints of its model (`routing.balancing`, and per
    /// provider `providers[].balancing` for the routes it leads). Default weighted.
    package var balancing = Balancing.weighted
    /// Prompt-cache affinity (`routing.affinity`, per provider `providers[].affinity`).
    /// Default off.
    package var affinity = Affinity.off

    package init() {}
}

package struct DiscoveryConfig: Sendable, Equatable {
    /// Probe the usual local engines (Ollama, vLLM, LM Studio, llama.cpp). Default true.
    package var localEngines = true
    /// Seconds between discovery rounds and model-list refreshes. Default 30.
    package var interval = 30.0
    package var ollamaURL = "http://127.0.0.1:11434"
    package var vllmURL = "http://127.0.0.1:8000"
    package var lmStudioURL = "http://127.0.0.1:1234"
    package var llamaCppURL = "http://127.0.0.1:8080"

    package init() {}
}

package struct LoggingConfig: Sendable, Equatable {
    package enum Format: String, Sendable, Equatable, CaseIterable {
        case auto, json, text

        /// `auto` decided for the process's standard output: text for a person at a
        /// terminal, JSON for a collector reading a pipe or a file.
        package func resolved(isTerminal: Bool) -> Format {
            self == .auto ? (isTerminal ? .text : .json) : self
        }
    }
    package enum Level: String, Sendable, Equatable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }
    /// `auto` (default): human-readable lines when standard output is a terminal, JSON lines
    /// otherwise. `json`: one JSON object per line. `text`: human-readable lines.
    package var format = Format.auto
    /// Minimum level of application logs. Default `info`.
    package var level = Level.info
    /// One line per request (id, route, upstream, status, durations, bytes). Default true.
    package var requests = true
    /// Levels per logger, over `level`: `{llmproxy.tunnel: debug, llmproxy.lifecycle: warning}`.
    /// A name covers the loggers under it (`llmproxy.tunnel` covers `llmproxy.tunnel.session`);
    /// the longest name that matches wins.
    package var levels: [String: Level] = [:]

    /// The level of the logger `label`: the longest `levels` name that is it or a parent of
    /// it, else `level`.
    package func level(for label: String) -> Level {
        var best: (length: Int, level: Level)?
        for (name, level) in levels where label == name || label.hasPrefix(name + ".") {
            if name.count > (best?.length ?? -1) { best = (name.count, level) }
        }
        return best?.level ?? self.level
    }

    package init() {}
}

/// One `TARGET_URLS` entry: an OpenAI-compatible base URL and an optional key.
package struct TargetURL: Sendable, Equatable {
    package var url: String
    package var apiKey: String?

    package init(url: String, apiKey: String?) {
        self.url = url
        self.apiKey = apiKey
    }
}
