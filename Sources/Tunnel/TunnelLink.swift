import Crypto
import NIOCore
import NIOPosix

/// What a v2 stream's response is delivered to, on the link's event loop.
protocol TunnelStreamSink: AnyObject {
    func tunnelHead(status: Int, headers: [(name: String, value: String)])
    func tunnelBody(_ buffer: ByteBuffer)
    func tunnelEnd()
    /// The stream failed: before its head (answer with an error) or after it (cut it).
    func tunnelFailed(code: String, message: String)
}

/// The client end of one protocol-v2 connection, on one event loop: sends the hello,
/// derives the session keys from the server's, then carries any number of requests at once
/// as streams. Requests submitted while it connects are queued (bounded) and sent once the
/// keys are known. When the connection ends, every stream still open is failed.
final class TunnelLink: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case connecting
        case awaitingServerHello(hello: [UInt8])
        case open(SessionCiphers)
        case closed
    }

    private let key: TunnelKey
    private let loop: any EventLoop
    private var phase = Phase.connecting
    private var context: ChannelHandlerContext?
    private var sinks: [UInt32: any TunnelStreamSink] = [:]
    private var queued: [(type: TunnelV2.FrameType, stream: UInt32, payload: ByteBuffer?)] = []
    private var nextStream: UInt32 = 1
    private var buffer = ByteBuffer()
    private var paused = 0
    let maxFrame: Int
    static let maxQueued = 1024

    init(key: TunnelKey, loop: any EventLoop, maxFrame: Int) {
        self.key = key
        self.loop = loop
        self.maxFrame = maxFrame
    }

    var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    /// Connects to the server; failures fail every queued stream.
    func connect(host: String, port: Int, timeout: TimeAmount) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(bound.value) }
            }
        bootstrap.connect(host: host, port: port).assumeIsolated().whenFailure { [self] error in
            failAll(code: "tunnel_unreachable", message: "Cannot reach the tunnel server \(host):\(port): \(error)")
        }
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        let hello = TunnelV2.clientHello()
        phase = .awaitingServerHello(hello: hello)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: hello)), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(code: "tunnel_closed", message: "The tunnel connection closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: streams

    /// Sends a request; its response goes to `sink`. Returns the stream id (for ``cancel(_:)``).
    func submit(_ payload: ByteBuffer, sink: any TunnelStreamSink) -> UInt32? {
        guard !isClosed else { return nil }
        if case .connecting = phase, queued.count >= Self.maxQueued { return nil }
        if case .awaitingServerHello = phase, queued.count >= Self.maxQueued { return nil }
        let id = nextStream
        nextStream = nextStream == UInt32.max ? 1 : nextStream + 1
        sinks[id] = sink
        send(.request, stream: id, payload: payload)
        flush()
        return id
    }

    func cancel(_ stream: UInt32) {
        guard sinks.removeValue(forKey: stream) != nil else { return }
        send(.cancel, stream: stream, payload: nil)
        flush()
    }

    /// A local client cannot take more: stop reading the tunnel until it can (every stream
    /// of the connection waits; the server then stops reading its upstreams).
    func pauseReading() {
        paused += 1
        if paused == 1 { context?.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    func resumeReading() {
        guard paused > 0 else { return }
        paused -= 1
        if paused == 0 {
            context?.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
            context?.read()
        }
    }

    private func send(_ type: TunnelV2.FrameType, stream: UInt32, payload: ByteBuffer?) {
        guard case .open(let ciphers) = phase, let context else {
            queued.append((type, stream, payload))
            return
        }
        ciphers.write(type, stream: stream, payload: payload, to: context)
    }

    private func flush() { context?.flush() }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var part = unwrapInboundIn(data)
        buffer.writeBuffer(&part)
        process()
    }

    private func process() {
        while true {
            switch phase {
            case .connecting, .closed:
                return
            case .awaitingServerHello(let hello):
                guard buffer.readableBytes >= TunnelV2.serverHelloSize, let reply = buffer.readBytes(length: TunnelV2.serverHelloSize) else { return }
                guard Array(reply[0..<4]) == TunnelV2.magic, reply[4] == TunnelV2.version else {
                    failAll(code: "tunnel_protocol_error", message: "The server does not speak tunnel protocol v2")
                    context?.close(promise: nil)
                    return
                }
                let keys = key.sessionKeys(clientHello: hello, serverSalt: Array(reply[8..<40]))
                phase = .open(SessionCiphers(inbound: FrameCipher(key: keys.serverToClient), outbound: FrameCipher(key: keys.clientToServer)))
                let waiting = queued
                queued = []
                for item in waiting { send(item.type, stream: item.stream, payload: item.payload) }
                flush()
            case .open(let ciphers):
                guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return }
                guard Int(length) <= maxFrame + 64 else {
                    failAll(code: "tunnel_protocol_error", message: "The server sent a frame over the size limit")
                    context?.close(promise: nil)
                    return
                }
                guard buffer.readableBytes >= TunnelV2.lengthSize + Int(length) else { return }
                buffer.moveReaderIndex(forwardBy: TunnelV2.lengthSize)
                let sealed = buffer.readSlice(length: Int(length))!
                let frame: TunnelV2.Frame
                do {
                    frame = try ciphers.inbound.open(length: length, sealed: sealed.readableBytesView)
                } catch {
                    failAll(
                        code: "tunnel_decrypt_failed",
                        message: "The tunnel server's answer does not decrypt: the key differs from the server's, or the connection was tampered with")
                    context?.close(promise: nil)
                    return
                }
                handle(frame)
            }
            if buffer.readableBytes == 0 {
                buffer.clear()
                return
            }
        }
    }

    private func handle(_ frame: TunnelV2.Frame) {
        switch frame.type {
        case .responseHead:
            guard let sink = sinks[frame.stream] else { return }
            do {
                let head = try V2Codec.parseHead(frame.payload)
                sink.tunnelHead(status: head.status, headers: head.headers)
            } catch {
                sinks[frame.stream] = nil
                sink.tunnelFailed(code: "tunnel_protocol_error", message: "The server sent an unreadable response head")
            }
        case .responseBody:
            sinks[frame.stream]?.tunnelBody(frame.payload)
        case .responseEnd:
            sinks.removeValue(forKey: frame.stream)?.tunnelEnd()
        case .error:
            let (code, message) = V2Codec.parseError(frame.payload)
            if frame.stream == 0 {
                failAll(code: code, message: message)
                context?.close(promise: nil)
            } else {
                sinks.removeValue(forKey: frame.stream)?.tunnelFailed(code: code, message: message)
            }
        case .ping:
            send(.pong, stream: frame.stream, payload: frame.payload)
            flush()
        case .pong, .request, .cancel:
            break
        }
    }

    private func failAll(code: String, message: String) {
        phase = .closed
        queued = []
        let failed = sinks
        sinks = [:]
        for sink in failed.values { sink.tunnelFailed(code: code, message: message) }
    }
}
