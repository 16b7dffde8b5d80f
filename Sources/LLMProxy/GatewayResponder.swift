import Admin
import Dialects
import Guards
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ProxyConfig
import ProxyCore
import Store
import Telemetry
import Upstreams

/// The HTTP application behind the proxy engine: the gateway's own surfaces — admin API and
/// UI, health, metrics — which the engine's planner hands on as `notProxied`. One switch over
/// the path instead of a router trie, since the surfaces are few and fixed. It accounts for
/// the requests it answers through the same recorder as the engine.
package struct GatewayResponder: HTTPResponder {
    package typealias Context = GatewayContext

    let store: StateStore
    let readiness: Readiness
    let metrics: GatewayMetrics
    let recorder: RequestRecorder
    /// Managed keys (nil when the database is off).
    let keys: ManagedKeyIndex?
    /// The admin API and UI (nil when off; then its paths answer why).
    let admin: AdminAPI?
    /// The analytics event queue (nil when the database is off), for readiness and health.
    let events: EventRecorder?
    let startedAt: ContinuousClock.Instant

    /// The paths this application answers; everything else is the engine's.
    static func handles(_ path: String) -> Bool {
        AdminAPI.handles(path) || path == "/metrics" || path == "/health" || path.hasPrefix("/health/")
    }

    package func respond(to request: Request, context: GatewayContext) async throws -> Response {
        let state = store.state
        let requestID = RequestIdentifier.sanitized(request.headers[.xRequestID]) ?? RequestIdentifier.generate()
        var record = RequestRecord(id: requestID, method: request.method.rawValue, path: request.uri.path, start: .now)
        let path = request.uri.path
        recorder.started()
        if let unsafe = Operation.pathProblem(path) {
            return finish(error: unsafe, dialect: Dialect.guess(path: path), record: &record)
        }

        if AdminAPI.handles(path) {
            guard let admin else {
                let reason = !state.config.database.enabled ? "the database is off (database.enabled: false)" : "admin.enabled is false"
                return finish(AdminAPI.failure(.notFound, "the admin interface is off: \(reason)"), record: &record)
            }
            let forwarded = request.headers[values: .xForwardedFor]
            let client = ClientAddress.resolve(
                peer: context.channel.remoteAddress?.ipAddress,
                forwardedFor: forwarded.isEmpty ? nil : forwarded.joined(separator: ","), trusted: state.trustedProxies)
            let response = await admin.respond(to: request, clientAddress: client)
            return finish(response, record: &record)
        }

        if path == "/metrics" {
            guard state.config.server.metrics else { return finish(error: .notFound(path: path), dialect: .openai, record: &record) }
            if !state.publicPaths.contains(path), let rejection = authenticateOnly(request, state: state) {
                return finish(error: rejection, dialect: .openai, record: &record)
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            let text = metrics.render(state: state, queuedEvents: events?.queued)
            return finish(Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: text))), record: &record)
        }

        if !state.publicPaths.contains(path), let rejection = authenticateOnly(request, state: state) {
            return finish(error: rejection, dialect: .openai, record: &record)
        }
        let detailed = path == "/health" ? await mayReadHealthDetails(request, state: state) : false
        return finish(health(path: path, state: state, detailed: detailed), record: &record)
    }

    /// Whether `/health` may show upstream URLs, errors and latencies: when configured public
    /// (`server.public_health_details`), to a client whose key is accepted, to a signed-in
    /// admin, or on a gateway with no key of any kind (where everything is open anyway).
    func mayReadHealthDetails(_ request: Request, state: GatewayState) async -> Bool {
        if state.config.server.publicHealthDetails { return true }
        if state.authenticator.isOpen && !(keys?.hasKeys ?? false) { return true }
        if ClientKey.extract(from: request.headers, query: request.uri.query.map { Substring($0) }) != nil,
            authenticateOnly(request, state: state) == nil
        {
            return true
        }
        if let admin, await admin.authenticatedUser(request) != nil { return true }
        return false
    }

    /// For the surfaces that need a key but no routing: nil when the key is accepted (any
    /// provider's key opens them when only provider keys exist).
    func authenticateOnly(_ request: Request, state: GatewayState) -> GatewayError? {
        let key = ClientKey.extract(from: request.headers, query: request.uri.query.map { Substring($0) })
        switch state.authenticator.check(key, managed: keys, now: WallClock.nowMs()).verdict {
        case .accepted: return nil
        case .rejected(let missing): return .invalidAPIKey(missing: missing)
        case .needsProvider: return state.authenticator.allowsAnyProvider(key) ? nil : .invalidAPIKey(missing: key == nil)
        }
    }

    // MARK: finishing responses

    /// Adds the request id and accounts for a response whose body is already complete.
    func finish(_ response: Response, record: inout RequestRecord) -> Response {
        var response = response
        response.headers[.xRequestID] = record.id
        record.status = Int(response.status.code)
        record.bytesOut = response.body.contentLength ?? 0
        recorder.finished(record)
        return response
    }

    func finish(error: GatewayError, dialect: Dialect, record: inout RequestRecord) -> Response {
        record.errorCode = error.code
        let local = LocalResponse.error(error, dialect: dialect)
        return finish(Response(status: local.status, headers: local.headers, body: ResponseBody(byteBuffer: local.body)), record: &record)
    }
}
