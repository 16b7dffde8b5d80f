import Dialects
import Guards
import HTTPTypes
import NIOCore
import ProxyConfig
import Upstreams

/// Turns a request into one outcome, in two steps: from its head (``head(_:peer:state:)``,
/// before any body byte is read) and then from its body (``body(_:body:)``). Every admission
/// decision is made here, once per request — path safety, operation, the guard chain, size
/// limits, routing and model rewrite — so the drivers (the HTTP/1.1 channel handler today;
/// HTTP/2 streams and the tunnel later) only move bytes.
///
/// The rule: whoever answers a request accounts for it. An outcome that is not
/// ``HeadOutcome/notProxied`` belongs to the engine's driver from then on; the HTTP
/// application never sees that request.
package enum RequestPlanner {
    package enum HeadOutcome: Sendable {
        /// Not an API request (admin, health, metrics, UI): the HTTP application answers it.
        case notProxied
        /// Refused from the head alone.
        case reject(Rejection)
        /// Answered by the gateway itself (a model listing).
        case answer(LocalResponse, RequestRecord)
        /// Admitted so far: read the body (at most `pending.bodyLimit` bytes), then call ``body(_:body:)``.
        case readBody(PendingRequest)
    }

    package enum BodyOutcome: Sendable {
        case reject(Rejection)
        case forward(ForwardPlan)
    }

    /// A refusal in the client's dialect, with the record to account for it.
    package struct Rejection: Sendable {
        package var error: GatewayError
        package var dialect: Dialect
        package var record: RequestRecord
        /// The connection must close after the answer (the rest of the body is not worth reading).
        package var closeConnection = false

        package var response: LocalResponse { .error(error, dialect: dialect) }
    }

    /// A request admitted from its head, waiting for its body.
    package struct PendingRequest: Sendable {
        package let state: GatewayState
        package var record: RequestRecord
        package var admission: Admission
        let hostMatch: (providers: [Provider], path: String)?
        /// The path routing sees (a host route's prefix stripped).
        let routePath: String
        package var bodyLimit: Int { state.config.server.maxRequestSize }
        /// The `Content-Length` the client announced, if any (already checked against the limit).
        package let declaredLength: Int?
        /// For a tunnel request: the providers its URL resolved to (routing is then decided).
        var tunnelProviders: [Provider]? = nil

        /// The refusal for a body that grew past the limit while it was read.
        package func tooLarge() -> Rejection {
            var record = record
            record.errorCode = .requestTooLarge
            return Rejection(error: .requestTooLarge(limit: bodyLimit), dialect: admission.operation.dialect, record: record, closeConnection: true)
        }
    }

    /// Judges a request from its head (`peer`: the connection's, worked out once per connection).
    package static func head(_ request: HTTPRequest, peer: ConnectionPeer, state: GatewayState) -> HeadOutcome {
        let target = request.path ?? ""
        let path: String
        let query: Substring?
        // Over the bytes: `firstIndex(of: "?")` on the characters cost ~7,000 instructions.
        if let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = String(target[..<mark])
            query = target[target.utf8.index(after: mark)...]
        } else {
            path = target
            query = nil
        }
        let requestID = RequestIdentifier.sanitized(request.headerFields.value(of: .xRequestID)) ?? RequestIdentifier.generate()
        var record = RequestRecord(id: requestID, method: request.method.rawValue, path: path, start: .now)
        // The span starts once it is known whether the client passed the head's guards, and
        // only then is its trace context (and its sampling decision) followed; refusals and
        // preflights start it with a trace of the gateway's own.
        let tracer = state.environment.tracer
        func startSpan(trusting: Bool) {
            guard let tracer, record.span == nil else { return }
            record.span = tracer.start(
                TraceArrival(
                    method: record.method, path: path, traceparent: trusting ? request.headerFields.value(of: .traceparent) : nil,
                    tracestate: trusting ? request.headerFields.value(of: .tracestate) : nil, arrived: record.start))
        }
        func refuse(_ error: GatewayError, _ dialect: Dialect, close: Bool = false) -> HeadOutcome {
            startSpan(trusting: false)
            record.errorCode = error.code
            return .reject(Rejection(error: error, dialect: dialect, record: record, closeConnection: close))
        }
        // Who is asking, for the guards and the detectors (unsafe paths are evidence too).
        var forwardedFor: String?
        if !state.trustedProxies.isEmpty {
            let forwarded = request.headerFields[values: .xForwardedFor]
            forwardedFor = forwarded.isEmpty ? nil : forwarded.joined(separator: ",")
        }
        let origin = RequestOrigin(
            peer: peer, forwardedFor: forwardedFor, trustedProxies: state.trustedProxies, userAgent: request.headerFields.value(of: .userAgent), query: query)
        record.origin = origin
        if let unsafe = Operation.pathProblem(path) { return refuse(unsafe, Dialect.guess(path: path)) }
        if state.environment.isLocalSurface(path) { return .notProxied }
        record.pricing = state.pricing

        // CORS: a preflight is answered before any guard (browsers send it without the key);
        // an allowed origin is echoed on the answer of the real request.
        if !state.config.security.corsOrigins.isEmpty, let origin = request.headerFields.value(of: .origin) {
            let policy = CORSPolicy(origins: state.config.security.corsOrigins, origin: origin)
            if request.method == .options, let method = request.headerFields[.accessControlRequestMethod] {
                let preflight = policy.proxyPreflight(method: method, headers: request.headerFields[.accessControlRequestHeaders])
                let dialect = Dialect.guess(path: path)
                record.dialect = dialect.rawValue
                startSpan(trusting: false)
                guard preflight.status == .noContent else {
                    record.errorCode = .originNotAllowed
                    return .answer(.error(.originNotAllowed, dialect: dialect), record)
                }
                return .answer(LocalResponse(status: preflight.status, headers: preflight.headers, body: ByteBuffer()), record)
            }
            record.corsOrigin = policy.allowedOrigin
        }

        // A `name/prefix` host route strips its prefix before the path is read.
        let hostMatch = state.routes.hostMatch(host: request.authority, path: path)
        let routePath = hostMatch?.path ?? path
        let operation: Operation
        switch Operation.classify(method: request.method, path: routePath) {
        case .none: return refuse(.notFound(path: path), Dialect.guess(path: path))
        case .failure(let error)?: return refuse(error, Dialect.guess(path: path))
        case .success(let found)?: operation = found
        }
        record.dialect = operation.dialect.rawValue
        record.genAIOperation = operation.genAIName

        let listing = hostMatch == nil && operation.isModelListing
        var admission = Admission(
            method: request.method, path: path, query: query, headers: request.headerFields, operation: operation,
            origin: origin, presentedKey: ClientKey.extract(from: request.headerFields, query: query),
            answeredLocally: listing)
        let refusal = state.guards.admitHead(&admission)
        startSpan(trusting: refusal == nil)
        record.identity = admission.identity
        // From here every outcome carries what the guards took, so its accounting gives it back.
        record.reservation = admission.reservation
        if let refusal {
            record.rejectedBy = refusal.guardName
            return refuse(refusal.error, operation.dialect)
        }
        if listing, let answer = ModelListing.answer(operation, state: state) { return .answer(answer, record) }

        // A declared length over the limit is refused unread (and the connection closed, so
        // the body is not read either).
        let limit = state.config.server.maxRequestSize
        let declared = request.headerFields.value(of: .contentLength).flatMap(Int.init)
        if let declared, declared > limit { return refuse(.requestTooLarge(limit: limit), operation.dialect, close: true) }
        record.authenticated = !admission.needsProviderKey
        return .readBody(
            PendingRequest(
                state: state, record: record, admission: admission, hostMatch: hostMatch, routePath: routePath,
                declaredLength: declared))
    }

    /// Judges a request once its body is read (nil when it has none) and plans where it goes.
    package static func body(_ pending: PendingRequest, body: ByteBuffer?) -> BodyOutcome {
        var pending = pending
        var record = pending.record
        let state = pending.state
        let operation = pending.admission.operation
        func refuse(_ error: GatewayError) -> BodyOutcome {
            record.errorCode = error.code
            return .reject(Rejection(error: error, dialect: operation.dialect, record: record))
        }
        let body = body
        record.bytesIn = body?.readableBytes ?? 0

        var fields: TopLevelFields?
        if operation.modelInBody {
            guard let bytes = body, bytes.readableBytes > 0 else { return refuse(.badRequest("The request body must be a JSON object")) }
            switch bytes.withUnsafeReadableBytes({ TopLevelFields.check($0) }) {
            case .failure(let problem): return refuse(.badRequest(problem.message))
            case .success(let scanned): fields = scanned
            }
        }
        let model = operation.pathModel ?? fields?.model
        record.model = model
        record.stream = operation.isStreaming(bodyFlag: fields?.stream)

        let route: Result<RouteDecision, GatewayError>
        if let providers = pending.tunnelProviders {
            route = .success(RouteDecision(providers: providers, upstreamModel: nil, path: pending.routePath, rule: "tunnel"))
        } else {
            route = state.routes.resolve(
                dialect: operation.dialect, hostMatch: pending.hostMatch, path: pending.routePath, model: model,
                translatable: operation.wireFormat != nil)
        }
        pending.admission.model = model
        pending.admission.stream = record.stream
        pending.admission.bodySize = record.bytesIn
        pending.admission.maxOutputTokens = fields?.maxOutputTokens
        if case .success(let decision) = route { pending.admission.providers = decision.providers }
        let refusal = state.guards.admitRouted(&pending.admission)
        record.reservation = pending.admission.reservation
        if let refusal {
            record.rejectedBy = refusal.guardName
            return refuse(refusal.error)
        }
        let decision: RouteDecision
        switch route {
        case .failure(let error): return refuse(error)
        case .success(let found): decision = found
        }
        record.rule = decision.rule
        record.authenticated = true
        let primary = Self.leg(
            clientModel: model, upstreamModel: decision.upstreamModel, providers: pending.admission.providers ?? decision.providers, path: decision.path,
            body: body, fields: fields, operation: operation)
        record.model = primary.model
        var legs = [primary]
        // The fallback chain, each model routed as if the client had asked for it.
        // The model's own chain, else the one of the provider leading its route.
        let routeChain = primary.providers.first.map(\.fallbacks).flatMap { $0.isEmpty ? nil : $0 }
        if pending.tunnelProviders == nil, let model,
            let chain = state.config.routing.fallbacks[model] ?? decision.upstreamModel.flatMap({ state.config.routing.fallbacks[$0] }) ?? routeChain
        {
            for other in chain where other != model {
                guard
                    case .success(let found) = state.routes.resolve(
                        dialect: operation.dialect, hostMatch: nil, path: pending.routePath, model: other, translatable: operation.wireFormat != nil)
                else { continue }
                legs.append(
                    Self.leg(
                        clientModel: model, upstreamModel: found.upstreamModel ?? other, providers: found.providers, path: found.path, body: body,
                        fields: fields, operation: operation))
            }
        }
        let affinity = Self.affinityKey(primary.providers.first?.affinity ?? .off, headers: pending.admission.headers, body: body, fields: fields)
        var cacheHit: ResponseCache.Entry?
        var cacheFill: ForwardPlan.CacheFillPlan?
        if pending.tunnelProviders == nil, state.cachePolicy.anyEnabled, operation.isCacheable {
            (cacheHit, cacheFill) = Self.cache(pending, model: model, primary: primary, body: body, record: &record)
        }
        return .forward(
            ForwardPlan(
                record: record, state: state, admission: pending.admission, legs: legs, tunnel: pending.tunnelProviders != nil, affinity: affinity,
                cacheHit: cacheHit, cacheFill: cacheFill))
    }

    /// The response cache's part: the fresh answer to replay, or where to keep the answer
    /// (nothing when the route does not cache or the client said `no-store`). After the
    /// guards: a cached answer is still a request of its key, counted, limited and revocable.
    static func cache(
        _ pending: PendingRequest, model: String?, primary: ForwardPlan.Leg, body: ByteBuffer?, record: inout RequestRecord
    ) -> (ResponseCache.Entry?, ForwardPlan.CacheFillPlan?) {
        let state = pending.state
        let policy = state.cachePolicy
        guard let ttl = policy.ttl(model: model ?? primary.model, provider: primary.providers.first?.name) else { return (nil, nil) }
        let directives = CachePolicy.Directives(pending.admission.headers)
        if directives.noStore {
            record.cache = .bypass
            return (nil, nil)
        }
        let scope = policy.scope(identity: pending.admission.identity, presentedKey: pending.admission.presentedKey)
        // The route: what the client asked for and where it goes (a credential in the query is
        // the scope's business, not the route's).
        let query = pending.admission.query.map { query in
            query.split(separator: "&").filter { !$0.hasPrefix("key=") }.joined(separator: "&")
        }
        let route = [
            pending.admission.method.rawValue, pending.routePath, query ?? "", primary.model ?? "", primary.providers.map(\.name).joined(separator: ","),
            CachePolicy.answerHeaders(pending.admission.headers),
        ]
        let key = CacheKey(scope: scope, route: route, body: body)
        if !directives.noCache, let entry = state.environment.cache.lookup(key) {
            record.cache = .hit
            return (entry, nil)
        }
        record.cache = .miss
        return (nil, ForwardPlan.CacheFillPlan(cache: state.environment.cache, key: key, ttl: ttl, maxEntryBytes: policy.config.maxEntryBytes))
    }

    /// The prompt-cache affinity key: the client's session header, else (mode `prefix`) the
    /// digest of the body's cacheable prefix; nil when affinity is off or there is neither.
    static func affinityKey(_ mode: Affinity, headers: HTTPFields, body: ByteBuffer?, fields: TopLevelFields?) -> UInt64? {
        guard mode != .off else { return nil }
        if let name = HTTPField.Name(Affinity.sessionHeader), let session = headers[name], !session.isEmpty {
            return PrefixHash.of(session: session)
        }
        guard mode == .prefix, let body, let prefix = fields?.prefix else { return nil }
        return body.withUnsafeReadableBytes { PrefixHash.of($0, prefix: prefix) }
    }

    /// The request for one model: its name written into the body (or the Gemini path) when
    /// it differs from what the client sent (`clientModel`: an alias's target, a fallback),
    /// and the body asking for stream usage.
    static func leg(
        clientModel model: String?, upstreamModel: String?, providers: [Provider], path: String, body: ByteBuffer?, fields: TopLevelFields?, operation: Operation
    ) -> ForwardPlan.Leg {
        var body = body
        var fields = fields
        var path = path
        var sentModel = model
        if let upstreamModel, upstreamModel != model {
            if let range = fields?.modelRange, let original = body {
                let rewritten = original.replacing(range, with: JSONText.quoted(upstreamModel))
                body = rewritten
                // Offsets moved: the stream-usage rewrite below needs the new ones.
                if case .success(let scanned) = rewritten.withUnsafeReadableBytes({ TopLevelFields.check($0) }) { fields = scanned }
            } else if let pathModel = operation.pathModel {
                path = path.replacingFirst("/models/\(pathModel)", with: "/models/\(upstreamModel)")
            }
            sentModel = upstreamModel
        }
        // OpenAI-compatible streams report usage only when asked: ask for the client.
        var bodyWithUsage: ByteBuffer?
        if operation.isStreaming(bodyFlag: fields?.stream), operation.asksStreamUsage, let original = body, let fields {
            bodyWithUsage = StreamUsage.requestingUsage(original, fields: fields)
        }
        return ForwardPlan.Leg(model: sentModel, providers: providers, path: path, body: body, bodyWithUsage: bodyWithUsage)
    }
}

extension Operation {
    /// The listings the gateway answers from what it knows.
    var isModelListing: Bool {
        kind == .listModels || kind == .geminiListModels || kind == .retrieveModel || kind == .geminiGetModel
    }
}

extension Dialect {
    /// The dialect a path belongs to, for errors on paths no operation matched.
    package static func guess(path: String) -> Dialect {
        if path.hasPrefix("/v1beta/") || path.contains(":generateContent") || path.contains(":streamGenerateContent") { return .gemini }
        if path.hasPrefix("/v1/messages") { return .anthropic }
        return .openai
    }
}

extension ByteBuffer {
    /// This buffer with the bytes in `range` (relative to the reader index) replaced by `text`.
    package func replacing(_ range: Range<Int>, with text: String) -> ByteBuffer {
        var result = ByteBuffer()
        result.reserveCapacity(readableBytes + text.utf8.count)
        if let head = getSlice(at: readerIndex, length: range.lowerBound) { result.writeImmutableBuffer(head) }
        result.writeString(text)
        if let tail = getSlice(at: readerIndex + range.upperBound, length: readableBytes - range.upperBound) { result.writeImmutableBuffer(tail) }
        return result
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) {
                return String(self[..<index]) + replacement + String(self[self.index(index, offsetBy: target.count)...])
            }
            index = self.index(after: index)
        }
        return self
    }
}
