/// One proxied request, as analytics keep it. Times are milliseconds since 1970.
public struct RequestEvent: Sendable, Equatable {
    public var requestID: String
    public var keyID: String?
    public var username: String?
    public var startMs: Int64
    public var endMs: Int64
    public var status: Int
    public var success: Bool
    public var model: String?
    public var route: String?
    public var upstream: String?
    public var dialect: String?
    public var stream: Bool
    public var ttfbMs: Double?
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var totalTokens: Int?
    public var bytesIn: Int
    public var bytesOut: Int
    public var errorCode: String?

    public init(requestID: String, keyID: String?, username: String?, startMs: Int64, endMs: Int64, status: Int, success: Bool,
                model: String?, route: String?, upstream: String?, dialect: String?, stream: Bool, ttfbMs: Double?,
                promptTokens: Int?, completionTokens: Int?, totalTokens: Int?, bytesIn: Int, bytesOut: Int, errorCode: String?) {
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
public struct UsageSummary: Sendable, Equatable {
    /// The group's value (key id, model, upstream or day `YYYY-MM-DD`); nil for "all".
    public var group: String?
    public var requests: Int
    public var failures: Int
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    public var p50Ms: Double?
    public var p95Ms: Double?

    public init(group: String?, requests: Int, failures: Int, promptTokens: Int, completionTokens: Int, totalTokens: Int, p50Ms: Double?, p95Ms: Double?) {
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
