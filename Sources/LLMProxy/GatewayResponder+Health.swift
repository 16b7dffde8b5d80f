import Dialects
import HTTPTypes
import Hummingbird
import NIOCore
import ProxyCore
import Telemetry
import Upstreams

extension GatewayResponder {
    /// `/health` (status, version, upstreams), `/health/live` and `/health/ready`, in the
    /// shapes of the edge seed so existing probes keep working. Without `detailed`, `/health`
    /// says only the status: upstream URLs, internal addresses and upstream error text are not
    /// for anyone who can reach the port.
    func health(path: String, state: GatewayState, detailed: Bool) -> Response {
        let providers = state.routes.providers.filter { $0.type != .mock }
        let anyAvailable = state.routes.providers.contains { $0.type == .mock } || providers.contains { $0.endpoints.contains { $0.health.isAvailable() } }
        let timestamp = JSONText.quoted(Timestamp.now())
        switch path {
        case "/health/live":
            return json(.ok, #"{"status":"alive","timestamp":\#(timestamp)}"#)
        case "/health/ready":
            if readiness.isDraining {
                return json(.serviceUnavailable, #"{"status":"not_ready","reason":"shutting down","timestamp":\#(timestamp)}"#)
            }
            if !anyAvailable {
                let reason = state.routes.providers.isEmpty ? "no upstream is configured" : "no upstream endpoint is healthy"
                return json(.serviceUnavailable, #"{"status":"not_ready","reason":"\#(reason)","timestamp":\#(timestamp)}"#)
            }
            if let events, !events.isHealthy {
                // Still serving from memory: ready, but say what is wrong.
                return json(
                    .ok,
                    #"{"status":"degraded","reason":"the database is unreachable; keys are served from memory and \#(events.queued) request events are queued","timestamp":\#(timestamp)}"#
                )
            }
            return json(.ok, #"{"status":"ready","timestamp":\#(timestamp)}"#)
        case "/health":
            let status = anyAvailable && (events?.isHealthy ?? true) ? "healthy" : "degraded"
            guard detailed else { return json(.ok, #"{"status":"\#(status)","timestamp":\#(timestamp)}"#) }
            let store = events.map { #","store":{"kind":"\#($0.storeKind)","healthy":\#($0.isHealthy),"queued_events":\#($0.queued)}"# } ?? ""
            // Instances sharing PostgreSQL split every rate and concurrency limit between them.
            let share = state.environment.limits.cluster.current
            let cluster = events?.storeKind == "postgres" ? #","cluster":{"instances":\#(share.instances),"rank":\#(share.rank)}"# : ""
            let uptime = RequestRecord.milliseconds(ContinuousClock.now - startedAt) / 1000
            return json(
                .ok,
                #"{"status":"\#(status)","timestamp":\#(timestamp),"version":"\#(GatewayVersion.current)","uptime_seconds":\#(uptime.rounded(toPlaces: 1)),"upstreams":\#(Self.upstreamsJSON(state: state))\#(store)\#(cluster)}"#
            )
        default:
            let local = LocalResponse.error(.notFound(path: path), dialect: .openai)
            return Response(status: local.status, headers: local.headers, body: ResponseBody(byteBuffer: local.body))
        }
    }

    /// Every upstream with its endpoints' health, as a JSON array (for `/health` and the
    /// admin API).
    static func upstreamsJSON(state: GatewayState) -> String {
        let upstreams = state.routes.providers.map { provider -> String in
            let models = state.catalog.models(of: provider.name)
            let endpoints = provider.endpoints.map { endpoint -> String in
                let healthy = endpoint.health.isAvailable()
                let lastError = endpoint.health.lastError.map(JSONText.quoted) ?? "null"
                let latency = endpoint.health.latencyMs.map { String($0.rounded(toPlaces: 1)) } ?? "null"
                let breaker = endpoint.health.breakerState
                let retryIn = breaker.retryIn.map { String($0.rounded(toPlaces: 1)) } ?? "null"
                let cooling = endpoint.health.coolingFor.map { String($0.rounded(toPlaces: 1)) } ?? "null"
                return
                    #"{"id":\#(JSONText.quoted(endpoint.id)),"healthy":\#(healthy),"active_check":\#(endpoint.health.isActiveHealthy),"ejected":\#(endpoint.health.isEjected),"breaker":"\#(breaker.name)","breaker_retry_in_s":\#(retryIn),"breaker_openings":\#(endpoint.health.breakerOpenings),"cooling_down_s":\#(cooling),"in_flight":\#(endpoint.health.inFlight),"latency_ms":\#(latency),"last_error":\#(lastError)}"#
            }
            let modelsError = models?.lastError.map(JSONText.quoted) ?? "null"
            let origin = provider.type == .mock ? "mock" : provider.baseURL.description
            return
                #"{"name":\#(JSONText.quoted(provider.name)),"type":"\#(provider.type.rawValue)","base_url":\#(JSONText.quoted(origin)),"discovered":\#(provider.isDiscoveredEngine),"healthy":\#(provider.endpoints.contains { $0.health.isAvailable() }),"models":\#(models?.models.count ?? provider.modelNames.count),"models_error":\#(modelsError),"endpoints":[\#(endpoints.joined(separator: ","))]}"#
        }
        return "[" + upstreams.joined(separator: ",") + "]"
    }

    func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The gateway's version, reported by `/health` and `--version`.
package enum GatewayVersion {
    package static let current = "0.1.0"
}

/// The running gateway's upstreams, for the admin API.
struct UpstreamsView: Sendable {
    let state: StateStore

    func render() -> String { GatewayResponder.upstreamsJSON(state: state.state) }
}
