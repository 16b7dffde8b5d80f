import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ServiceLifecycle
import Store

/// The tunnel's listener: raw TCP on `tunnel.host:tunnel.port`, both protocol versions on
/// the one port, told apart by the first byte (`L` of v2's magic; a v1 document begins
/// with `{` or whitespace). Runs as a service of the gateway's group: on shutdown it stops
/// accepting, lets open connections finish up to the drain time, then closes them.
package final class TunnelServer: Service, Sendable {
    let environment: TunnelEnvironment
    let group: any EventLoopGroup
    let drain: Double
    let onListening: @Sendable (Int) async -> Void

    package init(environment: TunnelEnvironment, group: any EventLoopGroup, drain: Double, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.environment = environment
        self.group = group
        self.drain = drain
        self.onListening = onListening
    }

    package func run() async throws {
        let environment = self.environment
        let config = environment.config
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let count = environment.open.add(1, ordering: .relaxed).newValue
                    channel.closeFuture.whenComplete { _ in environment.open.subtract(1, ordering: .relaxed) }
                    if count > config.maxConnections {
                        channel.close(promise: nil)
                        return
                    }
                    // An address on the block list (for example after failed decryptions,
                    // which count as failed authentications) gets nothing more to read.
                    let blocks = environment.store.state.environment.limits.blocks
                    if !blocks.isEmpty, let address = channel.remoteAddress?.ipAddress, blocks.isBlocked(address, nowMs: WallClock.nowMs()) {
                        channel.close(promise: nil)
                        return
                    }
                    try channel.pipeline.syncOperations.addHandler(ProtocolSniffer(environment: environment))
                }
            }
        let channel = try await bootstrap.bind(host: config.host, port: config.port).get()
        let port = channel.localAddress?.port ?? config.port
        environment.logger.info("tunnel listening", metadata: ["address": .string("tcp://\(config.host):\(port)"), "protocols": "1,2"])
        await onListening(port)
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        // Draining: no new connections; those open may finish their requests.
        let deadline = ContinuousClock.now + .milliseconds(Int64(drain * 1000))
        while environment.open.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Reads the first byte of a connection and installs the session of its protocol version.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let environment: TunnelEnvironment
    private var decided = false

    init(environment: TunnelEnvironment) { self.environment = environment }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else {
            context.fireChannelRead(data)
            return
        }
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        decided = true
        let session: any ChannelHandler =
            first == TunnelV2.magic[0]
            ? V2ServerSession(environment: environment) : V1Session(environment: environment)
        do {
            try context.pipeline.syncOperations.addHandler(session, position: .after(self))
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Half-closed before a byte: nothing to answer.
        if !decided, case ChannelEvent.inputClosed = event { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }
}
