/// One rate rule: requests per minute with a burst, tokens per minute, requests in flight.
/// Every field is optional; an unset field limits nothing.
package struct RateRule: Sendable, Equatable {
    package var requestsPerMinute: Int?
    /// Requests admitted at once from a full bucket. Default: `requests_per_minute` (a whole
    /// minute's allowance may be spent at once, then it refills evenly).
    package var burst: Int?
    /// Tokens (prompt + completion) per minute, charged up front from the request's estimate
    /// and settled with the real usage.
    package var tokensPerMinute: Int?
    /// Requests in flight at once.
    package var concurrency: Int?

    package init(requestsPerMinute: Int? = nil, burst: Int? = nil, tokensPerMinute: Int? = nil, concurrency: Int? = nil) {
        self.requestsPerMinute = requestsPerMinute
        self.burst = burst
        self.tokensPerMinute = tokensPerMinute
        self.concurrency = concurrency
    }

    package var isEmpty: Bool { requestsPerMinute == nil && tokensPerMinute == nil && concurrency == nil }
}

/// `limits:` — rate limits by client address, client key, key × model and model.
package struct LimitsConfig: Sendable, Equatable {
    /// Per client address (after `server.trusted_proxies`). The edge seed's
    /// `RATE_LIMIT_ENABLED`/`RATE_LIMIT_RPM`/`RATE_LIMIT_BURST` set this one. Default none.
    package var ip = RateRule()
    /// Per client key, for keys without limits of their own (a managed key's `limits`
    /// replace these fields for that key). Default none.
    package var key = RateRule()
    /// Per client key and model. Default none.
    package var keyModel = RateRule()
    /// Per model, all clients together: model name or pattern → rule, first match wins.
    package var models: [ModelRateRule] = []
    /// Per provider, all clients together (its quota with the vendor): provider name → rule.
    /// A provider at its limit is passed over for another of the route's providers with room.
    package var providers: [String: RateRule] = [:]
    /// How instances sharing PostgreSQL count rates and concurrency. Default ``AcrossInstances/split``.
    package var acrossInstances = AcrossInstances.split
    /// Output tokens assumed for a request that names no `max_tokens` (or
    /// `max_completion_tokens`, `max_output_tokens`) when it is charged up front. Default 1024.
    package var defaultOutputTokens = 1024

    package init() {}

    package var isEmpty: Bool { ip.isEmpty && key.isEmpty && keyModel.isEmpty && models.isEmpty && providers.isEmpty }
}

/// `limits.across_instances`.
package enum AcrossInstances: String, Sendable, Equatable, CaseIterable {
    /// Each of N live instances enforces its part (K / N) of every limit: the cluster
    /// admits what one instance would. Best behind a load balancer that spreads requests.
    case split
    /// Each instance enforces the whole limit: N instances admit up to N × K. For load
    /// balancers that pin each client to one instance.
    case each
}

package struct ModelRateRule: Sendable, Equatable {
    package var pattern: String
    package var rule: RateRule

    package init(pattern: String, rule: RateRule) {
        self.pattern = pattern
        self.rule = rule
    }
}

/// A token and/or money budget per period (`day`, `month` or `total`).
package struct BudgetConfig: Sendable, Equatable {
    package var tokens: Int64?
    package var costUSD: Double?
    /// `day`, `month` (UTC calendar) or `total`. Default `month`.
    package var period = "month"

    package init(tokens: Int64? = nil, costUSD: Double? = nil, period: String = "month") {
        self.tokens = tokens
        self.costUSD = costUSD
        self.period = period
    }
}

/// `budgets:` — budgets per key owner (keys carry their own in their `limits`).
package struct BudgetsConfig: Sendable, Equatable {
    /// Owner (managed keys' user name) → budget over all their keys.
    package var owners: [String: BudgetConfig] = [:]
    /// Where a streamed answer is cut off, as a share of its budget: a stream whose generated
    /// output (estimated as it passes) would take a key's or owner's spending past
    /// `stream_cutoff` × the budget is ended there, with a `budget_exceeded` error event in the
    /// client's dialect, and its upstream request cancelled. Default 1 (at the budget); 0 never
    /// cuts (a stream then finishes, and spending may pass the budget by what it generated
    /// beyond its reservation).
    package var streamCutoff: Double = 1

    package init() {}
}

/// `pricing:` — what models cost, for the cost of every request and money budgets.
package struct PricingConfig: Sendable, Equatable {
    package struct Entry: Sendable, Equatable {
        package var pattern: String
        /// US dollars per million tokens.
        package var input: Double
        package var output: Double
        package var cachedInput: Double?
        package var reasoning: Double?

        package init(pattern: String, input: Double, output: Double, cachedInput: Double? = nil, reasoning: Double? = nil) {
            self.pattern = pattern
            self.input = input
            self.output = output
            self.cachedInput = cachedInput
            self.reasoning = reasoning
        }
    }

    /// Use the built-in prices of well-known OpenAI, Anthropic and Gemini models after the
    /// configured ones. Default true.
    package var builtIn = true
    /// Model name or pattern → price, before the built-in list.
    package var models: [Entry] = []

    package init() {}
}

/// `security:` — who may reach the proxy routes, and what every answer carries.
package struct SecurityConfig: Sendable, Equatable {
    /// Client networks allowed on the proxy routes (CIDR). Default empty: every address.
    package var allowIPs: [String] = []
    /// Client networks refused on the proxy routes (CIDR), checked before the allow list and
    /// before anything else. Default none.
    package var denyIPs: [String] = []
    /// Browser origins allowed to call the proxy routes (CORS; `*` for any, without
    /// credentials). Default none: no CORS headers, preflights refused.
    package var corsOrigins: [String] = []
    /// `X-Content-Type-Options: nosniff` and friends on every answer. Default true.
    package var securityHeaders = true
    /// The automatic block list (on by default).
    package var autoBlock = AutoBlockConfig()

    package init() {}
}

/// `security.auto_block:` — failed authentication, intrusion probes and scans of unknown paths
/// add to a per-address score that halves every `half_life` seconds; at `threshold` the
/// address is blocked for `block_seconds`, twice as long at each repeat, at most
/// `max_block_seconds`. The defaults need dozens of failures or probes within minutes.
package struct AutoBlockConfig: Sendable, Equatable {
    /// Default true.
    package var enabled = true
    /// Default 50 (fifty failed authentications, or twenty probes, within minutes).
    package var threshold = 50.0
    /// Seconds for a score to halve. Default 300.
    package var halfLife = 300.0
    /// Seconds a first block lasts. Default 900.
    package var blockSeconds = 900.0
    /// Longest block. Default 86400.
    package var maxBlockSeconds = 86_400.0
    /// Networks never blocked automatically (CIDR). Default none: loopback is treated like
    /// any other address; list `127.0.0.0/8` and `::1` to exempt it.
    package var exempt: [String] = []

    package init() {}
}

/// `shedding:` — refuse new proxied requests (503, `Retry-After`) before doing any work
/// when the gateway is overloaded. Each threshold is off at 0 (the default).
package struct SheddingConfig: Sendable, Equatable {
    /// Proxied requests in flight at once.
    package var maxInFlight = 0
    /// Resident memory, in MiB (sampled once a second).
    package var maxMemoryMB = 0
    /// Process CPU use, in percent of one core (sampled once a second; 200 = two cores busy).
    package var maxCPUPercent = 0.0
    /// Seconds clients are told to wait (`Retry-After`). Default 1.
    package var retryAfter = 1

    package init() {}

    package var isEnabled: Bool { maxInFlight > 0 || maxMemoryMB > 0 || maxCPUPercent > 0 }
}
