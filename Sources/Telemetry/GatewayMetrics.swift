import Dialects
import Prometheus
import ProxyCore
import Synchronization
import Upstreams

/// Prometheus metrics, created once at start so a request only increments existing objects
/// (no name formatting or registry lookup per request). Served at `/metrics`.
package final class GatewayMetrics: Sendable {
    package let registry = PrometheusCollectorRegistry()
    /// `llmproxy_requests_total{dialect, code}` by status class, indexed [dialect][class].
    private let requests: [[Counter]]
    private let duration: DurationHistogram
    private let firstByte: DurationHistogram
    /// `llmproxy_overhead_seconds`: the gateway's own time up to the response head.
    private let overhead: DurationHistogram
    private let bytesIn: Counter
    private let bytesOut: Counter
    private let inFlight: Gauge
    private let upstreamErrors: [ErrorCode: Counter]
    private let droppedEvents: Counter
    /// `llmproxy_cache_requests_total{result}`: hit, miss, bypass.
    private let cacheResults: [RequestRecord.CacheStatus: Counter]
    /// `llmproxy_cache_{stored,evictions,expired}_total`, advanced from the cache's own
    /// counts when the metrics are read (the cache counts under its lock; the request path
    /// touches no metric for them).
    private let cacheStored: Counter
    private let cacheEvictions: Counter
    private let cacheExpired: Counter
    private let cacheAdopted: Counter
    private let cacheOutboxDropped: Counter
    private let exportedCache = Mutex(ResponseCache.Stats())

    static let dialects = ["openai", "anthropic", "gemini", "none"]
    static let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"]
    /// The failures counted by `llmproxy_upstream_errors_total`, labelled by their code's name:
    /// every upstream-side code plus the client leaving.
    static let errorCodes = ErrorCode.all.filter { $0.isUpstreamFailure || $0 == .clientClosed }

    /// `llmproxy_events_queued`: analytics events waiting for the store.
    private let eventsQueued: Gauge
    /// `llmproxy_streams_active`: streamed answers under way.
    private let streams: Gauge
    /// Requests, tokens and cost by route, provider and model.
    private let routes: RouteMetrics

    /// - Parameter version: the binary's version, for `llmproxy_build_info{version}`.
    package init(version: String = "dev") {
        let registry = self.registry
        registry.makeGauge(descriptor: Self.name("build_info", "", "The running binary: always 1, its version as a label"), labels: [("version", version)]).set(to: 1)
        eventsQueued = registry.makeGauge(descriptor: Self.name("events_queued", "", "Analytics events waiting to be written to the store"))
        streams = registry.makeGauge(descriptor: Self.name("streams_active", "", "Streamed answers under way"))
        routes = RouteMetrics(registry: registry)
        requests = Self.dialects.map { dialect in
            Self.classes.map { code in
                registry.makeCounter(
                    descriptor: Self.name("requests", "total", "Requests answered, by client dialect and status class"),
                    labels: [("dialect", dialect), ("code", code)])
            }
        }
        let buckets: [Duration] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
            .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
        ]
        duration = registry.makeDurationHistogram(descriptor: Self.name("request_duration", "seconds", "Time from request to the last byte of the response"), buckets: buckets)
        firstByte = registry.makeDurationHistogram(descriptor: Self.name("upstream_first_byte", "seconds", "Time from request to the upstream's response head"), buckets: buckets)
        let fine: [Duration] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        overhead = registry.makeDurationHistogram(
            descriptor: Self.name("overhead", "seconds", "Time the gateway itself spent on a request up to its response head (upstream waits excluded)"), buckets: fine)
        bytesIn = registry.makeCounter(descriptor: Self.name("request_bytes", "total", "Request body bytes received"))
        bytesOut = registry.makeCounter(descriptor: Self.name("response_bytes", "total", "Response body bytes sent"))
        inFlight = registry.makeGauge(descriptor: Self.name("requests_in_flight", "", "Requests being served"))
        droppedEvents = registry.makeCounter(descriptor: Self.name("events_dropped", "total", "Analytics events dropped because the event queue was full"))
        cacheResults = Dictionary(
            uniqueKeysWithValues: [RequestRecord.CacheStatus.hit, .miss, .bypass].map { result in
                (
                    result,
                    registry.makeCounter(
                        descriptor: Self.name("cache_requests", "total", "Requests the response cache was asked about, by result"), labels: [("result", result.rawValue)])
                )
            })
        cacheStored = registry.makeCounter(descriptor: Self.name("cache_stored", "total", "Answers the response cache kept"))
        cacheEvictions = registry.makeCounter(descriptor: Self.name("cache_evictions", "total", "Answers dropped to fit cache.max_bytes"))
        cacheExpired = registry.makeCounter(descriptor: Self.name("cache_expired", "total", "Answers dropped when found past their time to live"))
        cacheAdopted = registry.makeCounter(descriptor: Self.name("cache_adopted", "total", "Answers brought over from the database's second level (cache.store)"))
        cacheOutboxDropped = registry.makeCounter(
            descriptor: Self.name("cache_outbox_dropped", "total", "Answers not written to the database's second level because its queue was full"))
        upstreamErrors = Dictionary(
            uniqueKeysWithValues: Self.errorCodes.map { code in
                (code, registry.makeCounter(descriptor: Self.name("upstream_errors", "total", "Upstream failures by kind"), labels: [("error", code.description)]))
            })
    }

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "llmproxy", metricName: metric, unitName: unit, helpText: help)
    }

    package func started() { inFlight.increment() }

    package func eventsDropped(_ count: Int = 1) { droppedEvents.increment(by: Int64(count)) }

    /// An address went on the automatic block list (`llmproxy_blocks_total{reason}`).
    package func blocked(reason: String) {
        registry.makeCounter(descriptor: Self.name("blocks", "total", "Addresses blocked automatically, by reason"), labels: [("reason", reason)]).increment()
    }

    /// An anomaly worth an alert (`llmproxy_anomalies_total{kind}`).
    package func anomaly(kind: String) {
        registry.makeCounter(descriptor: Self.name("anomalies", "total", "Anomalies detected (alerts only), by kind"), labels: [("kind", kind)]).increment()
    }

    /// A guard refused a request (`llmproxy_rejections_total{guard, reason}`): the reason is
    /// the refusal's error code (`rate_limited`, `budget_exceeded`, `invalid_api_key`, …), a
    /// closed set, so the label cannot grow with traffic.
    package func rejected(by guardName: String, reason: ErrorCode?) {
        registry.makeCounter(
            descriptor: Self.name("rejections", "total", "Requests refused by a guard, by guard and reason"),
            labels: [("guard", guardName), ("reason", reason?.description ?? "unknown")]
        ).increment()
    }

    /// A streamed answer's head went out.
    package func streamOpened() { streams.increment() }

    package func completed(_ record: RequestRecord) {
        inFlight.decrement()
        if record.streamOpened { streams.decrement() }
        routes.record(record)
        let dialect = record.dialect.flatMap { Self.dialects.firstIndex(of: $0) } ?? 3
        let statusClass = min(max(record.status / 100 - 1, 0), 4)
        requests[dialect][statusClass].increment()
        duration.record(ContinuousClock.now - record.start)
        if let ttfb = record.firstByte { firstByte.record(ttfb) }
        if let own = record.overhead { overhead.record(own) }
        if record.bytesIn > 0 { bytesIn.increment(by: Int64(record.bytesIn)) }
        if record.bytesOut > 0 { bytesOut.increment(by: Int64(record.bytesOut)) }
        if let code = record.errorCode, let counter = upstreamErrors[code] { counter.increment() }
        if let guardName = record.rejectedBy { rejected(by: guardName, reason: record.errorCode) }
        if let cache = record.cache { cacheResults[cache]?.increment() }
        // Retries are rare: a registry lookup per retried attempt is fine.
        for attempt in record.trail.dropLast() {
            let outcome = attempt.split(separator: ":").last.map(String.init) ?? "unknown"
            registry.makeCounter(
                descriptor: Self.name("upstream_retries", "total", "Upstream attempts that were tried again elsewhere or later, by the outcome that caused it"),
                labels: [("outcome", outcome)]
            ).increment()
        }
    }

    /// A breaker changed state (`llmproxy_breaker_transitions_total{endpoint, to}`).
    package func breakerTransition(endpoint: String, to state: String) {
        registry.makeCounter(
            descriptor: Self.name("breaker_transitions", "total", "Circuit breaker state changes, by endpoint and new state"),
            labels: [("endpoint", endpoint), ("to", state)]
        ).increment()
    }

    /// The exposition text, with per-endpoint health gauges refreshed from `state`.
    package func render(state: GatewayState, queuedEvents: Int? = nil) -> [UInt8] {
        if let queuedEvents { eventsQueued.set(to: Double(queuedEvents)) }
        for provider in state.routes.providers {
            for endpoint in provider.endpoints {
                registry.makeGauge(descriptor: Self.name("upstream_healthy", "", "1 when the endpoint takes traffic"), labels: [("endpoint", endpoint.id)])
                    .set(to: endpoint.health.isAvailable() ? 1.0 : 0.0)
                let breaker = endpoint.health.breakerState.name
                registry.makeGauge(
                    descriptor: Self.name("breaker_state", "", "Circuit breaker of the endpoint: 0 closed, 1 half-open, 2 open"), labels: [("endpoint", endpoint.id)]
                ).set(to: breaker == "open" ? 2.0 : breaker == "half_open" ? 1.0 : 0.0)
            }
        }
        let cache = state.environment.cache.stats
        registry.makeGauge(descriptor: Self.name("cache_entries", "", "Answers in the response cache")).set(to: Double(cache.entries))
        registry.makeGauge(descriptor: Self.name("cache", "bytes", "Memory the response cache's answers take")).set(to: Double(cache.bytes))
        let exported = exportedCache.withLock { exported in
            defer { exported = cache }
            return exported
        }
        cacheStored.increment(by: Int64(max(0, cache.stored - exported.stored)))
        cacheEvictions.increment(by: Int64(max(0, cache.evicted - exported.evicted)))
        cacheExpired.increment(by: Int64(max(0, cache.expired - exported.expired)))
        cacheAdopted.increment(by: Int64(max(0, cache.adopted - exported.adopted)))
        cacheOutboxDropped.increment(by: Int64(max(0, cache.outboxDropped - exported.outboxDropped)))
        return registry.emitToBuffer()
    }
}
