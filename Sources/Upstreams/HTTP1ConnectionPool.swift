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
    /// Idle connections per event loop, so a request running on a loop gets a connection on
    /// that same loop (no thread hop) and loops never contend for one lock.
    private let idleByLoop: [ObjectIdentifier: IdleConnections]
    /// For loops outside `group` (none in the gateway; kept so nothing is ever lost).
    private let idleElsewhere = IdleConnections()

    public init(group: any EventLoopGroup, connectTimeout: TimeAmount, firstByteTimeout: TimeAmount, idleTimeout: TimeAmount, maxIdlePerHost: Int) {
        self.group = group
        self.connectTimeout = connectTimeout
        self.firstByteTimeout = firstByteTimeout
        self.idleTimeout = idleTimeout
        self.maxIdlePerHost = maxIdlePerHost
        var byLoop: [ObjectIdentifier: IdleConnections] = [:]
        for loop in group.makeIterator() { byLoop[ObjectIdentifier(loop)] = IdleConnections() }
        self.idleByLoop = byLoop
    }

    /// Sends one request and returns when the response head arrived. A pooled connection found
    /// closed before any byte of the request was written is replaced once; a request that may
    /// have reached the upstream is never sent again.
    public func execute(host: String, port: Int, head: HTTPRequestHead, body: ByteBuffer?) async throws -> PooledResponse {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        var attempt = 0
        while true {
            attempt += 1
            let (connection, reused) = try await lease(host: host, port: port, on: loop).get()
            do {
                let channel = connection.channel
                return try await withTaskCancellationHandler {
                    try await connection.start(head: head, body: body, reused: reused).get()
                } onCancel: {
                    channel.close(promise: nil)
                }
            } catch let error as PoolError where error == .notSent && attempt == 1 {
                continue
            }
        }
    }

    public func shutdown() {
        for box in [idleElsewhere] + Array(idleByLoop.values) {
            for connection in box.removeAll() { connection.channel.close(promise: nil) }
        }
    }

    /// A connection to `host:port` on `loop`: an idle one (`reused` true) or a new one.
    public func lease(host: String, port: Int, on loop: any EventLoop) -> EventLoopFuture<(PooledConnection, Bool)> {
        let key = "\(host):\(port)"
        let box = idleByLoop[ObjectIdentifier(loop)] ?? idleElsewhere
        while let connection = box.pop(key) {
            if connection.channel.isActive { return loop.makeSucceededFuture((connection, true)) }
        }
        return connect(host: host, port: port, on: loop)
    }

    /// A new connection to `host:port` on `loop` (`reused` false).
    public func connect(host: String, port: Int, on loop: any EventLoop) -> EventLoopFuture<(PooledConnection, Bool)> {
        let key = "\(host):\(port)"
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.autoRead, value: false)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [idleTimeout, firstByteTimeout] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler(firstByteTimeout: firstByteTimeout, idleTimeout: idleTimeout))
                }
            }
        // Handed over one loop turn later: the connect future completes while the channel is
        // still becoming active, before which a read request would be lost.
        return bootstrap.connect(host: host, port: port).flatMap { channel in
            channel.eventLoop.submit { (PooledConnection(channel: channel, pool: self, key: key), false) }
        }
    }

    /// Returns a connection whose exchange completed cleanly to its loop's idle stack.
    fileprivate func release(_ connection: PooledConnection) {
        let box = idleByLoop[ObjectIdentifier(connection.channel.eventLoop)] ?? idleElsewhere
        if !box.push(connection, key: connection.key, limit: maxIdlePerHost) { connection.channel.close(promise: nil) }
    }
}

/// The idle keep-alive connections of one event loop, by `host:port`. Locked only because
/// the async path may run off-loop; on the direct path the lock is never contended.
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
public enum PoolError: Error, Equatable, Sendable {
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
public final class PooledConnection: Sendable {
    public let channel: any Channel
    let key: String
    private let pool: HTTP1ConnectionPool

    init(channel: any Channel, pool: HTTP1ConnectionPool, key: String) {
        self.channel = channel
        self.pool = pool
        self.key = key
    }

    /// For async callers: the head as a future, the body as an async sequence.
    func start(head: HTTPRequestHead, body: ByteBuffer?, reused: Bool) -> EventLoopFuture<PooledResponse> {
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: PooledResponse.self)
        loop.execute { [self] in
            guard let handler = try? channel.pipeline.syncOperations.handler(type: ExchangeHandler.self) else {
                promise.fail(PoolError.notSent)
                return
            }
            let sink = AsyncResponseSink(promise: promise, handler: NIOLoopBound(handler, eventLoop: loop))
            _ = startExchange(head: head, body: body, reused: reused, sink: sink)
        }
        return promise.futureResult
    }

    /// On the connection's event loop: sends the request; the response goes to `sink` as it
    /// arrives. Returns nil (after telling the sink) when the connection cannot be used.
    public func startExchange(head: HTTPRequestHead, body: ByteBuffer?, reused: Bool, sink: any UpstreamResponseSink) -> UpstreamExchange? {
        channel.eventLoop.preconditionInEventLoop()
        guard let handler = try? channel.pipeline.syncOperations.handler(type: ExchangeHandler.self),
              handler.start(head: head, body: body, reused: reused, sink: sink, release: { [self] in pool.release(self) }) else {
            sink.upstreamFailed(.notSent)
            return nil
        }
        return UpstreamExchange(handler: handler)
    }
}

/// Receives one upstream response on the connection's event loop, part by part.
public protocol UpstreamResponseSink: AnyObject {
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

/// A running exchange, for its sink's owner on the connection's loop.
public struct UpstreamExchange {
    let handler: ExchangeHandler

    public func resumeReading() { handler.resumeReading() }
    /// Stops the exchange and closes the connection (the upstream sees the request end).
    public func cancel() { handler.cancel() }
}

/// Bridges an exchange to async callers: the head completes a promise, body parts go into a
/// back-pressured async sequence.
final class AsyncResponseSink: UpstreamResponseSink {
    private let promise: EventLoopPromise<PooledResponse>
    private let handler: NIOLoopBound<ExchangeHandler>
    private var source: PooledResponseBody.Producer.Source?

    init(promise: EventLoopPromise<PooledResponse>, handler: NIOLoopBound<ExchangeHandler>) {
        self.promise = promise
        self.handler = handler
    }

    func upstreamHead(_ head: HTTPResponseHead) {
        let producer = PooledResponseBody.Producer.makeSequence(
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 16),
            finishOnDeinit: false,
            delegate: BodyDemand(handler: handler)
        )
        source = producer.source
        promise.succeed(PooledResponse(head: head, body: PooledResponseBody(producer: producer.sequence)))
    }

    func upstreamBody(_ buffer: ByteBuffer) -> Bool {
        guard let source else { return false }
        if case .stopProducing = source.yield(buffer) { return false }
        return true
    }

    func upstreamReadComplete() {}

    func upstreamEnd() { source?.finish() }

    func upstreamFailed(_ error: PoolError) {
        if let source { source.finish(error) } else { promise.fail(error) }
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
/// (autoRead off): one while waiting for the head, then as the sink asks.
final class ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
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

    /// The body's reader stopped (done, cancelled or dropped). An unfinished body means the
    /// connection cannot be reused: close it, which also stops the upstream.
    func readerGone() {
        if case .streaming = state { cancel() }
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
