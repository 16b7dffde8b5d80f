/// One proxied request, as analytics keep it. Times are milliseconds since 1970.
package struct RequestEvent: Sendable, Equatable {
    package var requestID: String
    package var keyID: String?
    package var username: String?
    package var startMs: Int64
    package var endMs: Int64
    package var status: Int
    package var success: Bool
    package var model: String?
    package var route: String?
    package var upstream: String?
    package var dialect: String?
    package var stream: Bool
    package var ttfbMs: Double?
    package var promptTokens: Int?
    package var completionTokens: Int?
    package var totalTokens: Int?
    package var bytesIn: Int
    package var bytesOut: Int
    package var errorCode: String?
    /// US dollars, from the tokens and the price table; nil when unpriced.
    package var costUSD: Double?
    /// Input tokens read from the provider's prompt cache (part of `promptTokens`).
    package var cachedTokens: Int?
    /// Output tokens spent reasoning (part of `completionTokens`).
    package var reasoningTokens: Int?

    package init(
        requestID: String, keyID: String?, username: String?, startMs: Int64, endMs: Int64, status: Int, success: Bool,
        model: String?, route: String?, upstream: String?, dialect: String?, stream: Bool, ttfbMs: Double?,
        promptTokens: Int?, completionTokens: Int?, totalTokens: Int?, bytesIn: Int, bytesOut: Int, errorCode: String?, costUSD: Double? = nil,
        cachedTokens: Int? = nil, reasoningTokens: Int? = nil
    ) {
        self.cachedTokens = cachedTokens
        self.reasoningTokens = reasoningTokens
        self.costUSD = costUSD
        self.requestID = requestID
        self.keyID = keyID
        self.username = username
        self.startMs = startMs
        self.endMs = endMs
        self.status = status
        self.success = success
        self.model = model
        self.route = route
        self.upstream = upstream
        self.dialect = dialect
        self.stream = stream
        self.ttfbMs = ttfbMs
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.errorCode = errorCode
    }
}

/// Aggregates over a set of events: one row of a summary.
package struct UsageSummary: Sendable, Equatable {
    /// The group's value (key id, model, upstream or day `YYYY-MM-DD`); nil for "all".
    package var group: String?
    package var requests: Int
    package var failures: Int
    package var promptTokens: Int
    package var completionTokens: Int
    package var totalTokens: Int
    package var p50Ms: Double?
    package var p95Ms: Double?
    /// US dollars over the group's priced events.
    package var costUSD: Double
    /// Prompt tokens the provider served from its prompt cache.
    package var cachedTokens: Int = 0

    /// The share of prompt tokens served from the provider's prompt cache (nil without
    /// prompt tokens): what prompt-cache affinity is for.
    package var cachedRatio: Double? { promptTokens > 0 ? Double(cachedTokens) / Double(promptTokens) : nil }

    package init(
        group: String?, requests: Int, failures: Int, promptTokens: Int, completionTokens: Int, totalTokens: Int, p50Ms: Double?, p95Ms: Double?,
        costUSD: Double = 0
    ) {
        self.costUSD = costUSD
        self.group = group
        self.requests = requests
        self.failures = failures
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens
        self.p50Ms = p50Ms
        self.p95Ms = p95Ms
    }
}
