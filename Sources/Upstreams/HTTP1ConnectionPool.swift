import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A lean HTTP/1.1 client for plain-HTTP upstreams (local engines, sidecars, loopback): a
/// stack of idle keep-alive connections per host, one exchange per connection at a time, the
/// response body handed over as a back-pressured async sequence. It skips AsyncHTTPClient's
/// general machinery (transaction state machines, request validation, redirect handling),
/// which the benchmark showed costs the gateway more than the proxying itself.
/// TLS upstreams keep using AsyncHTTPClient.
public final class HTTP1ConnectionPool: Sendable {
    let group: any EventLoopGroup
    let connectTimeout: TimeAmount
    let firstByteTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let maxIdlePerHost: Int
    private let idle = NIOLockedValueBox<[String: [PooledConnection]]>([:])

    public init(group: any EventLoopGroup, connectTimeout: TimeAmount, firstByteTimeout: TimeAmount, idleTimeout: TimeAmount, maxIdlePerHost: Int) {
        self.group = group
        self.connectTimeout = connectTimeout
        self.firstByteTimeout = firstByteTimeout
        self.idleTimeout = idleTimeout
        self.maxIdlePerHost = maxIdlePerHost
    }

    /// Sends one request and returns when the response head arrived. A keep-alive connection
    /// that turns out to be closed by the server before answering is replaced once.
    public func execute(host: String, port: Int, head: HTTPRequestHead, body: ByteBuffer?) async throws -> PooledResponse {
        var attempt = 0
        while true {
            attempt += 1
            let (connection, reused) = try await acquire(host: host, port: port)
            do {
                let channel = connection.channel
                return try await withTaskCancellationHandler {
                    try await connection.start(head: head, body: body, reused: reused, firstByteTimeout: firstByteTimeout).get()
                } onCancel: {
                    channel.close(promise: nil)
                }
            } catch let error as PoolError where error == .closedBeforeResponse(reused: true) && attempt == 1 {
                continue
            }
        }
    }

    public func shutdown() {
        let all = idle.withLockedValue { idle in
            defer { idle.removeAll() }
            return idle.values.flatMap { $0 }
        }
        for connection in all { connection.channel.close(promise: nil) }
    }

    private func acquire(host: String, port: Int) async throws -> (PooledConnection, Bool) {
        let key = "\(host):\(port)"
        while let connection = idle.withLockedValue({ $0[key]?.popLast() }) {
            if connection.channel.isActive { return (connection, true) }
        }
        let loop = group.any()
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.autoRead, value: false)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [idleTimeout] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler(idleTimeout: idleTimeout))
                }
            }
        let channel = try await bootstrap.connect(host: host, port: port).get()
        return (PooledConnection(channel: channel, pool: self, key: key), false)
    }

    /// Returns a connection whose exchange completed cleanly to the idle stack.
    fileprivate func release(_ connection: PooledConnection) {
        let kept = idle.withLockedValue { idle -> Bool in
            var stack = idle[connection.key] ?? []
            guard stack.count < maxIdlePerHost else { return false }
            stack.append(connection)
            idle[connection.key] = stack
            return true
        }
        if !kept { connection.channel.close(promise: nil) }
    }
}

/// Failures of the lean client, mapped to gateway errors by ``UpstreamClient/classify(_:endpoint:)``.
public enum PoolError: Error, Equatable, Sendable {
    /// The connection closed before a response head arrived.
    case closedBeforeResponse(reused: Bool)
    /// No response head within the first-byte timeout.
    case firstByteTimeout
    /// The upstream sent nothing for the idle timeout while the body streamed.
    case idleTimeout
    /// The connection closed in the middle of the body.
    case closedMidBody
}

/// The head of an upstream response and its body, which must be consumed or dropped.
public struct PooledResponse: Sendable {
    public let head: HTTPResponseHead
    public let body: PooledResponseBody
}

/// The response body as it arrives; reading slowly slows the upstream connection down
/// (reads stop above the high watermark). Dropping it closes the connection.
public struct PooledResponseBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, BodyDemand>
    let producer: Producer

    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Producer.AsyncIterator
        public mutating func next() async throws -> ByteBuffer? { try await inner.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: producer.makeAsyncIterator()) }
}

/// One pooled connection: its channel and (on the channel's loop) its exchange handler.
final class PooledConnection: Sendable {
    let channel: any Channel
    let key: String
    private let pool: HTTP1ConnectionPool

    init(channel: any Channel, pool: HTTP1ConnectionPool, key: String) {
        self.channel = channel
        self.pool = pool
        self.key = key
    }

    func start(head: HTTPRequestHead, body: ByteBuffer?, reused: Bool, firstByteTimeout: TimeAmount) -> EventLoopFuture<PooledResponse> {
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: PooledResponse.self)
        loop.execute { [self] in
            guard let handler = try? channel.pipeline.syncOperations.handler(type: ExchangeHandler.self) else {
                promise.fail(PoolError.closedBeforeResponse(reused: reused))
                return
            }
            handler.start(head: head, body: body, promise: promise, reused: reused, firstByteTimeout: firstByteTimeout) { [self] in
                pool.release(self)
            }
        }
        return promise.futureResult
    }
}

/// Tells the exchange handler, on its loop, that the body's reader wants more or left.
struct BodyDemand: NIOAsyncSequenceProducerDelegate {
    let handler: NIOLoopBound<ExchangeHandler>

    func produceMore() {
        let handler = self.handler
        handler.eventLoop.execute { handler.value.resumeReading() }
    }

    func didTerminate() {
        let handler = self.handler
        handler.eventLoop.execute { handler.value.readerGone() }
    }
}

/// Runs one request/response exchange at a time on its connection. Reads are explicit
/// (autoRead off): one while waiting for the head, then as the body's reader asks.
final class ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private enum State {
        case idle
        case awaitingHead(EventLoopPromise<PooledResponse>, reused: Bool)
        case streaming(PooledResponseBody.Producer.Source)
        case closed
    }

    private var state = State.idle
    private var context: ChannelHandlerContext?
    private var wantsRead = false
    private var keepAlive = true
    private var release: (() -> Void)?
    private var timer: Scheduled<Void>?
    private var lastActivity = NIODeadline.now()
    private let idleTimeout: TimeAmount

    init(idleTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func start(head: HTTPRequestHead, body: ByteBuffer?, promise: EventLoopPromise<PooledResponse>, reused: Bool, firstByteTimeout: TimeAmount, release: @escaping () -> Void) {
        guard let context, case .idle = state, context.channel.isActive else {
            promise.fail(PoolError.closedBeforeResponse(reused: reused))
            return
        }
        state = .awaitingHead(promise, reused: reused)
        self.release = release
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body, body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: firstByteTimeout) { [weak self] in self?.fail(PoolError.firstByteTimeout) }
        wantsRead = true
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard case .awaitingHead(let promise, _) = state else { return }
            timer?.cancel()
            keepAlive = head.isKeepAlive
            let producer = PooledResponseBody.Producer.makeSequence(
                backPressureStrategy: .init(lowWatermark: 2, highWatermark: 16),
                finishOnDeinit: false,
                delegate: BodyDemand(handler: NIOLoopBound(self, eventLoop: context.eventLoop))
            )
            state = .streaming(producer.source)
            lastActivity = .now()
            let check = idleTimeout
            timer = nil
            scheduleIdleCheck(context: context, every: check)
            promise.succeed(PooledResponse(head: head, body: PooledResponseBody(producer: producer.sequence)))
        case .body(let buffer):
            guard case .streaming(let source) = state else { return }
            lastActivity = .now()
            if case .stopProducing = source.yield(buffer) { wantsRead = false }
        case .end:
            guard case .streaming(let source) = state else { return }
            timer?.cancel()
            timer = nil
            state = .idle
            wantsRead = false
            source.finish()
            if keepAlive {
                let release = self.release
                self.release = nil
                release?()
            } else {
                context.close(promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        switch state {
        case .awaitingHead, .streaming: if wantsRead { context.read() }
        default: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .awaitingHead(let promise, let reused):
            promise.fail(PoolError.closedBeforeResponse(reused: reused))
        case .streaming(let source):
            source.finish(PoolError.closedMidBody)
        case .idle, .closed:
            break
        }
        state = .closed
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

    /// The body's reader stopped (done, cancelled or dropped). An unfinished body means the
    /// connection cannot be reused: close it, which also stops the upstream.
    func readerGone() {
        if case .streaming = state { context?.close(promise: nil) }
    }

    private func fail(_ error: PoolError) {
        switch state {
        case .awaitingHead(let promise, _):
            state = .closed
            promise.fail(error)
        case .streaming(let source):
            state = .closed
            source.finish(error)
        default:
            return
        }
        context?.close(promise: nil)
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
