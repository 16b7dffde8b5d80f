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
/// the ``RequestPlanner``, reads the body it admitted, and forwards it through a
/// ``ForwardExchange`` (attempts over pooled upstream connections or the in-process mock on
/// this same event loop, the response through the attempt's stages) — no task, async
/// sequence or thread hop per request or chunk. Backpressure is the client channel's
/// writability.
///
/// Every request the planner does not call `notProxied` is answered here, rejections
/// included, and accounted for here exactly once through the ``RequestRecorder``; the
/// Hummingbird application behind sees only admin, health, metrics and UI requests.
///
/// Sits after `HTTPConnectionStateHandler`, so idle and graceful-shutdown handling see every
/// request, and after NIO's pipelining handler, so there is one request at a time.
final class HTTP1ProxyDriver: ChannelDuplexHandler, RemovableChannelHandler, ExchangeClient {
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
        case forwarding(ForwardExchange)
    }

    /// An admitted request whose body is being read. A class, so that the phase holds one
    /// reference instead of copying the pending request at every body part.
    private final class Reading {
        let pending: RequestPlanner.PendingRequest
        var body: ByteBuffer?

        init(_ pending: RequestPlanner.PendingRequest) { self.pending = pending }
    }

    private let store: StateStore
    private let transport: any UpstreamTransport
    private let recorder: RequestRecorder
    private var phase = Phase.idle
    /// The connection's peer, formatted once (its requests share it).
    private var peer: ConnectionPeer?
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
                let exchange = ForwardExchange(plan: plan, client: self, transport: transport, recorder: recorder, on: context.eventLoop)
                phase = .forwarding(exchange)
                exchange.start()
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
        if context.channel.isWritable, case .forwarding(let exchange) = phase { exchange.clientWritable() }
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
        let address = context.channel.remoteAddress
        let current = peer.flatMap { $0.address == address ? $0 : nil } ?? ConnectionPeer(address)
        peer = current
        let outcome = RequestPlanner.head(head, peer: current, state: state)
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

    // MARK: the forwarded request's response (ExchangeClient)

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func exchangeHead(_ response: HTTPResponse) {
        var response = response
        if closeAfterResponse { response.headerFields[.connection] = "close" }
        context?.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    func exchangeBody(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(.body(buffer)), promise: nil)
    }

    func exchangeFlush() { context?.flush() }

    func exchangeEnding(_ exchange: ForwardExchange) {
        // Idle before the end is written: the pipelining handler may deliver the next request
        // from inside that write.
        if case .forwarding(let current) = phase, current === exchange { phase = .idle }
    }

    func exchangeEnd() {
        guard let context else { return }
        // The flag is read before the end goes out: writing it may start the next pipelined
        // request, which sets its own.
        let close = closeAfterResponse
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if close { context.close(promise: nil) }
    }

    func exchangeAnswer(_ response: LocalResponse, record: inout RequestRecord) {
        write(response, record: &record)
    }

    func exchangeBroken() {
        context?.close(promise: nil)
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

    /// Writes a complete local response and accounts for the request.
    private func write(_ response: LocalResponse, record: inout RequestRecord) {
        guard let context else { return }
        var fields = response.fields(accountingIn: &record)
        record.decorate(&fields, securityHeaders: store.state.config.security.securityHeaders)
        if closeAfterResponse { fields[.connection] = "close" }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: response.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(response.body)), promise: nil)
        // As in `exchangeEnd`: the flag before the end goes out, the accounting after.
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
            exchange.clientGone()
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
