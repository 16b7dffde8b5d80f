import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import ProxyConfig

/// The gateway's HTTP/1.1 client for every forwarded request, plain or TLS: a stack of idle
/// keep-alive connections per origin and event loop, one exchange per connection at a time,
/// the response handed to a synchronous sink on the connection's loop. It skips
/// AsyncHTTPClient's general machinery (transaction state machines, request validation,
/// redirect handling), which the benchmark showed costs the gateway more than the proxying
/// itself. AsyncHTTPClient stays for background work (health checks, model lists).
///
/// TLS upstreams are verified in full (system trust store plus `upstream.ca_file`, hostname
/// or IP checked against the certificate, SNI for names); a connection is handed out only
/// once its handshake completed, so a handshake failure is a connect failure — the request
/// never left and another endpoint may be tried.
package final class HTTP1ConnectionPool: Sendable {
    package let group: any EventLoopGroup
    let connectTimeout: TimeAmount
    let firstByteTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let maxIdlePerHost: Int
    /// Client TLS settings for `https` upstreams, built at the first TLS connect: loading the
    /// system trust store parses every root certificate, which a gateway without `https`
    /// upstreams would carry for nothing. A failure is kept, and every TLS connect fails with it.
    private let tls: NIOLockedValueBox<Result<NIOSSLContext, any Error>?> = NIOLockedValueBox(nil)
    private let tlsConfiguration: TLSConfiguration
    /// Idle connections per event loop, so a request running on a loop gets a connection on
    /// that same loop (no thread hop) and loops never contend for one lock.
    private let idleByLoop: [ObjectIdentifier: IdleConnections]
    /// For loops outside `group` (none in the gateway; kept so nothing is ever lost).
    private let idleElsewhere = IdleConnections()

    package init(
        group: any EventLoopGroup, connectTimeout: TimeAmount, firstByteTimeout: TimeAmount, idleTimeout: TimeAmount,
        maxIdlePerHost: Int, caFile: String? = nil
    ) {
        self.group = group
        self.connectTimeout = connectTimeout
        self.firstByteTimeout = firstByteTimeout
        self.idleTimeout = idleTimeout
        self.maxIdlePerHost = maxIdlePerHost
        var byLoop: [ObjectIdentifier: IdleConnections] = [:]
        for loop in group.makeIterator() { byLoop[ObjectIdentifier(loop)] = IdleConnections() }
        self.idleByLoop = byLoop
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.applicationProtocols = ["http/1.1"]
        if let caFile { configuration.additionalTrustRoots = [.file(caFile)] }
        self.tlsConfiguration = configuration
    }

    /// The client TLS context, built once (under the lock, so two loops never both build it).
    private func tlsContext() -> Result<NIOSSLContext, any Error> {
        tls.withLockedValue { built in
            if let built { return built }
            let made = Result { try NIOSSLContext(configuration: tlsConfiguration) }
            built = made
            return made
        }
    }

    package func shutdown() {
        for box in [idleElsewhere] + Array(idleByLoop.values) {
            for connection in box.removeAll() { connection.channel.close(promise: nil) }
        }
    }

    /// A connection to `base`'s origin on `loop`: an idle one (`reused` true) or a new one.
    package func lease(_ base: UpstreamURL, on loop: any EventLoop) -> EventLoopFuture<(PooledConnection, Bool)> {
        let box = idleByLoop[ObjectIdentifier(loop)] ?? idleElsewhere
        while let connection = box.pop(base.origin) {
            if connection.channel.isActive { return loop.makeSucceededFuture((connection, true)) }
        }
        return connect(base, on: loop)
    }

    /// A new connection to `base`'s origin on `loop` (`reused` false), handed over once it is
    /// usable: connected and, for `https`, with its handshake done.
    package func connect(_ base: UpstreamURL, on loop: any EventLoop) -> EventLoopFuture<(PooledConnection, Bool)> {
        let key = base.origin
        let context: NIOSSLContext?
        if base.isTLS {
            switch tlsContext() {
            case .success(let built): context = built
            case .failure(let error): return loop.makeFailedFuture(error)
            }
        } else {
            context = nil
        }
        let handshake = loop.makePromise(of: Void.self)
        let serverName = base.host.isIPAddress ? nil : base.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.autoRead, value: false)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [idleTimeout, firstByteTimeout] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let context {
                        try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                        try pipeline.addHandler(HandshakeWatch(promise: handshake))
                    }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(ExchangeHandler(firstByteTimeout: firstByteTimeout, idleTimeout: idleTimeout))
                }
            }
        let timeout = connectTimeout
        return bootstrap.connect(host: base.host, port: base.port).flatMap { channel in
            if base.publicOnly, let address = channel.remoteAddress?.ipAddress, CIDR.isNonPublic(address) != false {
                return channel.close().flatMapThrowing { throw PoolError.nonPublicAddress }
            }
            guard context != nil else {
                handshake.succeed()
                // Handed over one loop turn later: the connect future completes while the
                // channel is still becoming active, before which a read request would be lost.
                return channel.eventLoop.submit { (PooledConnection(channel: channel, pool: self, key: key), false) }
            }
            // The handshake needs reads while the connection is not yet leased.
            channel.read()
            let expiry = channel.eventLoop.scheduleTask(in: timeout) {
                handshake.fail(PoolError.handshakeTimeout)
                channel.close(promise: nil)
            }
            return handshake.futureResult.always { _ in expiry.cancel() }
                .flatMapError { error in channel.close().flatMapThrowing { throw error } }
                .map { (PooledConnection(channel: channel, pool: self, key: key), false) }
        }
    }

    /// Returns a connection whose exchange completed cleanly to its loop's idle stack.
    fileprivate func release(_ connection: PooledConnection) {
        let box = idleByLoop[ObjectIdentifier(connection.channel.eventLoop)] ?? idleElsewhere
        if !box.push(connection, key: connection.key, limit: maxIdlePerHost) { connection.channel.close(promise: nil) }
    }
}

/// Completes a promise when the TLS handshake is done, or fails it with the handshake's
/// error; removes itself afterwards.
final class HandshakeWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let promise: EventLoopPromise<Void>

    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            promise.succeed()
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(PoolError.notSent)
        context.fireChannelInactive()
    }
}

extension String {
    /// An IPv4 or IPv6 literal (no SNI for those; the certificate is checked against the IP).
    var isIPAddress: Bool {
        contains(":") || (!isEmpty && allSatisfy { $0 == "." || $0.isNumber } && split(separator: ".").count == 4)
    }
}

/// The idle keep-alive connections of one event loop, by origin. Only that loop's drivers
/// use it, so the lock is never contended; it stays so that a caller on another thread
/// (shutdown) is safe.
final class IdleConnections: Sendable {
    private let stacks = NIOLockedValueBox<[String: [PooledConnection]]>([:])

    func pop(_ key: String) -> PooledConnection? { stacks.withLockedValue { $0[key]?.popLast() } }

    func push(_ connection: PooledConnection, key: String, limit: Int) -> Bool {
        stacks.withLockedValue { stacks in
            var stack = stacks[key] ?? []
            guard stack.count < limit else { return false }
            stack.append(connection)
            stacks[key] = stack
            return true
        }
    }

    func removeAll() -> [PooledConnection] {
        stacks.withLockedValue { stacks in
            defer { stacks.removeAll() }
            return stacks.values.flatMap { $0 }
        }
    }
}

/// Failures of the lean client, mapped to gateway errors by ``UpstreamClient/classify(_:endpoint:)``.
package enum PoolError: Error, Equatable, Sendable {
    /// The connection was closed (or busy) before any byte of the request was written: the
    /// request certainly did not reach the upstream and may be sent again.
    case notSent
    /// The connection closed after the request was written and before a response head
    /// arrived: the upstream may have received (and be processing) the request.
    case closedBeforeResponse(reused: Bool)
    /// No response head within the first-byte timeout.
    case firstByteTimeout
    /// The upstream sent nothing for the idle timeout while the body streamed.
    case idleTimeout
    /// The connection closed in the middle of the body.
    case closedMidBody
    /// The TLS handshake did not finish within the connect timeout.
    case handshakeTimeout
    /// The origin must be public (``UpstreamURL/publicOnly``) and its name resolved to a
    /// private, loopback or link-local address: closed before anything was sent.
    case nonPublicAddress
}

/// One pooled connection: its channel and (on the channel's loop) its exchange handler.
package final class PooledConnection: Sendable {
    package let channel: any Channel
    let key: String
    private let pool: HTTP1ConnectionPool

    init(channel: any Channel, pool: HTTP1ConnectionPool, key: String) {
        self.channel = channel
        self.pool = pool
        self.key = key
    }

    /// On the connection's event loop: sends the request; the response goes to `sink` as it
    /// arrives. Returns nil (after telling the sink) when the connection cannot be used or the
    /// request failed as it was written.
    package func startExchange(head: HTTPRequestHead, body: ByteBuffer?, reused: Bool, sink: any UpstreamResponseSink) -> (any UpstreamExchange)? {
        channel.eventLoop.preconditionInEventLoop()
        guard let handler = try? channel.pipeline.syncOperations.handler(type: ExchangeHandler.self),
            handler.start(head: head, body: body, reused: reused, sink: sink, release: { [self] in pool.release(self) })
        else {
            sink.upstreamFailed(.notSent)
            return nil
        }
        // Writing the request can fail at once (a keep-alive connection the upstream had
        // closed): the sink was told, so the exchange is not handed over as well.
        return handler.isRunning ? handler : nil
    }
}

/// Receives one upstream response on the connection's event loop, part by part.
package protocol UpstreamResponseSink: AnyObject {
    func upstreamHead(_ head: HTTPResponseHead)
    /// Returns whether to keep reading; after false, reading resumes with
    /// ``UpstreamExchange/resumeReading()``.
    func upstreamBody(_ buffer: ByteBuffer) -> Bool
    /// The end of one batch of reads: the moment to flush what was written.
    func upstreamReadComplete()
    func upstreamEnd()
    /// The exchange failed; nothing more arrives.
    func upstreamFailed(_ error: PoolError)
}

/// A running exchange, for its sink's owner on the exchange's loop: a pooled connection's
/// or the in-process mock's.
package protocol UpstreamExchange: AnyObject {
    /// The sink returned false from ``UpstreamResponseSink/upstreamBody(_:)`` and may take more.
    func resumeReading()
    /// Stops the exchange without telling the sink (its owner asked); a connection is closed,
    /// so the upstream sees the request end.
    func cancel()
}

/// Runs one request/response exchange at a time on its connection. Reads are explicit
/// (autoRead off): one while waiting for the head, then as the sink asks.
final class ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamExchange {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private enum State {
        case idle
        case awaitingHead(any UpstreamResponseSink, reused: Bool)
        case streaming(any UpstreamResponseSink)
        case closed
    }

    private var state = State.idle
    private var context: ChannelHandlerContext?
    private var wantsRead = false
    private var keepAlive = true
    private var release: (() -> Void)?
    private var timer: Scheduled<Void>?
    private var lastActivity = NIODeadline.now()
    private let firstByteTimeout: TimeAmount
    private let idleTimeout: TimeAmount

    init(firstByteTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.firstByteTimeout = firstByteTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Whether an exchange is under way (it has not ended, failed or been cancelled).
    var isRunning: Bool {
        switch state {
        case .awaitingHead, .streaming: true
        case .idle, .closed: false
        }
    }

    /// Returns false when the connection cannot take a request (closed or busy).
    func start(head: HTTPRequestHead, body: ByteBuffer?, reused: Bool, sink: any UpstreamResponseSink, release: @escaping () -> Void) -> Bool {
        guard let context, case .idle = state, context.channel.isActive else { return false }
        state = .awaitingHead(sink, reused: reused)
        self.release = release
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body, body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: firstByteTimeout) { [weak self] in self?.fail(PoolError.firstByteTimeout) }
        wantsRead = true
        context.read()
        return true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard case .awaitingHead(let sink, _) = state else {
                // A response nobody asked for (on an idle connection): unusable.
                context.close(promise: nil)
                return
            }
            timer?.cancel()
            timer = nil
            keepAlive = head.isKeepAlive
            state = .streaming(sink)
            lastActivity = .now()
            scheduleIdleCheck(context: context, every: idleTimeout)
            sink.upstreamHead(head)
        case .body(let buffer):
            guard case .streaming(let sink) = state else { return }
            lastActivity = .now()
            if !sink.upstreamBody(buffer) { wantsRead = false }
        case .end:
            guard case .streaming(let sink) = state else { return }
            timer?.cancel()
            timer = nil
            state = .idle
            wantsRead = false
            if keepAlive {
                let release = self.release
                self.release = nil
                release?()
                // Idle in the pool: keep a read armed so that a close by the upstream is
                // seen at once and the connection is never leased dead.
                context.read()
            } else {
                context.close(promise: nil)
            }
            sink.upstreamEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        switch state {
        case .awaitingHead:
            if wantsRead { context.read() }
        case .streaming(let sink):
            sink.upstreamReadComplete()
            if wantsRead { context.read() }
        default: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .awaitingHead(let sink, let reused):
            state = .closed
            sink.upstreamFailed(.closedBeforeResponse(reused: reused))
        case .streaming(let sink):
            state = .closed
            sink.upstreamFailed(.closedMidBody)
        case .idle, .closed:
            state = .closed
        }
        timer?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func resumeReading() {
        guard case .streaming = state, let context else { return }
        if !wantsRead {
            wantsRead = true
            context.read()
        }
    }

    /// Drops the exchange without telling the sink (its owner asked) and closes the connection.
    func cancel() {
        switch state {
        case .awaitingHead, .streaming:
            state = .closed
            timer?.cancel()
            context?.close(promise: nil)
        default:
            return
        }
    }

    private func fail(_ error: PoolError) {
        let sink: any UpstreamResponseSink
        switch state {
        case .awaitingHead(let waiting, _): sink = waiting
        case .streaming(let streaming): sink = streaming
        default: return
        }
        state = .closed
        context?.close(promise: nil)
        sink.upstreamFailed(error)
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext, every interval: TimeAmount) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: interval) { [weak self] in
            guard let self, case .streaming = self.state, let context = self.context else { return }
            if NIODeadline.now() - self.lastActivity >= interval {
                self.fail(.idleTimeout)
            } else {
                self.scheduleIdleCheck(context: context, every: interval)
            }
        }
    }
}
