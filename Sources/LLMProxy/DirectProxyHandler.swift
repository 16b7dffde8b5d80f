import Dialects
import Guards
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import ProxyConfig
import Store
import Upstreams

/// The gateway's hot path: forwards an ordinary proxied request from the client's channel to
/// a pooled upstream connection on the same event loop, and the response back, without a
/// task, an async sequence or a thread hop. Backpressure is the client channel's writability.
///
/// It takes only the common case — a POST to a model-routed API path whose key is accepted
/// and whose chosen endpoint is a plain-HTTP upstream. Everything else (other paths, a
/// missing or wrong key, an unreadable body, routing errors, mock and TLS upstreams, bodies
/// over the size limit) is handed on, untouched, to the Hummingbird responder behind it,
/// which answers every case. Both paths log, count and shape errors the same way.
///
/// Sits after `HTTPConnectionStateHandler`, so idle and graceful-shutdown handling see every
/// request, and after NIO's pipelining handler, so there is one request at a time.
final class DirectProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamResponseSink {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Where the current request is.
    private enum Phase {
        case idle
        /// The request belongs to the responder behind; parts pass through.
        case passing
        /// Reading a candidate's body, up to the size limit.
        case collecting(Candidate)
        /// Committed: leasing a connection, waiting for the head, or streaming the body.
        case forwarding(Forward)
    }

    /// A request that may take the direct path, once its body is known.
    private struct Candidate {
        let head: HTTPRequest
        let path: String
        let query: Substring?
        let operation: Operation
        let state: GatewayState
        let start: ContinuousClock.Instant
        /// The managed key that opened the request, if one did (checked from the head).
        let identity: ClientIdentity?
        var body: ByteBuffer?
    }

    /// What the exchange in flight needs to finish and be accounted for. A class, so that a
    /// body chunk updates a counter instead of copying the whole state.
    private final class Forward {
        var record: RequestRecord
        let state: GatewayState
        let dialect: Dialect
        let providers: [Provider]
        let head: HTTPRequest
        let path: String
        let query: Substring?
        let body: ByteBuffer?
        var tried: [Endpoint] = []
        var exchange: UpstreamExchange?
        var headSent = false
        var freshRetryUsed = false
        /// The failure of the last endpoint tried, reported when none is left.
        var lastError: GatewayError?
        /// Token counts read off the response as it passes.
        var usage = UsageScanner()
        /// The body asking an OpenAI-compatible upstream for stream usage, when the client
        /// streams without having asked; the extra chunk is then filtered out.
        var bodyWithUsage: ByteBuffer?
        var usageFilter: UsageChunkFilter?

        init(record: RequestRecord, state: GatewayState, dialect: Dialect, providers: [Provider], head: HTTPRequest, path: String, query: Substring?, body: ByteBuffer?) {
            self.record = record
            self.state = state
            self.dialect = dialect
            self.providers = providers
            self.head = head
            self.path = path
            self.query = query
            self.body = body
        }
    }

    private let store: StateStore
    private let responder: GatewayResponder
    private let pool: HTTP1ConnectionPool
    private var phase = Phase.idle
    private var context: ChannelHandlerContext?
    /// The client asked to close after this response (`Connection: close`).
    private var closeAfterResponse = false

    init(store: StateStore, responder: GatewayResponder, pool: HTTP1ConnectionPool) {
        self.store = store
        self.responder = responder
        self.pool = pool
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: client → gateway

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (phase, part) {
        case (.idle, .head(let head)):
            if let candidate = candidate(head, state: store.state) {
                phase = .collecting(candidate)
            } else {
                phase = .passing
                context.fireChannelRead(data)
            }
        case (.collecting(var candidate), .body(let buffer)):
            // Out of `phase` first, so the body buffer has one owner and grows in place
            // (amortised O(1) per part, not a copy of everything so far).
            phase = .idle
            let size = (candidate.body?.readableBytes ?? 0) + buffer.readableBytes
            if size > candidate.state.config.server.maxRequestSize {
                // The responder behind reads the rest and answers 413.
                phase = .passing
                replay(candidate, end: false, context: context)
                context.fireChannelRead(data)
            } else {
                if candidate.body == nil {
                    // A body in one part (the usual case) is kept as it came, without a copy;
                    // one announced as longer gets its whole capacity at once.
                    let declared = candidate.head.headerFields[.contentLength].flatMap(Int.init) ?? 0
                    if declared > buffer.readableBytes {
                        var body = context.channel.allocator.buffer(capacity: min(declared, candidate.state.config.server.maxRequestSize))
                        body.writeImmutableBuffer(buffer)
                        candidate.body = body
                    } else {
                        candidate.body = buffer
                    }
                } else {
                    candidate.body!.writeImmutableBuffer(buffer)
                }
                phase = .collecting(candidate)
            }
        case (.collecting(let candidate), .end):
            if let forward = commit(candidate) {
                phase = .forwarding(forward)
                attempt(context: context)
            } else {
                phase = .idle
                replay(candidate, end: true, context: context)
            }
        case (.passing, .end):
            phase = .idle
            context.fireChannelRead(data)
        case (.passing, _):
            context.fireChannelRead(data)
        default:
            // Parts of a request already being forwarded cannot arrive (the pipelining
            // handler holds the next request back); pass anything unexpected on.
            context.fireChannelRead(data)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .forwarding(let forward) = phase { forward.exchange?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientGone()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // As on the responder's path: an input EOF while a request is in flight is the
        // client giving up (HTTP clients do not half-close and then wait).
        if case ChannelEvent.inputClosed = event, case .forwarding = phase {
            clientGone()
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Which requests may take the direct path, judged from the head alone — the key
    /// included, so that no body is read for a client that cannot use it.
    private func candidate(_ head: HTTPRequest, state: GatewayState) -> Candidate? {
        guard head.method == .post, state.config.upstream.fastPath, let target = head.path else { return nil }
        let path: String
        let query: Substring?
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            query = target[target.index(after: mark)...]
        } else {
            path = target
            query = nil
        }
        if Operation.pathProblem(path) != nil || state.routes.hostMatch(host: head.authority, path: path) != nil { return nil }
        guard case .success(let operation)? = Operation.classify(method: head.method, path: path), operation.modelInBody else { return nil }
        if let declared = head.headerFields[.contentLength].flatMap(Int.init), declared > state.config.server.maxRequestSize { return nil }
        // Anything but a plain accept (a wrong key, provider keys) is answered behind.
        let key = ClientKey.extract(from: head.headerFields, query: query)
        let (verdict, identity): (ClientAuthenticator.Verdict, ClientIdentity?) = state.publicPaths.contains(path)
            ? (.accepted, nil) : state.authenticator.check(key, managed: responder.keys, now: WallClock.nowMs())
        guard verdict == .accepted else { return nil }
        return Candidate(head: head, path: path, query: query, operation: operation, state: state, start: .now, identity: identity)
    }

    /// Decides, from memory only, whether the direct path takes the request: the key is
    /// accepted, the body names a model that routes, and an endpoint is a plain-HTTP upstream.
    private func commit(_ candidate: Candidate) -> Forward? {
        let state = candidate.state
        let identity = candidate.identity
        guard var body = candidate.body, body.readableBytes > 0,
              let fields = body.withUnsafeReadableBytes({ TopLevelFields.scan($0) }) else { return nil }
        let operation = candidate.operation
        let model = operation.pathModel ?? fields.model
        // A key limited to other models is answered (403) by the responder behind.
        if let identity, !identity.allows(model: model) { return nil }
        guard case .success(let decision) = state.routes.resolve(dialect: operation.dialect, hostMatch: nil, path: candidate.path, model: model),
              decision.providers.allSatisfy({ $0.type != .mock && !$0.baseURL.isTLS }) else { return nil }

        let requestID = RequestIdentifier.sanitized(candidate.head.headerFields[GatewayResponder.xRequestID]) ?? RequestIdentifier.generate()
        var record = RequestRecord(id: requestID, method: "POST", path: candidate.path, start: candidate.start)
        record.dialect = operation.dialect.rawValue
        record.identity = identity
        record.authenticated = true
        record.rule = decision.rule
        record.model = model
        record.stream = operation.isStreaming(bodyFlag: fields.stream)
        record.bytesIn = body.readableBytes
        if let upstreamModel = decision.upstreamModel, let range = fields.modelRange {
            body = ProxyExchange.replacing(range, in: body, with: JSONText.quoted(upstreamModel))
            record.model = upstreamModel
        }
        closeAfterResponse = candidate.head.headerFields[.connection]?.lowercased() == "close"
        responder.metrics.started()
        let forward = Forward(record: record, state: state, dialect: operation.dialect, providers: decision.providers,
                              head: candidate.head, path: decision.path, query: candidate.query, body: body)
        if record.stream, operation.asksStreamUsage { forward.bodyWithUsage = StreamUsage.requestingUsage(body, fields: fields) }
        return forward
    }

    /// Hands a request the direct path does not take to the responder behind, as it came.
    private func replay(_ candidate: Candidate, end: Bool, context: ChannelHandlerContext) {
        context.fireChannelRead(wrapInboundOut(.head(candidate.head)))
        if let body = candidate.body { context.fireChannelRead(wrapInboundOut(.body(body))) }
        if end { context.fireChannelRead(wrapInboundOut(.end(nil))) }
        context.fireChannelReadComplete()
    }

    // MARK: gateway → upstream

    /// Picks an endpoint not tried yet and sends the request on a connection of this loop.
    private func attempt(context: ChannelHandlerContext, freshConnection: Bool = false) {
        guard case .forwarding(let forward) = phase else { return }
        let endpoint: Endpoint
        if freshConnection, let last = forward.tried.last {
            endpoint = last
        } else {
            guard forward.tried.count < ProxyExchange.maxAttempts,
                  let next = EndpointSelector.pick(from: forward.providers, excluding: forward.tried) else {
                if let lastError = forward.lastError { return fail(lastError) }
                let count = forward.providers.reduce(0) { $0 + $1.endpoints.count }
                fail(.upstreamUnavailable("All \(count) upstream endpoint(s) for this route are unhealthy; try again shortly"))
                return
            }
            endpoint = next
            forward.tried.append(next)
        }
        forward.record.endpoint = endpoint.id
        forward.record.attempts = forward.tried.count

        let extraHeaders = forward.providers.first(where: { $0.name == endpoint.providerName })?.extraHeaders ?? []
        let plan = UpstreamRequestPlan(endpoint: endpoint, dialect: forward.dialect, path: forward.path, query: forward.query.map(String.init),
                                       clientHeaders: forward.head.headerFields, extraHeaders: extraHeaders, requestID: forward.record.id)
        let withUsage = endpoint.type == .openai ? forward.bodyWithUsage : nil
        forward.usageFilter = withUsage == nil ? nil : UsageChunkFilter()
        let body = withUsage ?? forward.body
        let head = UpstreamClient.http1Head(plan, base: endpoint.baseURL, method: .POST, bodyLength: body?.readableBytes ?? 0)
        let loop = context.eventLoop
        let lease = freshConnection
            ? pool.connect(host: endpoint.baseURL.host, port: endpoint.baseURL.port, on: loop)
            : pool.lease(host: endpoint.baseURL.host, port: endpoint.baseURL.port, on: loop)
        lease.hop(to: loop).assumeIsolated().whenComplete { [self] result in
            // The client may have left while the connection was being made.
            guard case .forwarding(let forward) = phase, forward.exchange == nil else {
                if case .success(let (connection, _)) = result { connection.channel.close(promise: nil) }
                return
            }
            switch result {
            case .success(let (connection, reused)):
                forward.exchange = connection.startExchange(head: head, body: body, reused: reused, sink: self)
            case .failure(let error):
                let (gatewayError, retryable) = UpstreamClient.classify(error, endpoint: endpoint.id)
                endpoint.health.recordFailure(gatewayError.message)
                forward.lastError = gatewayError
                if retryable, let context = self.context {
                    attempt(context: context)
                } else {
                    fail(gatewayError)
                }
            }
        }
    }

    // MARK: upstream → client (UpstreamResponseSink, on this loop)

    func upstreamHead(_ head: HTTPResponseHead) {
        guard case .forwarding(let forward) = phase, let context else { return }
        forward.record.firstByte = ContinuousClock.now - forward.record.start
        forward.record.status = Int(head.status.code)
        if let endpoint = forward.tried.last {
            endpoint.health.recordLatency(forward.record.firstByte ?? .zero)
            if head.status.code >= 500 { endpoint.health.recordFailure("HTTP \(head.status.code)") } else { endpoint.health.recordSuccess() }
        }
        let fields = forward.state.responseHeaders.clientFields(head.headers, requestID: forward.record.id)
        // Only a chunked event stream can lose a chunk without breaking its framing.
        if head.status.code != 200 || head.headers.contains(name: "content-length") { forward.usageFilter = nil }
        forward.headSent = true
        let status = HTTPResponse.Status(code: Int(head.status.code), reasonPhrase: head.status.reasonPhrase)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
    }

    func upstreamBody(_ buffer: ByteBuffer) -> Bool {
        guard case .forwarding(let forward) = phase, let context else { return false }
        forward.usage.scan(buffer)
        var out = buffer
        if forward.usageFilter != nil {
            guard let kept = forward.usageFilter!.filter(buffer) else { return true }
            out = kept
        }
        forward.record.bytesOut += out.readableBytes
        context.write(wrapOutboundOut(.body(out)), promise: nil)
        return context.channel.isWritable
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamEnd() {
        guard case .forwarding(let forward) = phase, let context else { return }
        // Idle before the write: the pipelining handler may deliver the next request from
        // inside it.
        phase = .idle
        if let rest = forward.usageFilter?.finish() {
            forward.record.bytesOut += rest.readableBytes
            context.write(wrapOutboundOut(.body(rest)), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        forward.record.take(forward.usage)
        responder.complete(forward.record, state: forward.state)
        if closeAfterResponse { context.close(promise: nil) }
    }

    func upstreamFailed(_ error: PoolError) {
        guard case .forwarding(let forward) = phase, let context else { return }
        if error == .notSent, !forward.freshRetryUsed, !forward.headSent {
            // The connection was found closed before a byte of the request went out: once
            // more on a new one. (Once bytes went out the upstream may be processing it.)
            forward.freshRetryUsed = true
            forward.exchange = nil
            attempt(context: context, freshConnection: true)
            return
        }
        let (gatewayError, _) = UpstreamClient.classify(error, endpoint: forward.record.endpoint ?? "?")
        if let endpoint = forward.tried.last { endpoint.health.recordFailure(gatewayError.message) }
        if forward.headSent {
            // Mid-body: the client sees the stream cut, as from the responder's path.
            phase = .idle
            forward.record.errorCode = "upstream_stream_error"
            forward.record.take(forward.usage)
            responder.complete(forward.record, state: forward.state)
            context.close(promise: nil)
        } else {
            fail(gatewayError)
        }
    }

    // MARK: endings

    /// Answers the request in flight with a gateway error in its dialect.
    private func fail(_ error: GatewayError) {
        guard case .forwarding(let forward) = phase, let context else { return }
        phase = .idle
        forward.record.errorCode = error.code
        forward.record.status = error.status.code
        let body = ByteBuffer(string: error.body(in: forward.dialect))
        forward.record.bytesOut = body.readableBytes
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(body.readableBytes)
        if let retry = error.retryAfter { fields[GatewayResponder.retryAfter] = String(retry) }
        fields[GatewayResponder.xRequestID] = forward.record.id
        context.write(wrapOutboundOut(.head(HTTPResponse(status: error.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        responder.complete(forward.record, state: forward.state)
        if closeAfterResponse { context.close(promise: nil) }
    }

    /// The client closed or half-closed while its request was in flight: stop the upstream
    /// at once and account for the request as the client's cancellation.
    private func clientGone() {
        guard case .forwarding(let forward) = phase else {
            phase = .idle
            return
        }
        phase = .idle
        forward.exchange?.cancel()
        forward.record.errorCode = "client_closed"
        if !forward.headSent { forward.record.status = GatewayError.clientClosed.status.code }
        forward.record.take(forward.usage)
        responder.complete(forward.record, state: forward.state)
    }
}
