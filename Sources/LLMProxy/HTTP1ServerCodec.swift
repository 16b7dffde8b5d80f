import Dialects
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import ProxyCore

/// The client side of an HTTP/1.x connection in one handler: bytes in, HTTPTypes request
/// parts out (``HTTP1RequestParser``), HTTPTypes response parts in, bytes out
/// (``HTTP1ResponseFraming``). It takes the place of NIO's llhttp decoder, response encoder,
/// pipelining handler and the HTTP/1 ⇄ HTTPTypes conversion — four handlers, two header
/// representations and a `URLComponents` parse per request.
///
/// One request at a time: a pipelined request's bytes wait, unparsed, until the response
/// before it is written (with at most ``HTTP1RequestParser/maxHeadSize`` bytes held; past
/// that, reads stop), so the handlers after see requests strictly in turn. Reading goes on
/// while a response is awaited, so a client that goes away is noticed at once.
///
/// A malformed head is answered here — the status of its ``HTTP1ParseError`` with an
/// OpenAI-shaped JSON error — and the connection closed; a malformed body closes it (with
/// the answer too, when no response has started).
final class HTTP1ServerCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = ByteBuffer

    private var parser: HTTP1RequestParser
    /// Bytes read and not parsed yet.
    private var buffered: ByteBuffer?
    /// The request being answered: from its head until its response's end is written.
    private var current: HTTP1RequestFacts?
    /// The response being written (after its final head).
    private var responding: HTTP1ResponseFraming?
    /// A `read()` from the handlers after, held back while too much is buffered.
    private var readHeld = false
    /// Inside `process`, which delivering a part can re-enter through a write.
    private var processing = false
    /// The peer closed its sending side.
    private var inputClosed = false
    /// A framing error was answered; nothing more is read or written.
    private var failed = false
    private var empty: ByteBuffer?

    init(secure: Bool, maxHeadSize: Int = 64 * 1024) {
        parser = HTTP1RequestParser(maxHeadSize: maxHeadSize, secure: secure)
    }

    // MARK: bytes in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var bytes = unwrapInboundIn(data)
        if var held = buffered {
            buffered = nil
            held.writeBuffer(&bytes)
            buffered = held
        } else {
            buffered = bytes
        }
        process(context: context)
    }

    func read(context: ChannelHandlerContext) {
        if (buffered?.readableBytes ?? 0) >= parser.maxHeadSize {
            readHeld = true
            return
        }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
            if current == nil, parser.isAtRequestStart {
                // Nothing in progress; a partial head left behind can never complete.
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Parses and delivers what the buffered bytes hold, up to the start of a request that
    /// must wait for the response before it. Outside a read (`afterRead` false: the response
    /// before ended), what it delivers is followed by a read-complete event, which the async
    /// channel behind waits for before it hands parts on.
    private func process(context: ChannelHandlerContext, afterRead: Bool = true) {
        guard !processing else { return }
        processing = true
        var delivered = false
        defer {
            processing = false
            if delivered, !afterRead { context.fireChannelReadComplete() }
        }
        while !failed {
            if parser.isAtRequestStart, current != nil || buffered == nil { break }
            var buffer = buffered ?? emptyBuffer(context)
            buffered = nil
            let event: HTTP1RequestParser.Event?
            do {
                event = try parser.next(&buffer)
            } catch {
                refuse(error, context: context)
                return
            }
            if buffer.readableBytes > 0 { buffered = buffer }
            guard let event else { break }
            delivered = true
            switch event {
            case .head(let request, let facts):
                current = facts
                responding = nil
                context.fireChannelRead(wrapInboundOut(.head(request)))
            case .body(let part):
                context.fireChannelRead(wrapInboundOut(.body(part)))
            case .end(let trailers):
                context.fireChannelRead(wrapInboundOut(.end(trailers)))
            }
        }
        if readHeld, (buffered?.readableBytes ?? 0) < parser.maxHeadSize {
            readHeld = false
            context.read()
        }
    }

    private func emptyBuffer(_ context: ChannelHandlerContext) -> ByteBuffer {
        if let empty { return empty }
        let made = context.channel.allocator.buffer(capacity: 0)
        empty = made
        return made
    }

    /// Answers a framing error (unless a response is under way) and closes.
    private func refuse(_ error: HTTP1ParseError, context: ChannelHandlerContext) {
        failed = true
        buffered = nil
        guard responding == nil else {
            context.close(promise: nil)
            return
        }
        let code: ErrorCode = error == .headTooLarge ? .requestTooLarge : .invalidRequest
        let answer = LocalResponse.closing(GatewayError(status: error.status, code: code, message: error.message))
        var bytes = HTTP1ResponseFraming.head(status: answer.status, fields: answer.headers, allocator: context.channel.allocator)
        bytes.writeImmutableBuffer(answer.body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: bytes out

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !failed, let facts = current else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let response):
            let (framing, fields) = HTTP1ResponseFraming.decide(response, facts: facts)
            if response.status.code >= 200 { responding = framing }
            context.write(
                wrapOutboundOut(HTTP1ResponseFraming.head(status: response.status, fields: fields, allocator: context.channel.allocator)),
                promise: promise)
        case .body(let part):
            guard let framing = responding else {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            switch framing.body {
            case .none:
                promise?.succeed()
            case .length, .untilClose:
                context.write(wrapOutboundOut(part), promise: promise)
            case .chunked:
                guard part.readableBytes > 0 else {
                    promise?.succeed()
                    return
                }
                context.write(wrapOutboundOut(HTTP1ResponseFraming.chunkPrefix(part.readableBytes, allocator: context.channel.allocator)), promise: nil)
                context.write(wrapOutboundOut(part), promise: nil)
                context.write(wrapOutboundOut(ByteBuffer(staticString: "\r\n")), promise: promise)
            }
        case .end(let trailers):
            guard let framing = responding else {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            responding = nil
            current = nil
            let last =
                framing.body == .chunked
                ? HTTP1ResponseFraming.lastChunk(trailers: trailers, allocator: context.channel.allocator) : emptyBuffer(context)
            if framing.closeAfter || inputClosed {
                failed = true
                let written = promise ?? context.eventLoop.makePromise(of: Void.self)
                let channel = context.channel
                written.futureResult.whenComplete { _ in channel.close(promise: nil) }
                context.write(wrapOutboundOut(last), promise: written)
                return
            }
            context.write(wrapOutboundOut(last), promise: promise)
            // The next pipelined request, if its bytes are here.
            if buffered != nil { process(context: context, afterRead: false) }
        }
    }
}
