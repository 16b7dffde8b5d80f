import Dialects
import HTTPTypes
import NIOCore
import ProxyCore

/// Serves one protocol-v1 (xllm) connection: reads the request document until the client
/// half-closes (or the document is complete), performs the request through the engine,
/// and answers with one response document — the upstream's response, or an encrypted error
/// in the request's dialect — then closes. Nothing is ever closed silently.
///
/// v1 answers in one document, so the response is buffered, up to
/// `tunnel.max_response_bytes`.
final class V1Session: ChannelInboundHandler, ExchangeClient {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case reading
        case performing(ForwardExchange?)
        case done
    }

    private let environment: TunnelEnvironment
    private var phase = Phase.reading
    private var document = ByteBuffer()
    private var scanner = DocumentEnd()
    private var context: ChannelHandlerContext?
    private var deadline: Scheduled<Void>?
    private var total: Scheduled<Void>?
    // The response being buffered.
    private var status = 0
    private var headers: [(name: String, value: String)] = []
    private var body = ByteBuffer()
    private var overflow = false

    init(environment: TunnelEnvironment) { self.environment = environment }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let config = environment.config
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(config.readTimeout * 1000))) { [self] in
            if case .reading = phase {
                refuse(.tunnelProtocol("The request document did not arrive within \(Int(config.readTimeout)) s"), reason: "read timeout")
            }
        }
        total = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(config.totalTimeout * 1000))) { [self] in
            self.context?.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        total?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .reading = phase else { return }
        var part = unwrapInboundIn(data)
        if document.readableBytes + part.readableBytes > environment.config.maxDocumentBytes {
            refuse(
                .tunnelProtocol("The request document is larger than the tunnel's limit of \(environment.config.maxDocumentBytes) bytes"),
                reason: "document too large")
            return
        }
        let complete = part.withUnsafeReadableBytes { scanner.scan($0) }
        document.writeBuffer(&part)
        if complete { perform() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, case .reading = phase {
            // The client sent all it will: the document must be whole.
            perform()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .performing(let exchange) = phase { exchange?.clientGone() }
        phase = .done
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// The document is in: open it and hand the request to the engine.
    private func perform() {
        deadline?.cancel()
        guard let context else { return }
        let config = environment.config
        let request: TunnelRequest
        do {
            guard document.readableBytes > 0 else { throw XLLMDocument.Failure.malformed("an empty document (the connection was half-closed at once)") }
            let sealed = try XLLMDocument.sealedRequest(document, limit: config.maxDocumentBytes)
            request = try XLLMDocument.request(sealed, key: environment.key, bodyLimit: config.maxDocumentBytes)
        } catch XLLMDocument.Failure.decryptFailed {
            refuse(
                GatewayError(status: .badRequest, code: .tunnelDecryptFailed, message: "The request does not decrypt with the tunnel's key"),
                reason: "decryption failed (tampered, or another key)")
            return
        } catch XLLMDocument.Failure.malformed(let why) {
            refuse(.tunnelProtocol("The request document cannot be read: \(why)"), reason: "malformed document: \(why)")
            return
        } catch {
            refuse(.tunnelProtocol("The request document cannot be read"), reason: "\(error)")
            return
        }
        document = ByteBuffer()
        let recorder = environment.recorder
        recorder.started()
        switch RequestPlanner.tunnel(request, peer: context.channel.remoteAddress, state: environment.store.state) {
        case .reject(let rejection):
            phase = .performing(nil)
            var record = rejection.record
            environment.logger.notice(
                "tunnel request refused",
                metadata: [
                    "peer": .string(context.channel.remoteAddress?.ipAddress ?? "?"), "protocol": "1",
                    "code": .string(rejection.error.code.description), "reason": .string(rejection.error.message),
                ])
            exchangeAnswer(rejection.response, record: &record)
        case .forward(let plan):
            let exchange = ForwardExchange(plan: plan, client: self, transport: environment.transport, recorder: recorder, on: context.eventLoop)
            phase = .performing(exchange)
            exchange.start()
        }
    }

    /// Refuses a document that never reached the planner: an encrypted error, a log line.
    private func refuse(_ error: GatewayError, reason: String) {
        phase = .performing(nil)
        environment.recorder.started()
        var record = environment.refused(error, reason: reason, peer: context?.channel.remoteAddress, version: 1)
        exchangeAnswer(.error(error, dialect: .openai), record: &record)
    }

    // MARK: ExchangeClient

    var isWritable: Bool { true }

    func exchangeHead(_ response: HTTPResponse) {
        status = response.status.code
        headers = response.headerFields.pairs
    }

    func exchangeBody(_ buffer: ByteBuffer) {
        guard !overflow else { return }
        if body.readableBytes + buffer.readableBytes > environment.config.maxResponseBytes {
            overflow = true
            body = ByteBuffer()
            return
        }
        var buffer = buffer
        body.writeBuffer(&buffer)
    }

    func exchangeFlush() {}
    func exchangeEnding(_ exchange: ForwardExchange) {}

    func exchangeEnd() {
        if overflow {
            let error = GatewayError.badGateway(
                "The response is larger than tunnel.max_response_bytes (\(environment.config.maxResponseBytes)), which protocol v1 must buffer; use protocol v2 (llm-proxy tunnel client), which streams"
            )
            let local = LocalResponse.error(error, dialect: .openai)
            send(status: local.status.code, headers: local.headers.pairs, body: local.body)
        } else {
            send(status: status, headers: headers, body: body)
        }
    }

    func exchangeAnswer(_ response: LocalResponse, record: inout RequestRecord) {
        let fields = response.fields(accountingIn: &record)
        send(status: response.status.code, headers: fields.pairs, body: response.body)
        environment.recorder.finished(record)
    }

    func exchangeBroken() {
        let local = LocalResponse.error(.badGateway("The upstream's response broke off"), dialect: .openai)
        send(status: local.status.code, headers: local.headers.pairs, body: local.body)
    }

    private func send(status: Int, headers: [(name: String, value: String)], body: ByteBuffer) {
        phase = .done
        guard let context else { return }
        let document = XLLMDocument.response(status: status, headers: headers, body: body, key: environment.key)
        self.body = ByteBuffer()
        context.writeAndFlush(wrapOutboundOut(document)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}

/// Finds where a JSON document ends while its bytes arrive, in one pass (strings and
/// escapes respected), so a client that does not half-close is still answered.
struct DocumentEnd {
    private var depth = 0
    private var started = false
    private var inString = false
    private var escaped = false
    private(set) var ended = false

    /// Scans `bytes`; true once the top-level value closed.
    mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !ended else { return true }
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                started = true
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if started, depth <= 0 {
                    ended = true
                    return true
                }
            default: break
            }
        }
        return false
    }
}

extension GatewayError {
    static func tunnelProtocol(_ message: String) -> GatewayError {
        GatewayError(status: .badRequest, code: .tunnelProtocolError, message: message)
    }
}
