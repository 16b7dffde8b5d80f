import Dialects
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import ProxyCore

/// The deadline state of one connection, shared by the two handlers that feed it (both on
/// the connection's event loop).
final class ConnectionDeadlineBox {
    var deadlines: ConnectionDeadlines

    init(_ deadlines: ConnectionDeadlines) { self.deadlines = deadlines }
}

/// First in the pipeline, before the HTTP parser: notes that bytes arrived, which is all
/// the head deadline and body progress need to know about raw traffic.
final class RawByteWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let box: ConnectionDeadlineBox

    init(box: ConnectionDeadlineBox) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        box.deadlines.bytesArrived(at: .now())
        context.fireChannelRead(data)
    }
}

/// Guards a client connection against what the HTTP parser lets through: it closes
/// connections that miss a deadline (``ConnectionDeadlines``), answers
/// `Expect: 100-continue` (and never passes `Expect` on, so it cannot reach an upstream),
/// and, on a connection accepted past the connection limit, answers everything but the
/// health endpoints with 503 and closes.
///
/// Sits right after the HTTP/1.1 codec, before Hummingbird's connection-state handler, so the
/// interim `100 Continue` it writes is not mistaken for the response head.
final class ClientConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let box: ConnectionDeadlineBox
    private let maxRequestSize: Int
    /// Accepted past `server.max_connections`: only health checks are served.
    private let overflow: Bool
    /// TLS: answers carry HSTS (the codec before marks requests `https`, which the admin
    /// cookie's `Secure` follows).
    private let transport: ConnectionTransport
    /// Dropping the rest of a request this handler answered itself.
    private var discarding = false
    private var timer: Scheduled<Void>?

    init(box: ConnectionDeadlineBox, maxRequestSize: Int, overflow: Bool, transport: ConnectionTransport = .plain) {
        self.box = box
        self.maxRequestSize = maxRequestSize
        self.overflow = overflow
        self.transport = transport
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { scheduleCheck(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        scheduleCheck(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = NIODeadline.now()
        switch unwrapInboundIn(data) {
        case .head(var head):
            box.deadlines.headReceived(at: now)
            if overflow, !(head.path ?? "").hasPrefix("/health") {
                refuseOverflow(context: context)
                return
            }
            if let expectation = head.headerFields[.expect] {
                head.headerFields[.expect] = nil
                let declared = head.headerFields[.contentLength].flatMap(Int.init) ?? 0
                // Too large a body is refused (413) without asking the client to send it.
                if expectation.lowercased() == "100-continue", declared <= maxRequestSize {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
                }
                context.fireChannelRead(wrapInboundOut(.head(head)))
                return
            }
            context.fireChannelRead(data)
        case .body:
            if discarding { return }
            if box.deadlines.bodyPartReceived(at: now) != nil {
                context.close(promise: nil)
                return
            }
            context.fireChannelRead(data)
        case .end:
            box.deadlines.requestEnded(at: now)
            if discarding {
                discarding = false
                return
            }
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .end:
            box.deadlines.responseEnded(at: .now())
        case .head(var head) where transport.hsts != nil && head.status.code >= 200:
            if head.headerFields[.strictTransportSecurity] == nil, let hsts = transport.hsts { head.headerFields[.strictTransportSecurity] = hsts }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            return
        default:
            break
        }
        context.write(data, promise: promise)
    }

    /// 503 in the OpenAI error shape, then close: the gateway is at its connection limit.
    private func refuseOverflow(context: ChannelHandlerContext) {
        discarding = true
        let error = GatewayError(
            status: .serviceUnavailable, code: .tooManyConnections,
            message: "The gateway is at its connection limit (server.max_connections); try again shortly", retryAfter: 1)
        let answer = LocalResponse.closing(error)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.status, headerFields: answer.headers))), promise: nil)
        context.write(wrapOutboundOut(.body(answer.body)), promise: nil)
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        let channel = context.channel
        done.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    /// One timer per connection, ticking at most every ``ConnectionDeadlines/checkInterval``.
    private func scheduleCheck(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let loop = context.eventLoop.assumeIsolated()
        let at = box.deadlines.nextCheck(at: .now())
        timer = loop.scheduleTask(deadline: at) { [self] in
            timer = nil
            guard context.channel.isActive else { return }
            if box.deadlines.expired(at: .now()) != nil {
                context.close(promise: nil)
            } else {
                scheduleCheck(context: context)
            }
        }
    }
}
