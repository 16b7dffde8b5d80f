import Yams

/// `resilience:` — what the gateway does when an upstream fails: how often and how long it
/// tries again before the first byte reaches the client, and when it stops sending to an
/// endpoint (the circuit breaker).
package struct ResilienceConfig: Sendable, Equatable {
    package var retries = RetryConfig()
    package var breaker = BreakerConfig()

    package init() {}
}

/// `resilience.retries` — retries happen only before the first response byte reached the
/// client, go to another endpoint first, and stop at whichever bound comes first.
package struct RetryConfig: Sendable, Equatable {
    /// Attempts per model, the first included (1 = never retry). Default 3.
    package var maxAttempts = 3
    /// Seconds from the request's arrival after which no new attempt starts. Default 30.
    package var totalTimeout = 30.0
    /// The longest `Retry-After` (429/503) the gateway waits out itself, in seconds; a longer
    /// one moves on to another endpoint, or reaches the client. Default 5.
    package var maxRetryAfter = 5.0
    /// Upstream statuses that are tried again (the upstream refused or failed before doing
    /// the work). Default 429, 500, 502, 503, 504, 529.
    package var onStatus: [Int] = [429, 500, 502, 503, 504, 529]

    package init() {}

    /// A route's own bounds (`providers[].retries`), over the section's.
    package struct Override: Sendable, Equatable {
        package var maxAttempts: Int?
        package var totalTimeout: Double?

        package init(maxAttempts: Int? = nil, totalTimeout: Double? = nil) {
            self.maxAttempts = maxAttempts
            self.totalTimeout = totalTimeout
        }
    }

    /// These bounds with a route's own over them.
    package func applying(_ override: Override?) -> RetryConfig {
        var config = self
        if let attempts = override?.maxAttempts { config.maxAttempts = attempts }
        if let total = override?.totalTimeout { config.totalTimeout = total }
        return config
    }
}

/// `resilience.breaker` — the circuit breaker of each endpoint (a provider's base URL with
/// one of its keys), fed by live outcomes.
package struct BreakerConfig: Sendable, Equatable {
    /// Off: only the active health check and `Retry-After` cool-downs take endpoints out.
    package var enabled = true
    /// Upstream-side failures in a row that open it. Default 3.
    package var consecutiveFailures = 3
    /// Share of failed requests in `window` that opens it (with at least `minimum_requests`). Default 0.5.
    package var failureRatio = 0.5
    package var minimumRequests = 20
    /// Seconds of outcomes the failure ratio looks at. Default 30.
    package var window = 30.0
    /// Seconds an opened breaker stays open before a probe; doubles at each reopening up to
    /// `max_open_for`. Defaults 10 and 300.
    package var openFor = 10.0
    package var maxOpenFor = 300.0
    /// Probe requests let through at once when half-open, and successes that close it. Defaults 1 and 2.
    package var probes = 1
    package var probeSuccesses = 2

    package init() {}
}

extension ResilienceConfig {
    static let knownKeys: Set<String> = ["retries", "breaker"]

    mutating func read(_ node: Node, at path: String, with reader: inout YAMLReader) {
        let map = reader.mapping(node, at: path, known: Self.knownKeys)
        if let node = map["retries"] {
            let retries = reader.mapping(node, at: "\(path).retries", known: ["max_attempts", "total_timeout", "max_retry_after", "on_status"])
            let at = "\(path).retries"
            self.retries.maxAttempts = reader.int(retries["max_attempts"], at: "\(at).max_attempts") ?? self.retries.maxAttempts
            self.retries.totalTimeout = reader.double(retries["total_timeout"], at: "\(at).total_timeout") ?? self.retries.totalTimeout
            self.retries.maxRetryAfter = reader.double(retries["max_retry_after"], at: "\(at).max_retry_after") ?? self.retries.maxRetryAfter
            if let list = retries["on_status"] {
                if let sequence = list.sequence {
                    self.retries.onStatus = sequence.enumerated().compactMap { index, item in reader.int(item, at: "\(at).on_status[\(index)]") }
                } else {
                    reader.problem("\(at).on_status", "must be a list of HTTP statuses, e.g. [429, 500, 502, 503, 504, 529] (got \(reader.describe(list)))")
                }
            }
        }
        if let node = map["breaker"] {
            let at = "\(path).breaker"
            let breaker = reader.mapping(
                node, at: at,
                known: ["enabled", "consecutive_failures", "failure_ratio", "minimum_requests", "window", "open_for", "max_open_for", "probes", "probe_successes"])
            var b = self.breaker
            b.enabled = reader.bool(breaker["enabled"], at: "\(at).enabled") ?? b.enabled
            b.consecutiveFailures = reader.int(breaker["consecutive_failures"], at: "\(at).consecutive_failures") ?? b.consecutiveFailures
            b.failureRatio = reader.double(breaker["failure_ratio"], at: "\(at).failure_ratio") ?? b.failureRatio
            b.minimumRequests = reader.int(breaker["minimum_requests"], at: "\(at).minimum_requests") ?? b.minimumRequests
            b.window = reader.double(breaker["window"], at: "\(at).window") ?? b.window
            b.openFor = reader.double(breaker["open_for"], at: "\(at).open_for") ?? b.openFor
            b.maxOpenFor = reader.double(breaker["max_open_for"], at: "\(at).max_open_for") ?? b.maxOpenFor
            b.probes = reader.int(breaker["probes"], at: "\(at).probes") ?? b.probes
            b.probeSuccesses = reader.int(breaker["probe_successes"], at: "\(at).probe_successes") ?? b.probeSuccesses
            self.breaker = b
        }
    }

    /// The problems of the section, each naming its key and the allowed values.
    func problems() -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func check(_ key: String, _ value: Double, _ range: ConfigRange) {
            if !range.contains(value) { problems.append(ConfigProblem(path: key, message: range.message(got: ConfigRange.text(value)))) }
        }
        check("resilience.retries.max_attempts", Double(retries.maxAttempts), .retryAttempts)
        check("resilience.retries.total_timeout", retries.totalTimeout, .retryTotal)
        check("resilience.retries.max_retry_after", retries.maxRetryAfter, .retryAfterWait)
        for (index, status) in retries.onStatus.enumerated() where !(408...599).contains(status) || (409...428).contains(status) {
            problems.append(
                ConfigProblem(
                    path: "resilience.retries.on_status[\(index)]",
                    message: "must be 408, 429 or a 5xx status: a 4xx the request caused fails the same way again (got \(status))"))
        }
        check("resilience.breaker.consecutive_failures", Double(breaker.consecutiveFailures), .breakerFailures)
        check("resilience.breaker.failure_ratio", breaker.failureRatio, .breakerRatio)
        check("resilience.breaker.minimum_requests", Double(breaker.minimumRequests), .breakerMinimum)
        check("resilience.breaker.window", breaker.window, .breakerWindow)
        check("resilience.breaker.open_for", breaker.openFor, .breakerOpen)
        check("resilience.breaker.max_open_for", breaker.maxOpenFor, .breakerOpen)
        if breaker.maxOpenFor < breaker.openFor {
            problems.append(ConfigProblem(path: "resilience.breaker.max_open_for", message: "must be at least open_for (\(ConfigRange.text(breaker.openFor)) seconds)"))
        }
        check("resilience.breaker.probes", Double(breaker.probes), .breakerProbes)
        check("resilience.breaker.probe_successes", Double(breaker.probeSuccesses), .breakerProbes)
        return problems
    }
}

extension ConfigRange {
    package static let retryAttempts = ConfigRange(1, 10, defaultValue: "3")
    package static let retryTotal = ConfigRange(0, 3600, includesLower: false, unit: "seconds", defaultValue: "30")
    package static let retryAfterWait = ConfigRange(0, 300, unit: "seconds", defaultValue: "5")
    package static let breakerFailures = ConfigRange(1, 1000, defaultValue: "3")
    package static let breakerRatio = ConfigRange(0, 1, includesLower: false, defaultValue: "0.5")
    package static let breakerMinimum = ConfigRange(1, 1_000_000, defaultValue: "20")
    package static let breakerWindow = ConfigRange(1, 3600, unit: "seconds", defaultValue: "30")
    package static let breakerOpen = ConfigRange(0.1, 86_400, unit: "seconds", defaultValue: "10 (open_for), 300 (max_open_for)")
    package static let breakerProbes = ConfigRange(1, 100, defaultValue: "1 (probes), 2 (probe_successes)")
    package static let fallbackModels = ConfigRange(1, 5, defaultValue: "none")
}
