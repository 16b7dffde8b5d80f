import Certificates
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// The HTTPS listener's connection pipeline: the connection is counted against
/// `server.max_connections` at accept (before any handshake work), TLS is added with the
/// certificate in force at that moment (``TLSContextBox``: a rotation reaches the next
/// handshake and drops no connection), then the same HTTP/1.1 pipeline as the plain
/// listener — the same driver, guards and engine — marked secure (HSTS, `https` scheme).
///
/// The head deadline of ``ClientConnectionGuard`` starts at accept, so a client that never
/// completes its handshake is closed like one that never sends a request.
struct GatewayTLSChannel: HTTPChannelHandler {
    typealias Value = GatewayHTTPChannel.Value

    let http: GatewayHTTPChannel
    let box: TLSContextBox

    var responder: HTTPChannelHandler.Responder { http.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let admission = http.admit(channel) else { return channel.eventLoop.makeFailedFuture(ChannelError.alreadyClosed) }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: box.context))
            return try http.configure(channel, admission: admission, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http.handle(value: value, logger: logger)
    }
}
