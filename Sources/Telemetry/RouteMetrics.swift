import Prometheus
import ProxyCore
import Synchronization

/// Requests, tokens and cost by route, provider and model — what an operator asks first of a
/// gateway's metrics (`llmproxy_route_requests_total{route, provider, model, code}`,
/// `llmproxy_tokens_total{route, provider, model, type}`, `llmproxy_cost_usd_total{route,
/// provider, model}`). Models come from clients (a route's glob may match any name), so the
/// label sets are bounded: past ``limit`` of them, a new one counts under `model="other"`.
/// One dictionary lookup under a lock per routed request; the counters are made once per set.
final class RouteMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let series = Mutex<[Key: Series]>([:])
    static let limit = 1000

    struct Key: Hashable, Sendable {
        var route: String
        var provider: String
        var model: String
    }

    final class Series: Sendable {
        /// By status class (1xx … 5xx).
        let requests: [Counter]
        let inputTokens: Counter
        let outputTokens: Counter
        let cost: Counter

        init(_ key: Key, registry: PrometheusCollectorRegistry) {
            let labels = [("route", key.route), ("provider", key.provider), ("model", key.model)]
            requests = GatewayMetrics.classes.map { code in
                registry.makeCounter(
                    descriptor: GatewayMetrics.name("route_requests", "total", "Requests that reached a route, by route, provider, model and status class"),
                    labels: labels + [("code", code)])
            }
            let tokens = GatewayMetrics.name("tokens", "total", "Tokens the upstreams reported, by route, provider, model and type (input, output)")
            inputTokens = registry.makeCounter(descriptor: tokens, labels: labels + [("type", "input")])
            outputTokens = registry.makeCounter(descriptor: tokens, labels: labels + [("type", "output")])
            cost = registry.makeCounter(descriptor: GatewayMetrics.name("cost_usd", "total", "Cost of the requests in US dollars, from the price table"), labels: labels)
        }
    }

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func record(_ record: RequestRecord) {
        guard let route = record.rule else { return }
        // `openai#0` → `openai`; a cache hit names the cache; a request refused after routing, none.
        // Over the bytes: `firstIndex(of: "#")` on the characters cost ~5,000 instructions.
        let provider = record.endpoint.map { endpoint in endpoint.utf8.firstIndex(of: UInt8(ascii: "#")).map { String(endpoint[..<$0]) } ?? endpoint } ?? "none"
        // A name longer than any real model's counts as `other` too: a label's size is bounded
        // as well as their number.
        let model = record.model.map { $0.utf8.count <= 128 ? $0 : "other" } ?? "none"
        let key = Key(route: route, provider: provider, model: model)
        let counters = series.withLock { series -> Series in
            if let found = series[key] { return found }
            var key = key
            if series.count >= Self.limit {
                key.model = "other"
                if let found = series[key] { return found }
            }
            let made = Series(key, registry: registry)
            series[key] = made
            return made
        }
        counters.requests[min(max(record.status / 100 - 1, 0), 4)].increment()
        if let input = record.promptTokens, input > 0 { counters.inputTokens.increment(by: Int64(input)) }
        if let output = record.completionTokens, output > 0 { counters.outputTokens.increment(by: Int64(output)) }
        if let cost = record.costUSD, cost > 0, cost.isFinite { counters.cost.increment(by: cost) }
    }
}
