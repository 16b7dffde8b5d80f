import NIOCore
import NIOPosix
import Synchronization

/// A raw TCP connection for protocol tests: bytes out as given, bytes in collected, with
/// waits bounded by a timeout (never by a sleep that assumes a speed).
final class ByteConnection: Sendable {
    private let channel: any Channel
    private let inbox: Inbox

    final class Inbox: Sendable {
        let state = Mutex<(bytes: [UInt8], closed: Bool, arrivals: [(at: ContinuousClock.Instant, count: Int)])>(([], false, []))
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let inbox: Inbox
        init(inbox: Inbox) { self.inbox = inbox }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            let now = ContinuousClock.now
            inbox.state.withLock {
                $0.bytes += buffer.readableBytesView
                $0.arrivals.append((now, $0.bytes.count))
            }
        }
        func channelInactive(context: ChannelHandlerContext) { inbox.state.withLock { $0.closed = true } }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case ChannelEvent.inputClosed = event { inbox.state.withLock { $0.closed = true } }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    static func connect(port: Int) async throws -> ByteConnection {
        let inbox = Inbox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(inbox: inbox)) } }
            .connect(host: "127.0.0.1", port: port).get()
        return ByteConnection(channel: channel, inbox: inbox)
    }

    func write(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Sends FIN: the client is done writing (the xllm client's way to end its document).
    func halfClose() async throws {
        try await channel.close(mode: .output).get()
    }

    func close() async {
        try? await channel.close().get()
    }

    var received: [UInt8] { inbox.state.withLock { $0.bytes } }
    var isClosed: Bool { inbox.state.withLock { $0.closed } }
    /// When each batch of bytes arrived, with the total received by then.
    var arrivals: [(at: ContinuousClock.Instant, count: Int)] { inbox.state.withLock { $0.arrivals } }

    /// Waits until the peer closed (or `timeout`), then returns everything received.
    func readToEnd(timeout: Duration = .seconds(30)) async -> [UInt8] {
        _ = await eventually(timeout: timeout) { isClosed }
        return received
    }

    /// Waits until at least `count` bytes arrived; nil when the timeout or a close came first.
    func waitFor(_ count: Int, timeout: Duration = .seconds(30)) async -> [UInt8]? {
        _ = await eventually(timeout: timeout) { received.count >= count || isClosed }
        let bytes = received
        return bytes.count >= count ? bytes : nil
    }
}
