import Dialects
import HTTPTypes
import NIOCore
import Upstreams

/// A request as the tunnel carries it (the inner request of both protocol versions): the
/// method, the upstream URL the client names, its headers and body.
package struct TunnelRequest: Sendable {
    package var method: String
    package var url: String
    package var headers: [(name: String, value: String)]
    package var body: ByteBuffer?

    package init(method: String, url: String, headers: [(name: String, value: String)], body: ByteBuffer?) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The methods the xllm client sends.
    package static let methods: Set<String> = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
    /// Header lines one request may carry, and their total size.
    package static let maxHeaderCount = 128
    package static let maxHeaderBytes = 65_536
}

extension RequestPlanner {
    /// Judges a whole request that came through the tunnel, and plans where it goes: the
    /// same guards, size limits, upstream endpoints and accounting as a request on the HTTP
    /// listener, with two differences. The tunnel's key authenticated the client (the
    /// credentials inside are meant for the upstream), and the URL the client names decides
    /// the route, allowed only when it is a configured provider's origin or in
    /// `tunnel.allow_hosts`.
    package static func tunnel(_ request: TunnelRequest, peer: SocketAddress?, state: GatewayState) -> BodyOutcome {
        let parsed = TunnelURL.parse(request.url)
        let url = try? parsed.get()
        let path = url?.path ?? "/"
        let method = String(request.method.prefix(16))
        var record = RequestRecord(id: RequestIdentifier.generate(), method: method, path: path, start: .now)
        record.rule = "tunnel"
        var userAgent: String?
        var traceparent: String?
        var tracestate: String?
        for (name, value) in request.headers {
            switch name.lowercased() {
            case "user-agent": userAgent = value
            case "traceparent": traceparent = value
            case "tracestate": tracestate = value
            default: break
            }
        }
        if let tracer = state.environment.tracer {
            record.span = tracer.start(TraceArrival(method: method, path: path, traceparent: traceparent, tracestate: tracestate))
        }
        let origin = RequestOrigin(
            peer: peer, forwardedFor: nil, trustedProxies: [], userAgent: userAgent, query: url?.query.map { Substring($0) })
        record.origin = origin
        var dialect = Dialect.guess(path: path)
        record.dialect = dialect.rawValue
        record.pricing = state.pricing
        func refuse(_ error: GatewayError, by guardName: String? = nil) -> BodyOutcome {
            record.errorCode = error.code
            record.rejectedBy = guardName
            return .reject(Rejection(error: error, dialect: dialect, record: record))
        }

        guard TunnelRequest.methods.contains(request.method), let httpMethod = HTTPRequest.Method(request.method) else {
            return refuse(.badRequest("The tunnel request's method must be one of GET, POST, PUT, DELETE, PATCH, HEAD"))
        }
        guard let url else {
            if case .failure(let error) = parsed { return refuse(error) }
            return refuse(.badRequest("The tunnel request's url cannot be read"))
        }
        guard request.headers.count <= TunnelRequest.maxHeaderCount else {
            return refuse(.badRequest("The tunnel request carries more than \(TunnelRequest.maxHeaderCount) headers"))
        }
        var fields = HTTPFields()
        var headerBytes = 0
        for (name, value) in request.headers {
            headerBytes += name.utf8.count + value.utf8.count
            guard headerBytes <= TunnelRequest.maxHeaderBytes else {
                return refuse(.badRequest("The tunnel request's headers are larger than \(TunnelRequest.maxHeaderBytes) bytes"))
            }
            guard let fieldName = HTTPField.Name(name) else { return refuse(.badRequest("The tunnel request has an invalid header name")) }
            // HTTPField turns CR, LF and NUL in values into spaces: no header injection.
            fields.append(HTTPField(name: fieldName, value: value))
        }
        if let unsafe = Operation.pathProblem(path) { return refuse(unsafe) }

        // What the upstream serves at this path decides usage scanning and the error shape;
        // a path no API surface knows is relayed as it is.
        let operation: Operation
        switch Operation.classify(method: httpMethod, path: path) {
        case .success(let found)?: operation = found
        default: operation = Operation(kind: dialect.passthroughKind, dialect: dialect)
        }
        dialect = operation.dialect
        record.dialect = dialect.rawValue
        record.genAIOperation = operation.genAIName
        let providers: [Provider]
        switch state.tunnelTargets.resolve(url, dialect: dialect) {
        case .refused(let error): return refuse(error, by: "tunnel_allowlist")
        case .providers(let found): providers = found
        case .allowedHost(let provider): providers = [provider]
        }

        var admission = Admission(
            method: httpMethod, path: path, query: url.query.map { Substring($0) }, headers: fields, operation: operation, origin: origin,
            presentedKey: nil, answeredLocally: false)
        admission.viaTunnel = true
        let refusal = state.guards.admitHead(&admission)
        record.identity = admission.identity
        record.reservation = admission.reservation
        if let refusal { return refuse(refusal.error, by: refusal.guardName) }
        let limit = state.config.server.maxRequestSize
        if let body = request.body, body.readableBytes > limit { return refuse(.requestTooLarge(limit: limit)) }
        record.authenticated = true
        var pending = PendingRequest(
            state: state, record: record, admission: admission, hostMatch: nil, routePath: path, declaredLength: request.body?.readableBytes)
        pending.tunnelProviders = providers
        return body(pending, body: request.body.flatMap { $0.readableBytes > 0 ? $0 : nil })
    }
}

extension Dialect {
    /// The operation kind of a path this dialect's API does not name.
    var passthroughKind: Operation.Kind {
        switch self {
        case .openai: return .openAIPassthrough
        case .anthropic: return .anthropicPassthrough
        case .gemini: return .geminiPassthrough
        }
    }
}
