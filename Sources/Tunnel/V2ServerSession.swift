import Crypto
import Dialects
import HTTPTypes
import NIOCore
import ProxyCore

/// Serves one protocol-v2 connection: the handshake (hello, replay check, session keys),
/// then frames. Each request frame opens a stream that goes through the engine like any
/// request; its response goes back as head, body and end frames as the upstream sends them
/// (streams arrive incrementally), many streams at once. A frame that does not open, comes
/// out of order or out of the time window ends the connection with an encrypted error frame.
/// A client that leaves (or cancels a stream) cancels the upstream requests.
final class V2ServerSession: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case hello
        case open(SessionCiphers)
        case closed
    }

    let environment: TunnelEnvironment
    private var phase = Phase.hello
    private var buffer = ByteBuffer()
    private(set) var context: ChannelHandlerContext?
    private var streams: [UInt32: V2Stream] = [:]
    private var tick: Scheduled<Void>?
    /// When the frame now being received began to arrive (nil between frames).
    private var partialSince: NIODeadline?
    private var lastActivity = NIODeadline.now()
    private let openedAt = NIODeadline.now()

    init(environment: TunnelEnvironment) { self.environment = environment }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        scheduleTick()
    }

    /// Deadlines are checked once a second (one timer per connection, not one per frame).
    private func scheduleTick() {
        guard let context else { return }
        tick = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [self] in
            checkDeadlines()
            scheduleTick()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        tick?.cancel()
        self.context = nil
    }

    private func checkDeadlines() {
        let config = environment.config
        let now = NIODeadline.now()
        let read = TimeAmount.milliseconds(Int64(config.readTimeout * 1000))
        switch phase {
        case .hello where now - openedAt > read:
            context?.close(promise: nil)
        case .open:
            if let since = partialSince, now - since > read {
                fail(.tunnelProtocol("A frame did not arrive whole within \(Int(config.readTimeout)) s"), reason: "read timeout")
            } else if streams.isEmpty, now - lastActivity > .milliseconds(Int64(config.idleTimeout * 1000)) {
                context?.close(promise: nil)
            }
        default:
            break
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var part = unwrapInboundIn(data)
        buffer.writeBuffer(&part)
        lastActivity = .now()
        process()
    }

    func channelInactive(context: ChannelHandlerContext) {
        phase = .closed
        let gone = streams.values
        streams = [:]
        for stream in gone { stream.clientGone() }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            for stream in streams.values { stream.exchange?.clientWritable() }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: inbound

    private func process() {
        while true {
            switch phase {
            case .closed:
                buffer.clear()
                return
            case .hello:
                guard buffer.readableBytes >= TunnelV2.clientHelloSize, let hello = buffer.readBytes(length: TunnelV2.clientHelloSize) else { return }
                handshake(hello)
            case .open(let ciphers):
                guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return }
                let limit = environment.config.maxDocumentBytes + 64
                guard length <= limit else {
                    fail(.tunnelProtocol("A frame of \(length) bytes is over the tunnel's limit of \(limit)"), reason: "frame too large")
                    return
                }
                guard buffer.readableBytes >= TunnelV2.lengthSize + Int(length) else {
                    if partialSince == nil { partialSince = .now() }
                    return
                }
                partialSince = nil
                buffer.moveReaderIndex(forwardBy: TunnelV2.lengthSize)
                let sealed = buffer.readSlice(length: Int(length))!
                let frame: TunnelV2.Frame
                do {
                    frame = try ciphers.inbound.open(length: length, sealed: sealed.readableBytesView)
                } catch TunnelV2Error.malformed(let why) {
                    fail(.tunnelProtocol("A frame cannot be read: \(why)"), reason: "malformed frame: \(why)")
                    return
                } catch {
                    fail(
                        GatewayError(status: .badRequest, code: .tunnelDecryptFailed, message: "A frame does not decrypt: tampered, replayed, out of order, or another key"),
                        reason: "frame decryption failed (tampered, replayed or reordered, or another key)")
                    return
                }
                let now = TunnelV2.nowMs()
                let skew = frame.timestamp > now ? frame.timestamp - now : now - frame.timestamp
                guard skew <= environment.replay.windowMs else {
                    fail(
                        GatewayError(status: .badRequest, code: .tunnelReplay, message: "A frame's timestamp is outside the replay window"),
                        reason: "frame timestamp \(skew / 1000) s off")
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

    private func handshake(_ hello: [UInt8]) {
        guard let context else { return }
        guard Array(hello[0..<4]) == TunnelV2.magic, hello[4] == TunnelV2.version else {
            _ = environment.refused(.tunnelProtocol("Unknown protocol"), reason: "not a v2 hello", peer: context.channel.remoteAddress, version: 2)
            phase = .closed
            context.close(promise: nil)
            return
        }
        let serverSalt = TunnelV2.randomBytes(32)
        var reply = ByteBuffer()
        reply.writeBytes(TunnelV2.magic + [TunnelV2.version, 0, 0, 0])
        reply.writeBytes(serverSalt)
        context.write(wrapOutboundOut(reply), promise: nil)
        let keys = environment.key.sessionKeys(clientHello: hello, serverSalt: serverSalt)
        phase = .open(SessionCiphers(inbound: FrameCipher(key: keys.clientToServer), outbound: FrameCipher(key: keys.serverToClient)))
        let salt = Array(hello[16..<48])
        if case .failure(let problem) = environment.replay.admit(salt: salt, timestamp: TunnelV2.helloTimestamp(hello)) {
            let reason: String
            if case .replayed(let why) = problem { reason = why } else { reason = "replay" }
            fail(GatewayError(status: .badRequest, code: .tunnelReplay, message: "The connection opening is not fresh: \(reason)"), reason: "hello refused: \(reason)")
            return
        }
        context.flush()
    }

    private func handle(_ frame: TunnelV2.Frame) {
        switch frame.type {
        case .request:
            startStream(frame)
        case .cancel:
            if let stream = streams.removeValue(forKey: frame.stream) { stream.clientGone() }
        case .ping:
            send(.pong, stream: frame.stream, payload: frame.payload)
            flush()
        case .pong:
            break
        case .responseHead, .responseBody, .responseEnd, .error:
            fail(.tunnelProtocol("A client may not send frames of type \(frame.type.rawValue)"), reason: "unexpected frame type \(frame.type.rawValue)")
        }
    }

    private func startStream(_ frame: TunnelV2.Frame) {
        guard let context else { return }
        guard frame.stream != 0, streams[frame.stream] == nil else {
            fail(.tunnelProtocol("Stream \(frame.stream) is 0 or already in use"), reason: "stream id reused")
            return
        }
        let stream = V2Stream(id: frame.stream, session: self)
        let recorder = environment.recorder
        recorder.started()
        if streams.count >= environment.config.maxStreams {
            var record = environment.refused(
                GatewayError(
                    status: .serviceUnavailable, code: .overloaded,
                    message: "More than \(environment.config.maxStreams) requests in flight on this tunnel connection", retryAfter: 1),
                reason: "too many streams", peer: context.channel.remoteAddress, version: 2)
            let error = GatewayError(
                status: .serviceUnavailable, code: .overloaded, message: "More than \(environment.config.maxStreams) requests in flight on this tunnel connection",
                retryAfter: 1)
            stream.exchangeAnswer(.error(error, dialect: .openai), record: &record)
            return
        }
        let request: TunnelRequest
        do {
            request = try V2Codec.request(frame.payload, bodyLimit: environment.config.maxDocumentBytes)
        } catch {
            var record = environment.refused(
                .tunnelProtocol("The request frame cannot be read: \(error)"), reason: "malformed request: \(error)", peer: context.channel.remoteAddress, version: 2)
            stream.exchangeAnswer(.error(.tunnelProtocol("The request frame cannot be read: \(error)"), dialect: .openai), record: &record)
            return
        }
        streams[frame.stream] = stream
        switch RequestPlanner.tunnel(request, peer: context.channel.remoteAddress, state: environment.store.state) {
        case .reject(let rejection):
            environment.logger.notice(
                "tunnel request refused",
                metadata: [
                    "peer": .string(context.channel.remoteAddress?.ipAddress ?? "?"), "protocol": "2",
                    "code": .string(rejection.error.code.description), "reason": .string(rejection.error.message),
                ])
            var record = rejection.record
            stream.exchangeAnswer(rejection.response, record: &record)
        case .forward(let plan):
            let exchange = ForwardExchange(plan: plan, client: stream, transport: environment.transport, recorder: recorder, on: context.eventLoop)
            stream.exchange = exchange
            exchange.start()
        }
    }

    // MARK: outbound

    func send(_ type: TunnelV2.FrameType, stream: UInt32, payload: ByteBuffer?) {
        guard case .open(let ciphers) = phase, let context else { return }
        ciphers.write(type, stream: stream, payload: payload, to: context)
    }

    func flush() { context?.flush() }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func ended(_ stream: V2Stream) {
        if streams[stream.id] === stream { streams[stream.id] = nil }
        lastActivity = .now()
    }

    /// Ends the connection: an encrypted error frame on stream 0, a log line, the close.
    private func fail(_ error: GatewayError, reason: String) {
        guard let context else { return }
        environment.recorder.started()
        environment.recorder.finished(environment.refused(error, reason: reason, peer: context.channel.remoteAddress, version: 2))
        send(.error, stream: 0, payload: V2Codec.error(error))
        phase = .closed
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}

/// One request on a v2 connection: the engine's client for its response.
final class V2Stream: ExchangeClient {
    let id: UInt32
    private unowned let session: V2ServerSession
    var exchange: ForwardExchange?
    private var done = false

    init(id: UInt32, session: V2ServerSession) {
        self.id = id
        self.session = session
    }

    func clientGone() {
        done = true
        exchange?.clientGone()
        exchange = nil
    }

    var isWritable: Bool { session.isWritable }

    func exchangeHead(_ response: HTTPResponse) {
        session.send(.responseHead, stream: id, payload: V2Codec.head(status: response.status.code, headers: response.headerFields.pairs))
    }

    func exchangeBody(_ buffer: ByteBuffer) {
        var rest = buffer
        while rest.readableBytes > TunnelV2.maxBodyChunk, let chunk = rest.readSlice(length: TunnelV2.maxBodyChunk) {
            session.send(.responseBody, stream: id, payload: chunk)
        }
        if rest.readableBytes > 0 { session.send(.responseBody, stream: id, payload: rest) }
    }

    func exchangeFlush() { session.flush() }

    func exchangeEnding(_ exchange: ForwardExchange) {
        done = true
        self.exchange = nil
        session.ended(self)
    }

    func exchangeEnd() {
        session.send(.responseEnd, stream: id, payload: nil)
        session.flush()
    }

    func exchangeAnswer(_ response: LocalResponse, record: inout RequestRecord) {
        let fields = response.fields(accountingIn: &record)
        session.send(.responseHead, stream: id, payload: V2Codec.head(status: response.status.code, headers: fields.pairs))
        if response.body.readableBytes > 0 { session.send(.responseBody, stream: id, payload: response.body) }
        session.send(.responseEnd, stream: id, payload: nil)
        session.flush()
        done = true
        session.ended(self)
        session.environment.recorder.finished(record)
    }

    func exchangeBroken() {
        session.send(.error, stream: id, payload: V2Codec.error(.badGateway("The upstream's response broke off")))
        session.flush()
    }
}

/// The JSON parts of v2 frames.
package enum V2Codec {
    /// A request frame's payload: u32 header length ‖ `{"method","url","headers":[[n,v]…]}` ‖ body.
    package static func request(_ payload: ByteBuffer, bodyLimit: Int) throws -> TunnelRequest {
        var payload = payload
        guard let headerLength = payload.readInteger(as: UInt32.self), Int(headerLength) <= payload.readableBytes,
            let header = payload.readSlice(length: Int(headerLength))
        else { throw TunnelJSONError(description: "the header length runs past the frame") }
        guard payload.readableBytes <= bodyLimit else { throw TunnelJSONError(description: "a body over \(bodyLimit) bytes") }
        let (method, url, headers) = try header.withUnsafeReadableBytes { raw in
            var reader = TunnelJSONReader(raw)
            var method: String?
            var url: String?
            var headers: [(name: String, value: String)] = []
            try reader.object { key, reader in
                switch key {
                case "method": method = try reader.string()
                case "url": url = try reader.string()
                case "headers": headers = try reader.stringPairs()
                default: try reader.skipValue()
                }
            }
            try reader.end()
            guard let method, let url else { throw TunnelJSONError(description: "the request lacks method or url") }
            return (method, url, headers)
        }
        return TunnelRequest(method: method, url: url, headers: headers, body: payload.readableBytes > 0 ? payload : nil)
    }

    package static func requestPayload(method: String, url: String, headers: [(name: String, value: String)], body: ByteBuffer?) -> ByteBuffer {
        var header = ByteBuffer()
        header.writeStaticString("{\"method\":")
        TunnelJSONWriter.writeString(method, into: &header)
        header.writeStaticString(",\"url\":")
        TunnelJSONWriter.writeString(url, into: &header)
        header.writeStaticString(",\"headers\":")
        TunnelJSONWriter.writeStringPairs(headers, into: &header)
        header.writeStaticString("}")
        var payload = ByteBuffer()
        payload.reserveCapacity(4 + header.readableBytes + (body?.readableBytes ?? 0))
        payload.writeInteger(UInt32(header.readableBytes))
        payload.writeBuffer(&header)
        if var body { payload.writeBuffer(&body) }
        return payload
    }

    /// A response head frame's payload: `{"status": n, "headers": [[n,v]…]}`.
    package static func head(status: Int, headers: [(name: String, value: String)]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString("{\"status\":")
        buffer.writeString(String(status))
        buffer.writeStaticString(",\"headers\":")
        TunnelJSONWriter.writeStringPairs(headers, into: &buffer)
        buffer.writeStaticString("}")
        return buffer
    }

    package static func parseHead(_ payload: ByteBuffer) throws -> (status: Int, headers: [(name: String, value: String)]) {
        try payload.withUnsafeReadableBytes { raw in
            var reader = TunnelJSONReader(raw)
            var status: Int?
            var headers: [(name: String, value: String)] = []
            try reader.object { key, reader in
                switch key {
                case "status": status = try reader.integer(max: 999)
                case "headers": headers = try reader.stringPairs()
                default: try reader.skipValue()
                }
            }
            try reader.end()
            guard let status, status >= 100 else { throw TunnelJSONError(description: "a response head without a status") }
            return (status, headers)
        }
    }

    /// An error frame's payload: `{"code": "...", "message": "..."}`.
    package static func error(_ error: GatewayError) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString("{\"code\":")
        TunnelJSONWriter.writeString(error.code.description, into: &buffer)
        buffer.writeStaticString(",\"status\":")
        buffer.writeString(String(error.status.code))
        buffer.writeStaticString(",\"message\":")
        TunnelJSONWriter.writeString(error.message, into: &buffer)
        buffer.writeStaticString("}")
        return buffer
    }

    package static func parseError(_ payload: ByteBuffer) -> (code: String, message: String) {
        (try? payload.withUnsafeReadableBytes { raw in
            var reader = TunnelJSONReader(raw)
            var code = "tunnel_error"
            var message = ""
            try reader.object { key, reader in
                switch key {
                case "code": code = try reader.string()
                case "message": message = try reader.string()
                default: try reader.skipValue()
                }
            }
            return (code, message)
        }) ?? ("tunnel_error", "")
    }
}
