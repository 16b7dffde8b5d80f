import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2

extension GatewayHTTPChannel {
    /// The HTTP/2 pipeline on a TLS connection that chose `h2` by ALPN. Every stream gets
    /// the same handlers as an HTTP/1.1 connection — the stream's deadlines and `Expect`
    /// handling, the engine's driver — after the codec that turns its frames into request
    /// and response parts, so every guard, stage and observer applies unchanged. Proxied
    /// streams run in the pipeline (no task per stream); only requests for the gateway's own
    /// surfaces (admin, health, metrics) are bridged to the Hummingbird responder.
    ///
    /// NIOHTTP2's defaults bound what a client may do: 100 concurrent streams, bounded header
    /// lists and control frames, and its rapid-reset and glitch limits close abusive
    /// connections.
    func configureHTTP2(_ channel: any Channel, admission: ConnectionLimiter.Admission, logger: Logger) throws {
        let server = store.state.config.server
        let limits = ConnectionDeadlines.Limits(server)
        let makeDriver = self.makeDriver
        let local = self
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                let pipeline = stream.pipeline.syncOperations
                try pipeline.addHandler(HTTP2FramePayloadToHTTPServerCodec())
                let box = ConnectionDeadlineBox(ConnectionDeadlines(limits: limits, now: .now()))
                try pipeline.addHandler(local.connectionGuard(box, admission: admission))
                try pipeline.addHandler(makeDriver())
                try pipeline.addHandler(LocalSurfaceBridge(http: local, logger: logger))
            }
        }
        try channel.pipeline.syncOperations.addHandler(
            HTTP2ConnectionWatch(firstStream: .fromSeconds(server.requestHeadTimeout), idle: .fromSeconds(server.keepAliveTimeout)))
    }
}

/// The end of an HTTP/2 stream's pipeline: a request the driver handed on (one for the
/// gateway's own surfaces) is served by the Hummingbird responder, as on HTTP/1.1. Only
/// then is the stream wrapped for async use and given a task.
final class LocalSurfaceBridge: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart

    private let http: GatewayHTTPChannel
    private let logger: Logger
    private var bridged = false

    init(http: GatewayHTTPChannel, logger: Logger) {
        self.http = http
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !bridged {
            bridged = true
            do {
                // Installed behind this handler, before the part is passed on: nothing is lost.
                let stream = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(wrappingChannelSynchronously: context.channel)
                let http = self.http
                let logger = self.logger
                Task { await http.handleHTTP(asyncChannel: stream, logger: logger) }
            } catch {
                context.close(promise: nil)
                return
            }
        }
        context.fireChannelRead(data)
    }
}

/// Connection-level housekeeping HTTP/2 needs beside its streams: a connection that opens no
/// stream within the head timeout, or has had none open for the keep-alive timeout, is closed;
/// on graceful shutdown a GOAWAY tells the client to open no new stream, and the connection
/// closes once its streams have finished.
final class HTTP2ConnectionWatch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let firstStream: TimeAmount
    private let idle: TimeAmount
    private var open = 0
    private var lastStream = HTTP2StreamID.rootStream
    private var quiescing = false
    private var timer: Scheduled<Void>?

    init(firstStream: TimeAmount, idle: TimeAmount) {
        self.firstStream = firstStream
        self.idle = idle
    }

    func handlerAdded(context: ChannelHandlerContext) { arm(context: context, after: firstStream) }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let created as NIOHTTP2StreamCreatedEvent:
            open += 1
            if created.streamID > lastStream { lastStream = created.streamID }
            disarm()
        case is StreamClosedEvent:
            open = max(0, open - 1)
            if open == 0 {
                if quiescing {
                    context.close(promise: nil)
                } else {
                    arm(context: context, after: idle)
                }
            }
        case is ChannelShouldQuiesceEvent:
            quiescing = true
            let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStream, errorCode: .noError, opaqueData: nil))
            context.writeAndFlush(wrapOutboundOut(goAway), promise: nil)
            if open == 0 { context.close(promise: nil) }
            return
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func arm(context: ChannelHandlerContext, after delay: TimeAmount) {
        disarm()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
