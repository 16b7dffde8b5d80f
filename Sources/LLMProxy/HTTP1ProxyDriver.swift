import Dialects
import Guards
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import ProxyConfig
import ProxyCore
import Upstreams

/// Drives the proxy engine for one HTTP/1.1 client connection: hands each request head to
/// the ``RequestPlanner``, reads the body it admitted, runs the ``AttemptPlan`` over pooled
/// upstream connections (plain or TLS) or the in-process mock on this same event loop, and
/// streams the response back through the attempt's ``ResponseStages`` — no task, async
/// sequence or thread hop per request or chunk. Backpressure is the client channel's
/// writability.
///
/// Every request the planner does not call `notProxied` is answered here, rejections
/// included, and accounted for here exactly once through the ``RequestRecorder``; the
/// Hummingbird application behind sees only admin, health, metrics and UI requests.
///
/// Sits after `HTTPConnectionStateHandler`, so idle and graceful-shutdown handling see every
/// request, and after NIO's pipelining handler, so there is one request at a time.
final class HTTP1ProxyDriver: ChannelDuplexHandler, RemovableChannelHandler, UpstreamResponseSink {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Where the current request is.
    private enum Phase {
        case idle
        /// Not the engine's: parts pass through to the application.
        case passing
        /// Reading an admitted request's body.
        case reading(Reading)
        /// Answered already; the rest of the request is read and dropped.
        case discarding
        /// Waiting for a connection, the response head, or streaming the response.
        case forwarding(Exchange)
    }

    /// An admitted request whose body is being read. A class, so that the phase holds one
    /// reference instead of copying the pending request at every body part.
    private final class Reading {
        let pending: RequestPlanner.PendingRequest
        var body: ByteBuffer?

        init(_ pending: RequestPlanner.PendingRequest) { self.pending = pending }
    }

    /// One forwarded request in flight.
    private final class Exchange {
        let plan: ForwardPlan
        var stages = ResponseStages([])
        var upstream: (any UpstreamExchange)?
        var headSent = false

        init(plan: ForwardPlan) { self.plan = plan }
    }

    private let store: StateStore
    private let transport: any UpstreamTransport
    private let recorder: RequestRecorder
    private var phase = Phase.idle
    private var context: ChannelHandlerContext?
    /// The client asked to close after this response (`Connection: close`).
    private var closeAfterResponse = false

    init(store: StateStore, transport: any UpstreamTransport, recorder: RequestRecorder) {
        self.store = store
        self.transport = transport
        self.recorder = recorder
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: client → gateway

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (phase, part) {
        case (.idle, .head(let head)):
            begin(head, context: context)
            if case .passing = phase { context.fireChannelRead(data) }
        case (.reading(let reading), .body(let buffer)):
            // Out of the box first, so the body buffer has one owner and grows in place
            // (amortised O(1) per part, not a copy of everything so far).
            var body = reading.body
            reading.body = nil
            let size = (body?.readableBytes ?? 0) + buffer.readableBytes
            if size > reading.pending.bodyLimit {
                answer(rejection: reading.pending.tooLarge(), requestEnded: false)
                return
            }
            if body == nil {
                // A body in one part (the usual case) is kept as it came, without a copy;
                // one announced as longer gets its whole capacity at once.
                if let declared = reading.pending.declaredLength, declared > buffer.readableBytes {
                    var whole = context.channel.allocator.buffer(capacity: declared)
                    whole.writeImmutableBuffer(buffer)
                    body = whole
                } else {
                    body = buffer
                }
            } else {
                body!.writeImmutableBuffer(buffer)
            }
            reading.body = body
        case (.reading(let reading), .end):
            phase = .idle
            switch RequestPlanner.body(reading.pending, body: reading.body) {
            case .reject(let rejection):
                answer(rejection: rejection, requestEnded: true)
            case .forward(let plan):
                let exchange = Exchange(plan: plan)
                phase = .forwarding(exchange)
                next(plan.attempts.next(), exchange)
            }
        case (.discarding, .end):
            phase = .idle
        case (.discarding, _):
            break
        case (.passing, .end):
            phase = .idle
            context.fireChannelRead(data)
        case (.passing, _):
            context.fireChannelRead(data)
        default:
            // Parts of a request already answered or being forwarded cannot arrive (the
            // pipelining handler holds the next request back); drop anything unexpected.
            break
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .forwarding(let exchange) = phase { exchange.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientGone()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // An input EOF while a request is in flight is the client giving up (HTTP clients do
        // not half-close and then wait), as nginx treats it.
        if case ChannelEvent.inputClosed = event {
            switch phase {
            case .forwarding, .reading:
                clientGone()
                context.close(promise: nil)
            default:
                break
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Takes a request head to the planner.
    private func begin(_ head: HTTPRequest, context: ChannelHandlerContext) {
        let state = store.state
        let outcome = RequestPlanner.head(head, peer: context.channel.remoteAddress, state: state)
        if case .notProxied = outcome {
            phase = .passing
            return
        }
        recorder.started()
        closeAfterResponse = head.headerFields[.connection]?.lowercased() == "close"
        switch outcome {
        case .notProxied:
            break
        case .reject(let rejection):
            answer(rejection: rejection, requestEnded: false)
        case .answer(let response, var record):
            phase = .discarding
            write(response, record: &record)
        case .readBody(let pending):
            phase = .reading(Reading(pending))
        }
    }

    // MARK: gateway → upstream

    /// Carries out the attempt plan's next step.
    private func next(_ step: AttemptPlan.Step, _ exchange: Exchange) {
        switch step {
        case .fail(let error):
            fail(error, exchange)
        case .send(let endpoint, let fresh):
            send(to: endpoint, fresh: fresh, exchange)
        }
    }

    /// Sends the request to `endpoint` on a connection of this loop (or to the mock).
    private func send(to endpoint: Endpoint, fresh: Bool, _ exchange: Exchange) {
        guard let context else { return }
        let attempt: ForwardPlan.Attempt
        switch exchange.plan.attempt(to: endpoint) {
        case .success(let made): attempt = made
        case .failure(let error):
            fail(error, exchange)
            return
        }
        exchange.stages = attempt.stages
        transport.send(attempt, to: endpoint, freshConnection: fresh, on: context.eventLoop, sink: self) { [self] upstream in
            // The client may have left while the connection was being made.
            guard case .forwarding(let current) = phase, current === exchange, exchange.upstream == nil else {
                upstream.cancel()
                return
            }
            exchange.upstream = upstream
        } failed: { [self] error in
            guard case .forwarding(let current) = phase, current === exchange, exchange.upstream == nil else { return }
            let (gatewayError, retryable) = UpstreamClient.classify(error, endpoint: endpoint.id)
            next(exchange.plan.attempts.failed(.init(error: gatewayError, retryable: retryable)), exchange)
        }
    }

    // MARK: upstream → client (UpstreamResponseSink, on this loop)

    func upstreamHead(_ head: HTTPResponseHead) {
        guard case .forwarding(let exchange) = phase, let context else { return }
        let plan = exchange.plan
        let upstreamStatus = Int(head.status.code)
        let firstByte = ContinuousClock.now - plan.record.start
        plan.record.firstByte = firstByte
        plan.attempts.responded(status: upstreamStatus, firstByte: firstByte)
        var status = upstreamStatus
        var headers = head.headers
        exchange.stages.head(status: &status, headers: &headers)
        plan.record.status = status
        var fields = plan.state.responseHeaders.clientFields(headers, requestID: plan.record.id)
        plan.record.decorate(&fields, securityHeaders: plan.state.config.security.securityHeaders)
        if closeAfterResponse { fields[.connection] = "close" }
        exchange.headSent = true
        let reason = status == upstreamStatus ? head.status.reasonPhrase : HTTPResponse.Status(code: status).reasonPhrase
        let response = HTTPResponse(status: HTTPResponse.Status(code: status, reasonPhrase: reason), headerFields: fields)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    func upstreamBody(_ buffer: ByteBuffer) -> Bool {
        guard case .forwarding(let exchange) = phase, let context else { return false }
        guard let out = exchange.stages.body(buffer) else { return true }
        exchange.plan.record.bytesOut += out.readableBytes
        context.write(wrapOutboundOut(.body(out)), promise: nil)
        if exchange.stages.isCutOff {
            cutOff(exchange)
            return false
        }
        return context.channel.isWritable
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamEnd() {
        guard case .forwarding(let exchange) = phase else { return }
        complete(exchange)
    }

    /// A stage ended the stream (at a budget): the upstream request is cancelled, so nothing
    /// more is generated and billed, and the response ends with the stage's last words.
    private func cutOff(_ exchange: Exchange) {
        // Idle first: a cancel may report back at once, and must find nothing to fail.
        phase = .idle
        exchange.upstream?.cancel()
        exchange.upstream = nil
        complete(exchange)
    }

    /// Ends the response: what the stages still hold, the end, the accounting.
    private func complete(_ exchange: Exchange) {
        guard let context else { return }
        // Idle before the write: the pipelining handler may deliver the next request from
        // inside it.
        phase = .idle
        let plan = exchange.plan
        for rest in exchange.stages.end() {
            plan.record.bytesOut += rest.readableBytes
            context.write(wrapOutboundOut(.body(rest)), promise: nil)
        }
        exchange.stages.finish(into: &plan.record)
        // The flag is read before the end goes out: writing it may start the next pipelined
        // request, which sets its own. The accounting comes after the flush, off the
        // client's latency (so a pipelined request answered at once may be recorded first).
        let close = closeAfterResponse
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        recorder.finished(plan.record)
        if close { context.close(promise: nil) }
    }

    func upstreamFailed(_ error: PoolError) {
        guard case .forwarding(let exchange) = phase, let context else { return }
        exchange.upstream = nil
        let plan = exchange.plan
        let (gatewayError, retryable) = UpstreamClient.classify(error, endpoint: plan.record.endpoint ?? "?")
        if exchange.headSent {
            // Mid-body: nothing can be retried; the client sees the stream cut.
            phase = .idle
            plan.attempts.failedMidResponse(gatewayError)
            plan.record.errorCode = .upstreamStreamError
            exchange.stages.finish(into: &plan.record)
            recorder.finished(plan.record)
            context.close(promise: nil)
        } else {
            next(plan.attempts.failed(.init(error: gatewayError, retryable: retryable, notSent: error == .notSent)), exchange)
        }
    }

    // MARK: endings

    /// Answers a request refused by the planner. When the request's body is still to come,
    /// it is read and dropped (or the connection closed, when the planner says so).
    private func answer(rejection: RequestPlanner.Rejection, requestEnded: Bool) {
        var record = rejection.record
        phase = requestEnded ? .idle : .discarding
        if rejection.closeConnection { closeAfterResponse = true }
        write(rejection.response, record: &record)
    }

    /// Answers the forwarded request with a gateway error in its dialect.
    private func fail(_ error: GatewayError, _ exchange: Exchange) {
        phase = .idle
        let plan = exchange.plan
        plan.record.errorCode = error.code
        write(.error(error, dialect: plan.dialect), record: &plan.record)
    }

    /// Writes a complete local response and accounts for the request.
    private func write(_ response: LocalResponse, record: inout RequestRecord) {
        guard let context else { return }
        var fields = response.headers
        fields[.contentLength] = String(response.body.readableBytes)
        fields[.xRequestID] = record.id
        record.decorate(&fields, securityHeaders: store.state.config.security.securityHeaders)
        if closeAfterResponse { fields[.connection] = "close" }
        record.status = response.status.code
        record.bytesOut = response.body.readableBytes
        context.write(wrapOutboundOut(.head(HTTPResponse(status: response.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(response.body)), promise: nil)
        // As in `upstreamEnd`: the flag before the end goes out, the accounting after.
        let close = closeAfterResponse
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        recorder.finished(record)
        if close { context.close(promise: nil) }
    }

    /// The client closed or half-closed while its request was in flight: stop the upstream
    /// at once and account for the request as the client's cancellation.
    private func clientGone() {
        switch phase {
        case .forwarding(let exchange):
            phase = .idle
            let plan = exchange.plan
            exchange.upstream?.cancel()
            plan.record.errorCode = .clientClosed
            if !exchange.headSent { plan.record.status = GatewayError.clientClosed.status.code }
            exchange.stages.finish(into: &plan.record)
            recorder.finished(plan.record)
        case .reading(let reading):
            phase = .idle
            var record = reading.pending.record
            record.errorCode = .clientClosed
            record.status = GatewayError.clientClosed.status.code
            recorder.finished(record)
        default:
            phase = .idle
        }
    }
}
