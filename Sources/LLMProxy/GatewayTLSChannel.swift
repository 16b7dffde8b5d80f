import Certificates
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// The HTTPS listener's connection pipeline: the connection is counted against
/// `server.max_connections` at accept (before any handshake work), TLS is added with the
/// certificate in force at that moment (``TLSContextBox``: a rotation reaches the next
/// handshake and drops no connection), then the same HTTP/1.1 pipeline as the plain
/// listener — the same driver, guards and engine — marked secure (HSTS, `https` scheme), or,
/// when the client chose `h2` by ALPN, HTTP/2 with the same handlers per stream.
///
/// The head deadline of ``ClientConnectionGuard`` starts at accept, so a client that never
/// completes its handshake is closed like one that never sends a request.
struct GatewayTLSChannel: HTTPChannelHandler {
    /// What ALPN chose: HTTP/1.1 (served like the plain listener) or HTTP/2 (whose streams
    /// run in the pipeline).
    enum Negotiated: Sendable {
        case http1(GatewayHTTPChannel.Value)
        case http2
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let http: GatewayHTTPChannel
    let box: TLSContextBox

    var responder: HTTPChannelHandler.Responder { http.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let admission = http.admit(channel) else { return channel.eventLoop.makeFailedFuture(ChannelError.alreadyClosed) }
        let http = self.http
        return channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(NIOSSLServerHandler(context: box.context))
            guard box.http2 else {
                let value = try http.configure(channel, admission: admission, logger: logger)
                return Value(negotiated: channel.eventLoop.makeSucceededFuture(.http1(value)), channel: channel)
            }
            let alpn = NIOTypedApplicationProtocolNegotiationHandler<Negotiated> { result in
                switch result {
                case .negotiated("h2"):
                    return channel.eventLoop.makeCompletedFuture {
                        try http.configureHTTP2(channel, admission: admission, logger: logger)
                        return .http2
                    }
                case .negotiated("http/1.1"), .fallback:
                    return channel.eventLoop.makeCompletedFuture { .http1(try http.configure(channel, admission: admission, logger: logger)) }
                case .negotiated:
                    channel.close(promise: nil)
                    return channel.eventLoop.makeFailedFuture(ChannelError.alreadyClosed)
                }
            }
            try pipeline.addHandler(alpn)
            return Value(negotiated: alpn.protocolNegotiationResult, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        guard let negotiated = try? await value.negotiated.get() else { return }
        switch negotiated {
        case .http1(let connection):
            await http.handle(value: connection, logger: logger)
        case .http2:
            // The streams run in the pipeline; the server counts the connection until it closes.
            try? await value.channel.closeFuture.get()
        }
    }
}
