import Admin
import Dialects
import Guards
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ProxyConfig
import Store
import Upstreams

/// The gateway's single responder: one switch over the path instead of a router trie, since
/// the surfaces are few and fixed, then the guards and the proxy in data-path order.
public struct GatewayResponder: HTTPResponder {
    public typealias Context = GatewayContext

    let store: StateStore
    let client: UpstreamClient
    let catalog: ModelCatalog
    let disconnects: DisconnectRegistry
    let requestLogger: Logger
    let startedAt: ContinuousClock.Instant
    let readiness: Readiness
    let metrics: GatewayMetrics
    /// Set when request lines go to our own JSON handler at info level: they are then
    /// written straight to its sink (``RequestRecord/jsonLine(logger:)``).
    let directJSONLabel: String?
    /// Managed keys (nil when the database is off).
    let keys: ManagedKeyIndex?
    /// Where analytics events go (nil when the database is off).
    let recorder: EventRecorder?
    /// The admin API and UI (nil when off; then its paths answer why).
    let admin: AdminAPI?

    static func directJSONLabel(of logger: Logger) -> String? {
        guard let handler = logger.handler as? LogLineHandler, handler.format == .json, handler.logLevel <= .info else { return nil }
        return handler.label
    }

    static let xRequestID = HTTPField.Name("x-request-id")!
    static let retryAfter = HTTPField.Name("retry-after")!
    static let xForwardedFor = HTTPField.Name("x-forwarded-for")!

    public func respond(to request: Request, context: GatewayContext) async throws -> Response {
        let state = store.state
        let requestID = RequestIdentifier.sanitized(request.headers[Self.xRequestID]) ?? RequestIdentifier.generate()
        var record = RequestRecord(id: requestID, method: request.method.rawValue, path: request.uri.path, start: .now)
        let path = request.uri.path
        metrics.started()
        if let unsafe = Operation.pathProblem(path) {
            return finish(error: unsafe, dialect: Dialect.guess(path: path), record: &record, logIn: state)
        }

        if AdminAPI.handles(path) {
            guard let admin else {
                let reason = !state.config.database.enabled ? "the database is off (database.enabled: false)" : "admin.enabled is false"
                return finish(AdminAPI.failure(.notFound, "the admin interface is off: \(reason)"), record: &record, logIn: state)
            }
            let forwarded = request.headers[values: Self.xForwardedFor]
            let client = ClientAddress.resolve(peer: context.channel.remoteAddress?.ipAddress,
                                               forwardedFor: forwarded.isEmpty ? nil : forwarded.joined(separator: ","), trusted: state.trustedProxies)
            let response = await admin.respond(to: request, clientAddress: client)
            return finish(response, record: &record, logIn: state)
        }

        if path == "/metrics", state.config.server.metrics {
            if !state.publicPaths.contains(path), let rejection = authenticateOnly(request, state: state) {
                return finish(error: rejection, dialect: .openai, record: &record, logIn: state)
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            let text = metrics.render(state: state)
            return finish(Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: text))), record: &record, logIn: state)
        }

        if path == "/health" || path.hasPrefix("/health/") {
            if !state.publicPaths.contains(path), let rejection = authenticateOnly(request, state: state) {
                return finish(error: rejection, dialect: .openai, record: &record, logIn: state)
            }
            let detailed = path == "/health" ? await mayReadHealthDetails(request, state: state) : false
            return finish(health(path: path, state: state, detailed: detailed), record: &record, logIn: state)
        }

        // A `name/prefix` host route strips its prefix before the path is read.
        let hostMatch = state.routes.hostMatch(host: request.head.authority, path: path)
        let apiPath = hostMatch?.path ?? path
        let operation: Operation
        switch Operation.classify(method: request.method, path: apiPath) {
        case .none:
            return finish(error: .notFound(path: path), dialect: Dialect.guess(path: path), record: &record, logIn: state)
        case .failure(let error)?:
            return finish(error: error, dialect: Dialect.guess(path: path), record: &record, logIn: state)
        case .success(let op)?:
            operation = op
        }
        record.dialect = operation.dialect.rawValue

        if hostMatch == nil,
           operation.kind == .listModels || operation.kind == .geminiListModels || operation.kind == .retrieveModel || operation.kind == .geminiGetModel {
            if !state.publicPaths.contains(path), let rejection = authenticateOnly(request, state: state) {
                return finish(error: rejection, dialect: operation.dialect, record: &record, logIn: state)
            }
            if let listing = modelListing(operation: operation, state: state) {
                return finish(listing, record: &record, logIn: state)
            }
        }

        var proxy = ProxyExchange(request: request, context: context, operation: operation, state: state, responder: self, record: record, hostMatch: hostMatch)
        return await proxy.run()
    }

    /// Whether `/health` may show upstream URLs, errors and latencies: when configured public
    /// (`server.public_health_details`), to a client whose key is accepted, to a signed-in
    /// admin, or on a gateway with no key of any kind (where everything is open anyway).
    func mayReadHealthDetails(_ request: Request, state: GatewayState) async -> Bool {
        if state.config.server.publicHealthDetails { return true }
        if state.authenticator.isOpen && !(keys?.hasKeys ?? false) { return true }
        if ClientKey.extract(from: request.headers, query: request.uri.query.map { Substring($0) }) != nil,
           authenticateOnly(request, state: state) == nil { return true }
        if let admin, await admin.authenticatedUser(request) != nil { return true }
        return false
    }

    /// For paths that need a key but no routing: nil when the key is accepted.
    func authenticateOnly(_ request: Request, state: GatewayState) -> GatewayError? {
        let key = ClientKey.extract(from: request.headers, query: request.uri.query.map { Substring($0) })
        switch state.authenticator.check(key, managed: keys, now: WallClock.nowMs()).verdict {
        case .accepted: return nil
        case .rejected(let missing): return .invalidAPIKey(missing: missing)
        case .needsProvider:
            // Only provider keys exist: any of them opens the shared endpoints.
            let allowed = state.routes.providers.contains { state.authenticator.allows(key, provider: $0.name) }
            return allowed ? nil : .invalidAPIKey(missing: key == nil)
        }
    }

    // MARK: finishing responses

    /// Adds the request id and logs a response whose body is already complete.
    func finish(_ response: Response, record: inout RequestRecord, logIn state: GatewayState) -> Response {
        var response = response
        response.headers[Self.xRequestID] = record.id
        record.status = Int(response.status.code)
        record.bytesOut = response.body.contentLength ?? 0
        complete(record, state: state)
        return response
    }

    /// Accounts for a request whose last byte has gone (or failed): metrics, then the log.
    /// Called exactly once per request.
    func complete(_ record: RequestRecord, state: GatewayState) {
        metrics.completed(record)
        if let recorder, record.dialect != nil, record.authenticated { recorder.record(record.event) }
        guard state.config.logging.requests else { return }
        if let label = directJSONLabel {
            LineSink.standardOutput.append(record.jsonLine(logger: label))
        } else {
            record.write(to: requestLogger)
        }
    }

    func finish(error: GatewayError, dialect: Dialect, record: inout RequestRecord, logIn state: GatewayState) -> Response {
        record.errorCode = error.code
        return finish(errorResponse(error, dialect: dialect), record: &record, logIn: state)
    }

    func errorResponse(_ error: GatewayError, dialect: Dialect) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let retry = error.retryAfter { headers[Self.retryAfter] = String(retry) }
        return Response(status: error.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: error.body(in: dialect))))
    }
}

extension Dialect {
    /// The dialect a path belongs to, for errors on paths no operation matched.
    static func guess(path: String) -> Dialect {
        if path.hasPrefix("/v1beta/") || path.contains(":generateContent") || path.contains(":streamGenerateContent") { return .gemini }
        if path.hasPrefix("/v1/messages") { return .anthropic }
        return .openai
    }
}
