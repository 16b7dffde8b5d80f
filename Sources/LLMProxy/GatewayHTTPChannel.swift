import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import ProxyConfig
import ProxyCore
import Synchronization

/// The HTTP/1.1 connection pipeline: Hummingbird's, with the gateway's own handlers placed
/// where they must sit — the raw-byte watch before the parser, the connection guard
/// (deadlines, `Expect`, connection limit), Hummingbird's
/// connection-state handler (idle and graceful-shutdown bookkeeping, which must see every
/// request), then the proxy engine's driver, then the async bridge to the Hummingbird
/// responder for the gateway's own surfaces (admin, health, metrics, UI), which the driver
/// hands on untouched.
struct GatewayHTTPChannel: HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let store: StateStore
    let connections: ConnectionLimiter
    /// The engine's driver for a new connection.
    let makeDriver: @Sendable () -> HTTP1ProxyDriver

    /// Set on the TLS listener: requests are marked `https`, answers carry HSTS.
    var transport = ConnectionTransport.plain

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let admission = admit(channel) else { return channel.eventLoop.makeFailedFuture(ChannelError.alreadyClosed) }
        return channel.eventLoop.makeCompletedFuture { try configure(channel, admission: admission, logger: logger) }
    }

    /// Counts the connection against `server.max_connections` (released when it closes);
    /// nil, with the channel closed, past the limit and its health reserve.
    func admit(_ channel: any Channel) -> ConnectionLimiter.Admission? {
        let admission = connections.admit(limit: store.state.config.server.maxConnections)
        guard admission != .refused else {
            channel.close(promise: nil)
            return nil
        }
        channel.closeFuture.whenComplete { [connections] _ in connections.release() }
        return admission
    }

    /// The HTTP/1.1 pipeline on `channel` (after TLS, when the listener has it).
    func configure(_ channel: any Channel, admission: ConnectionLimiter.Admission, logger: Logger) throws -> Value {
        let server = store.state.config.server
        let pipeline = channel.pipeline.syncOperations
        let limits = ConnectionDeadlines.Limits(server)
        let box = ConnectionDeadlineBox(ConnectionDeadlines(limits: limits, now: .now()))
        try pipeline.addHandler(RawByteWatch(box: box))
        try pipeline.addHandler(HTTP1ServerCodec(secure: transport.isSecure))
        try pipeline.addHandler(connectionGuard(box, admission: admission))
        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
        try pipeline.addHandler(makeDriver())
        return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
    }

    /// The deadlines, `Expect` handling, overflow answer and HSTS of one connection (or, on
    /// HTTP/2, one stream).
    func connectionGuard(_ box: ConnectionDeadlineBox, admission: ConnectionLimiter.Admission) -> ClientConnectionGuard {
        ClientConnectionGuard(
            box: box, maxRequestSize: store.state.config.server.maxRequestSize, overflow: admission == .overflow, transport: transport)
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}

/// Plain HTTP, or TLS with the HSTS header its answers carry.
struct ConnectionTransport: Sendable {
    var isSecure = false
    /// `Strict-Transport-Security` value; nil sends none.
    var hsts: String?

    static let plain = ConnectionTransport()

    static func tls(hstsMaxAge: Int) -> ConnectionTransport {
        ConnectionTransport(isSecure: true, hsts: hstsMaxAge > 0 ? "max-age=\(hstsMaxAge)" : nil)
    }
}

/// Counts open client connections against `server.max_connections`. A small reserve past
/// the limit is still accepted so health checks keep being answered (everything else there
/// gets 503); beyond the reserve, connections are closed at accept.
final class ConnectionLimiter: Sendable {
    enum Admission: Equatable { case normal, overflow, refused }

    /// Connections past the limit that may still ask for `/health*`.
    static let healthReserve = 64

    private let open = Atomic<Int>(0)

    var count: Int { open.load(ordering: .relaxed) }

    func admit(limit: Int) -> Admission {
        let (_, now) = open.add(1, ordering: .relaxed)
        if now <= limit { return .normal }
        if now <= limit + Self.healthReserve { return .overflow }
        open.subtract(1, ordering: .relaxed)
        return .refused
    }

    func release() {
        open.subtract(1, ordering: .relaxed)
    }
}

extension ConnectionDeadlines.Limits {
    /// The deadlines `server.*` configures.
    init(_ server: ServerConfig) {
        self.init(
            head: .fromSeconds(server.requestHeadTimeout), body: .fromSeconds(server.requestBodyTimeout),
            keepAlive: .fromSeconds(server.keepAliveTimeout), maxBodyParts: Self.defaultMaxBodyParts)
    }
}

extension TimeAmount {
    /// Seconds from configuration (validated finite and bounded), as a time amount.
    static func fromSeconds(_ value: Double) -> TimeAmount {
        .nanoseconds(Int64((value * 1_000_000_000).rounded()))
    }
}
