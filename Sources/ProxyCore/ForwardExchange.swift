import Dialects
import HTTPTypes
import NIOCore
import NIOHTTP1
import Upstreams

/// The client side of a forwarded request, as a driver presents it to its
/// ``ForwardExchange``: where the response goes and how. Implemented by every driver (an
/// HTTP/1.1 or HTTP/2 stream, a tunnel connection or tunnel stream); called on the driver's
/// event loop only.
package protocol ExchangeClient: AnyObject {
    /// Whether the client can take more now (the exchange pauses the upstream when not, and
    /// the driver calls ``ForwardExchange/clientWritable()`` when it can again).
    var isWritable: Bool { get }
    /// The response head, decorated for the client (request id, rate status, CORS).
    func exchangeHead(_ response: HTTPResponse)
    func exchangeBody(_ buffer: ByteBuffer)
    /// The end of one batch of upstream reads: the moment to flush.
    func exchangeFlush()
    /// The exchange is ending: the driver stops routing events to it (called first, before
    /// anything else is written, so a pipelined request started by the write finds the
    /// driver idle).
    func exchangeEnding(_ exchange: ForwardExchange)
    /// The response is complete: write its end.
    func exchangeEnd()
    /// The exchange failed before any response byte: answer `response` (an error in the
    /// client's dialect) and account for `record` as for any local answer.
    func exchangeAnswer(_ response: LocalResponse, record: inout RequestRecord)
    /// The response broke off after its head (the upstream failed mid-stream): the client
    /// must see it cut, not complete.
    func exchangeBroken()
}

/// One forwarded request in flight, from the first attempt to the last byte: carries out
/// the ``AttemptPlan`` over the ``UpstreamTransport``, passes the response through the
/// attempt's ``ResponseStages`` to its ``ExchangeClient``, and accounts for the request
/// exactly once. Every driver forwards through it, so retries, stages, the budget cut-off
/// and the accounting are one piece of code.
///
/// Lives on one event loop (the driver's); no task, thread hop or async sequence per request
/// or chunk.
package final class ForwardExchange: UpstreamResponseSink {
    package let plan: ForwardPlan
    private var stages = ResponseStages([])
    private var upstream: (any UpstreamExchange)?
    private var headSent = false
    private var finished = false
    /// Held strongly: the driver drops its exchange when it ends (``ExchangeClient/exchangeEnding(_:)``
    /// or its client going), which breaks the cycle.
    private let client: any ExchangeClient
    private let transport: any UpstreamTransport
    private let recorder: RequestRecorder
    private let loop: any EventLoop

    package init(plan: ForwardPlan, client: any ExchangeClient, transport: any UpstreamTransport, recorder: RequestRecorder, on loop: any EventLoop) {
        self.plan = plan
        self.client = client
        self.transport = transport
        self.recorder = recorder
        self.loop = loop
    }

    /// Sends the first attempt.
    package func start() {
        next(plan.attempts.next())
    }

    /// The client can take more: the upstream may be read again.
    package func clientWritable() {
        if !finished { upstream?.resumeReading() }
    }

    /// The client closed or half-closed while its request was in flight: stop the upstream
    /// at once and account for the request as the client's cancellation.
    package func clientGone() {
        guard !finished else { return }
        finished = true
        upstream?.cancel()
        upstream = nil
        plan.record.errorCode = .clientClosed
        if !headSent { plan.record.status = GatewayError.clientClosed.status.code }
        stages.finish(into: &plan.record)
        recorder.finished(plan.record)
    }

    // MARK: attempts

    private func next(_ step: AttemptPlan.Step) {
        switch step {
        case .fail(let error): fail(error)
        case .send(let endpoint, let fresh): send(to: endpoint, fresh: fresh)
        }
    }

    /// Sends the request to `endpoint` on a connection of this loop (or to the mock).
    private func send(to endpoint: Endpoint, fresh: Bool) {
        let attempt: ForwardPlan.Attempt
        switch plan.attempt(to: endpoint) {
        case .success(let made): attempt = made
        case .failure(let error):
            fail(error)
            return
        }
        stages = attempt.stages
        transport.send(attempt, to: endpoint, freshConnection: fresh, on: loop, sink: self) { [self] upstream in
            // The client may have left while the connection was being made.
            guard !finished, self.upstream == nil else {
                upstream.cancel()
                return
            }
            self.upstream = upstream
        } failed: { [self] error in
            guard !finished, upstream == nil else { return }
            let (gatewayError, retryable) = UpstreamClient.classify(error, endpoint: endpoint.id)
            next(plan.attempts.failed(.init(error: gatewayError, retryable: retryable)))
        }
    }

    // MARK: upstream → client (UpstreamResponseSink, on this loop)

    package func upstreamHead(_ head: HTTPResponseHead) {
        guard !finished else { return }
        let upstreamStatus = Int(head.status.code)
        let firstByte = ContinuousClock.now - plan.record.start
        plan.record.firstByte = firstByte
        plan.attempts.responded(status: upstreamStatus, firstByte: firstByte)
        var status = upstreamStatus
        var headers = head.headers
        stages.head(status: &status, headers: &headers)
        plan.record.status = status
        var fields = plan.state.responseHeaders.clientFields(headers, requestID: plan.record.id)
        plan.record.decorate(&fields, securityHeaders: plan.state.config.security.securityHeaders)
        headSent = true
        let reason = status == upstreamStatus ? head.status.reasonPhrase : HTTPResponse.Status(code: status).reasonPhrase
        client.exchangeHead(HTTPResponse(status: HTTPResponse.Status(code: status, reasonPhrase: reason), headerFields: fields))
    }

    package func upstreamBody(_ buffer: ByteBuffer) -> Bool {
        guard !finished else { return false }
        guard let out = stages.body(buffer) else { return true }
        plan.record.bytesOut += out.readableBytes
        client.exchangeBody(out)
        if stages.isCutOff {
            cutOff()
            return false
        }
        return client.isWritable
    }

    package func upstreamReadComplete() {
        if !finished { client.exchangeFlush() }
    }

    package func upstreamEnd() {
        guard !finished else { return }
        upstream = nil
        complete()
    }

    package func upstreamFailed(_ error: PoolError) {
        guard !finished else { return }
        upstream = nil
        let (gatewayError, retryable) = UpstreamClient.classify(error, endpoint: plan.record.endpoint ?? "?")
        if headSent {
            // Mid-body: nothing can be retried; the client sees the stream cut.
            finished = true
            client.exchangeEnding(self)
            plan.attempts.failedMidResponse(gatewayError)
            plan.record.errorCode = .upstreamStreamError
            stages.finish(into: &plan.record)
            recorder.finished(plan.record)
            client.exchangeBroken()
        } else {
            next(plan.attempts.failed(.init(error: gatewayError, retryable: retryable, notSent: error == .notSent)))
        }
    }

    // MARK: endings

    /// A stage ended the stream (at a budget): the upstream request is cancelled, so nothing
    /// more is generated and billed, and the response ends with the stage's last words.
    private func cutOff() {
        // Finished first: a cancel may report back at once, and must find nothing to fail.
        let running = upstream
        upstream = nil
        finished = true
        running?.cancel()
        complete()
    }

    /// Ends the response: what the stages still hold, the end, the accounting.
    private func complete() {
        finished = true
        client.exchangeEnding(self)
        for rest in stages.end() {
            plan.record.bytesOut += rest.readableBytes
            client.exchangeBody(rest)
        }
        stages.finish(into: &plan.record)
        // The accounting comes after the end went out, off the client's latency.
        client.exchangeEnd()
        recorder.finished(plan.record)
    }

    /// Answers the forwarded request with a gateway error in its dialect.
    private func fail(_ error: GatewayError) {
        finished = true
        client.exchangeEnding(self)
        plan.record.errorCode = error.code
        client.exchangeAnswer(.error(error, dialect: plan.dialect), record: &plan.record)
    }
}
