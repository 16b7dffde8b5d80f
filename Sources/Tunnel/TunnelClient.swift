import Dialects
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ServiceLifecycle

/// `llm-proxy tunnel client`: a local HTTP endpoint that any OpenAI, Anthropic or Gemini SDK
/// can use unchanged. Each request travels through the tunnel (protocol v2) to the server,
/// which performs it against the upstream; the response (streams included) comes back as
/// the server receives it. One tunnel connection per event loop carries every request of
/// that loop's local connections at once.
package struct TunnelClientSettings: Sendable {
    package var listenHost = "127.0.0.1"
    package var listenPort = 8089
    package var serverHost: String
    package var serverPort = 50051
    package var key: TunnelKey
    /// Base URL every request goes to (`https://api.openai.com`); nil picks the provider's
    /// public API by the request's dialect.
    package var upstream: String?
    package var maxRequestBytes = 10_485_760
    package var connectTimeout: TimeAmount = .seconds(10)

    package init(serverHost: String, key: TunnelKey) {
        self.serverHost = serverHost
        self.key = key
    }

    /// Where a request for `path` goes when no upstream is given: the public API of the
    /// dialect the path belongs to.
    func upstreamBase(for path: String) -> String {
        if let upstream { return upstream.hasSuffix("/") ? String(upstream.dropLast()) : upstream }
        switch Dialect.guess(path: path) {
        case .anthropic: return "https://api.anthropic.com"
        case .gemini: return "https://generativelanguage.googleapis.com"
        case .openai: return "https://api.openai.com"
        }
    }
}

package final class TunnelClient: Service, Sendable {
    let settings: TunnelClientSettings
    let group: any EventLoopGroup
    let logger: Logger
    let onListening: @Sendable (Int) async -> Void
    private let links: [ObjectIdentifier: LinkSlot]

    package init(settings: TunnelClientSettings, group: any EventLoopGroup, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.settings = settings
        self.group = group
        self.logger = logger
        self.onListening = onListening
        var slots: [ObjectIdentifier: LinkSlot] = [:]
        for loop in group.makeIterator() { slots[ObjectIdentifier(loop)] = LinkSlot() }
        links = slots
    }

    /// The open tunnel connection of `loop`, made when there is none.
    func link(on loop: any EventLoop) -> TunnelLink? {
        guard let slot = links[ObjectIdentifier(loop)] else { return nil }
        if let link = slot.link, !link.isClosed { return link }
        let link = TunnelLink(key: settings.key, loop: loop, maxFrame: max(settings.maxRequestBytes, 64 << 20))
        slot.link = link
        link.connect(host: settings.serverHost, port: settings.serverPort, timeout: settings.connectTimeout)
        return link
    }

    package func run() async throws {
        let client = self
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(LocalRequestHandler(client: client))
                }
            }
        let channel = try await bootstrap.bind(host: settings.listenHost, port: settings.listenPort).get()
        let port = channel.localAddress?.port ?? settings.listenPort
        logger.info(
            "tunnel client listening",
            metadata: [
                "address": .string("http://\(settings.listenHost):\(port)"), "server": .string("\(settings.serverHost):\(settings.serverPort)"),
            ])
        await onListening(port)
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// A loop's tunnel connection, touched only on that loop.
final class LinkSlot: @unchecked Sendable {
    var link: TunnelLink?
}

/// One local HTTP/1.1 connection of the tunnel client: each request is read whole, sent as a
/// v2 stream, and its response written back as its frames arrive.
final class LocalRequestHandler: ChannelInboundHandler, TunnelStreamSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let client: TunnelClient
    private var context: ChannelHandlerContext?
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false
    private var inFlight: (link: TunnelLink, stream: UInt32)?
    private var headSent = false
    private var pausedLink: TunnelLink?
    private var keepAlive = true
    /// The dialect of the request in flight, for errors the client answers itself.
    private var dialect = Dialect.openai

    init(client: TunnelClient) { self.client = client }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = nil
            tooLarge = false
            keepAlive = requestHead.isKeepAlive
        case .body(var part):
            guard !tooLarge else { return }
            if (body?.readableBytes ?? 0) + part.readableBytes > client.settings.maxRequestBytes {
                tooLarge = true
                body = nil
                return
            }
            if body == nil { body = context.channel.allocator.buffer(capacity: part.readableBytes) }
            body!.writeBuffer(&part)
        case .end:
            guard let head else { return }
            self.head = nil
            forward(head, context: context)
        }
    }

    private func dialect(of head: HTTPRequestHead) -> Dialect {
        Dialect.guess(path: String(head.uri.split(separator: "?", maxSplits: 1).first ?? ""))
    }

    private func forward(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        if tooLarge {
            answer(.requestTooLarge(limit: client.settings.maxRequestBytes), dialect: dialect(of: head))
            return
        }
        guard head.uri.hasPrefix("/") else {
            answer(.badRequest("The request target must be a path"), dialect: dialect(of: head))
            return
        }
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        dialect = Dialect.guess(path: path)
        let url = client.settings.upstreamBase(for: path) + head.uri
        var headers: [(name: String, value: String)] = []
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if Self.hopByHop.contains(lower) { continue }
            headers.append((lower, value))
        }
        let payload = V2Codec.requestPayload(method: head.method.rawValue, url: url, headers: headers, body: body)
        body = nil
        headSent = false
        guard let link = client.link(on: context.eventLoop), let stream = link.submit(payload, sink: self) else {
            answer(
                GatewayError(status: .serviceUnavailable, code: .upstreamUnavailable, message: "The tunnel connection is busy or closed; retry", retryAfter: 1),
                dialect: dialect(of: head))
            return
        }
        inFlight = (link, stream)
    }

    /// A local error answer in the request's dialect.
    private func answer(_ error: GatewayError, dialect: Dialect) {
        let response = LocalResponse.error(error, dialect: dialect)
        var headers = HTTPHeaders()
        for field in response.headers { headers.add(name: field.name.canonicalName, value: field.value) }
        headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        writeHead(status: Int(response.status.code), headers: headers)
        context?.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        finish()
    }

    private func writeHead(status: Int, headers: HTTPHeaders) {
        var headers = headers
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        headSent = true
        context?.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))), promise: nil)
    }

    private func finish() {
        inFlight = nil
        if let link = pausedLink {
            pausedLink = nil
            link.resumeReading()
        }
        guard let context else { return }
        let close = !keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if close { context.close(promise: nil) }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let link = pausedLink {
            pausedLink = nil
            link.resumeReading()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let (link, stream) = inFlight { link.cancel(stream) }
        inFlight = nil
        if let link = pausedLink {
            pausedLink = nil
            link.resumeReading()
        }
        context.fireChannelInactive()
    }

    // MARK: TunnelStreamSink

    func tunnelHead(status: Int, headers: [(name: String, value: String)]) {
        var fields = HTTPHeaders()
        for (name, value) in headers where !Self.hopByHop.contains(name) || name == "content-length" { fields.add(name: name, value: value) }
        writeHead(status: status, headers: fields)
        context?.flush()
    }

    func tunnelBody(_ buffer: ByteBuffer) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        if !context.channel.isWritable, pausedLink == nil, let link = inFlight?.link {
            pausedLink = link
            link.pauseReading()
        }
    }

    func tunnelEnd() { finish() }

    func tunnelFailed(code: String, message: String) {
        if headSent {
            inFlight = nil
            context?.close(promise: nil)
            return
        }
        answer(GatewayError(status: .badGateway, code: .upstreamError, message: "Tunnel: \(message) (\(code))"), dialect: dialect)
    }

    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding",
        "upgrade", "host", "content-length", "expect",
    ]
}
