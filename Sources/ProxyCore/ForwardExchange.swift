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
    /// A retryable upstream answer being read to its end and dropped (its connection stays
    /// reusable), then this step is taken; or nil.
    private var discarding: AttemptPlan.Step?
    private var discarded = 0
    /// A 400 held back (head and up to ``heldLimit`` bytes) to see whether it is a
    /// context-length error that a fallback model may answer instead.
    private var held: (head: HTTPResponseHead, body: ByteBuffer)?
    /// The timer of a retry waiting out its `Retry-After` or back-off.
    private var waiting: Scheduled<Void>?
    /// The endpoint counted as serving this request (its in-flight count, for latency
    /// balancing), until the attempt ends.
    private var loaded: Endpoint?
    /// When the attempt in flight was sent: its time to first byte feeds the endpoint's
    /// latency (earlier attempts and waits are not that endpoint's).
    private var attemptStart = ContinuousClock.now
    /// The attempt in flight has not yet had its upstream time counted (see ``closeAttempt(_:)``).
    private var attemptOpen = false
    /// Counts the attempts sent: a transport's `started` or `failed` that arrives after its
    /// attempt was given up (it failed through the sink first, and the next one is under way)
    /// is recognised as stale, and never installs a dead exchange over the live one.
    private var sending = 0

    /// Error bodies larger than this are not read to the end: the connection is closed instead.
    static let discardLimit = 256 * 1024
    static let heldLimit = 64 * 1024

    package init(plan: ForwardPlan, client: any ExchangeClient, transport: any UpstreamTransport, recorder: RequestRecorder, on loop: any EventLoop) {
        self.plan = plan
        self.client = client
        self.transport = transport
        self.recorder = recorder
        self.loop = loop
    }

    deinit { loaded?.health.ended() }

    /// The attempt in flight is over (answered, failed, abandoned): its endpoint's in-flight
    /// count goes down.
    private func unload() {
        loaded?.health.ended()
        loaded = nil
    }

    /// Sends the first attempt, or replays the cached answer.
    package func start() {
        if let entry = plan.cacheHit {
            replay(entry)
            return
        }
        next(plan.attempts.next())
    }

    /// Answers from the cache: the head and the pieces the answer was first written in (a
    /// stream keeps its events), at once — the entry is bounded by `cache.max_entry_bytes`
    /// and its pieces are slices of one buffer, not copies. No upstream, no attempt, no cost.
    private func replay(_ entry: ResponseCache.Entry) {
        finished = true
        headSent = true
        plan.record.endpoint = "cache"
        plan.record.model = entry.model ?? plan.record.model
        plan.record.status = entry.status
        plan.record.firstByte = ContinuousClock.now - plan.record.start
        plan.record.promptTokens = entry.usage.input
        plan.record.completionTokens = entry.usage.output
        plan.record.totalTokens = entry.totalTokens
        plan.record.cachedTokens = entry.usage.cachedInput
        plan.record.reasoningTokens = entry.usage.reasoning
        plan.record.translation = entry.translation
        var fields = plan.state.responseHeaders.clientFields(entry.headers, requestID: plan.record.id)
        plan.record.decorate(&fields, securityHeaders: plan.state.config.security.securityHeaders)
        if let model = plan.record.model, let name = HTTPField.Name("x-llmproxy-model") { fields[name] = model }
        fields[Self.cacheHeader] = RequestRecord.CacheStatus.hit.rawValue
        plan.record.stampOverhead(&fields)
        // How long ago the answer was made, as an HTTP cache says it (whole seconds).
        fields[.age] = String(max(0, (ContinuousClock.now - entry.stored).components.seconds))
        client.exchangeHead(HTTPResponse(status: HTTPResponse.Status(code: entry.status), headerFields: fields))
        openStream()
        for piece in entry.pieces {
            plan.record.bytesOut += piece.readableBytes
            client.exchangeBody(piece)
        }
        client.exchangeEnding(self)
        client.exchangeEnd()
        recorder.finished(plan.record)
    }

    static let cacheHeader = HTTPField.Name("x-llmproxy-cache")!

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
        waiting?.cancel()
        waiting = nil
        plan.attempts.abandoned()
        unload()
        plan.record.trail = plan.attempts.retries
        plan.record.errorCode = .clientClosed
        if !headSent { plan.record.status = GatewayError.clientClosed.status.code }
        stages.finish(into: &plan.record)
        recorder.finished(plan.record)
    }

    // MARK: attempts

    private func next(_ step: AttemptPlan.Step) {
        unload()
        switch step {
        case .fail(let error): fail(error)
        case .send(let endpoint, let fresh): send(to: endpoint, fresh: fresh)
        case .retry(let endpoint, let delay):
            // One timer on this loop, not a task; the client leaving cancels it.
            let scheduled = ContinuousClock.now
            waiting = loop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(delay / .nanoseconds(1)))) { [self] in
                waiting = nil
                guard !finished else { return }
                plan.record.upstreamTime += .now - scheduled
                plan.attempts.retryStarted()
                send(to: endpoint, fresh: false)
            }
        }
    }

    /// Sends the request to `endpoint` on a connection of this loop (or to the mock).
    private func send(to endpoint: Endpoint, fresh: Bool) {
        var attempt: ForwardPlan.Attempt
        switch plan.attempt(to: endpoint) {
        case .success(let made): attempt = made
        case .failure(let error):
            fail(error)
            return
        }
        if let span = plan.record.span {
            let traced = TraceAttempt(
                endpoint: endpoint.id, provider: endpoint.providerName, providerType: endpoint.type.rawValue, model: plan.record.model,
                host: endpoint.baseURL.host, port: endpoint.baseURL.port, number: plan.attempts.sent, operation: plan.record.genAIOperation)
            span.attemptStarted(traced, headers: &attempt.head.headers)
        }
        stages = attempt.stages
        unload()
        endpoint.health.started()
        loaded = endpoint
        attemptStart = .now
        attemptOpen = true
        sending &+= 1
        let current = sending
        transport.send(attempt, to: endpoint, freshConnection: fresh, on: loop, sink: self) { [self] upstream in
            // The client may have left while the connection was being made, or the attempt
            // may have failed (and another begun) before its exchange was handed over.
            guard !finished, current == sending, self.upstream == nil else {
                upstream.cancel()
                return
            }
            self.upstream = upstream
        } failed: { [self] error in
            guard !finished, current == sending, upstream == nil else { return }
            closeAttempt()
            let (gatewayError, retryable) = UpstreamClient.classify(error, endpoint: endpoint.id)
            plan.record.span?.attemptFailed(gatewayError.code)
            next(plan.attempts.failed(.init(error: gatewayError, retryable: retryable)))
        }
    }

    /// Counts the attempt in flight as upstream time, once: from its send to its head or
    /// its failure (``RequestRecord/upstreamTime``, which the overhead excludes).
    private func closeAttempt(_ now: ContinuousClock.Instant = .now) {
        guard attemptOpen else { return }
        attemptOpen = false
        plan.record.upstreamTime += now - attemptStart
    }

    // MARK: upstream → client (UpstreamResponseSink, on this loop)

    package func upstreamHead(_ head: HTTPResponseHead) {
        guard !finished else { return }
        let upstreamStatus = Int(head.status.code)
        let now = ContinuousClock.now
        let firstByte = now - plan.record.start
        closeAttempt(now)
        if let step = plan.attempts.responded(
            status: upstreamStatus, retryAfter: RetryPolicy.retryAfter(in: head.headers), firstByte: now - attemptStart, now: now)
        {
            plan.record.span?.attemptAnswered(status: upstreamStatus, retried: true)
            // An upstream failure another attempt may cure: read this answer away first.
            discarding = step
            discarded = 0
            return
        }
        if upstreamStatus == 400, plan.state.config.routing.fallbackOnContextLength, plan.attempts.hasFallback {
            held = (head, ByteBuffer())
            plan.record.span?.attemptAnswered(status: upstreamStatus, retried: false)
            return
        }
        plan.record.span?.attemptAnswered(status: upstreamStatus, retried: false)
        deliverHead(head, firstByte: firstByte)
    }

    /// The response head goes to the client: from here nothing is retried.
    private func deliverHead(_ head: HTTPResponseHead, firstByte: Duration) {
        let upstreamStatus = Int(head.status.code)
        plan.record.firstByte = firstByte
        plan.record.trail = plan.attempts.retries
        var status = upstreamStatus
        var headers = head.headers
        stages.head(status: &status, headers: &headers)
        plan.record.status = status
        var fields = plan.state.responseHeaders.clientFields(headers, requestID: plan.record.id)
        plan.record.decorate(&fields, securityHeaders: plan.state.config.security.securityHeaders)
        if let model = plan.record.model, let name = HTTPField.Name("x-llmproxy-model") { fields[name] = model }
        if let cache = plan.record.cache { fields[Self.cacheHeader] = cache.rawValue }
        plan.record.stampOverhead(&fields)
        headSent = true
        let reason = status == upstreamStatus ? head.status.reasonPhrase : HTTPResponse.Status(code: status).reasonPhrase
        client.exchangeHead(HTTPResponse(status: HTTPResponse.Status(code: status, reasonPhrase: reason), headerFields: fields))
        openStream()
    }

    /// A streamed answer is under way: counted as an active stream until it is accounted for.
    private func openStream() {
        guard plan.record.stream, plan.record.status < 400 else { return }
        plan.record.streamOpened = true
        recorder.streamStarted()
    }

    package func upstreamBody(_ buffer: ByteBuffer) -> Bool {
        guard !finished else { return false }
        if discarding != nil {
            discarded += buffer.readableBytes
            if discarded > Self.discardLimit { abandonDiscarded() }
            return true
        }
        if var kept = held {
            held = nil
            kept.body.writeImmutableBuffer(buffer)
            if kept.body.readableBytes > Self.heldLimit {
                // Too large for an error about the context window: it goes out as it is.
                release(kept)
                return client.isWritable
            }
            held = kept
            return true
        }
        let out = stages.body(buffer)
        if let out {
            plan.record.bytesOut += out.readableBytes
            client.exchangeBody(out)
        }
        // Checked whether or not the stages let anything out: a translating stage may hold
        // back the part in which the budget ran out, and every part after it — the upstream
        // would then stream on, unbilled, until it ended by itself.
        if stages.isCutOff {
            cutOff()
            return false
        }
        return out == nil || client.isWritable
    }

    package func upstreamReadComplete() {
        if !finished, discarding == nil, held == nil { client.exchangeFlush() }
    }

    package func upstreamEnd() {
        guard !finished else { return }
        upstream = nil
        if takeDiscardedStep() { return }
        if let kept = held {
            held = nil
            if Self.isContextLengthError(kept.body), let step = plan.attempts.contextTooLong() {
                next(step)
                return
            }
            release(kept)
        }
        complete()
    }

    /// The answer being read away ended: the attempt plan's next step is taken.
    private func takeDiscardedStep() -> Bool {
        guard let step = discarding else { return false }
        discarding = nil
        next(step)
        return true
    }

    /// A discarded answer too large to read away: its connection is closed, the step taken.
    private func abandonDiscarded() {
        guard let step = discarding else { return }
        discarding = nil
        let running = upstream
        upstream = nil
        running?.cancel()
        next(step)
    }

    /// A held 400 goes to the client after all.
    private func release(_ kept: (head: HTTPResponseHead, body: ByteBuffer)) {
        deliverHead(kept.head, firstByte: ContinuousClock.now - plan.record.start)
        if kept.body.readableBytes > 0, let out = stages.body(kept.body) {
            plan.record.bytesOut += out.readableBytes
            client.exchangeBody(out)
        }
    }

    /// Whether an upstream 400 says the prompt does not fit the model's context window, in
    /// any provider's words (OpenAI's `context_length_exceeded`, Anthropic's "prompt is too
    /// long", Gemini's "exceeds the maximum number of tokens").
    static func isContextLengthError(_ body: ByteBuffer) -> Bool {
        let text = String(buffer: body).lowercased()
        return text.contains("context_length_exceeded") || text.contains("context length") || text.contains("context window")
            || text.contains("prompt is too long") || text.contains("maximum number of tokens") || text.contains("too many tokens")
    }

    package func upstreamFailed(_ error: PoolError) {
        guard !finished else { return }
        upstream = nil
        // An answer being read away that broke off was to be dropped anyway.
        if takeDiscardedStep() { return }
        if let kept = held {
            held = nil
            release(kept)
        }
        closeAttempt()
        let (gatewayError, retryable) = UpstreamClient.classify(error, endpoint: plan.record.endpoint ?? "?")
        plan.record.span?.attemptFailed(gatewayError.code)
        if headSent {
            // Mid-body: nothing can be retried; the client sees the stream cut.
            finished = true
            unload()
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
        unload()
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
        unload()
        plan.record.trail = plan.attempts.retries
        client.exchangeEnding(self)
        plan.record.errorCode = error.code
        client.exchangeAnswer(.error(error, dialect: plan.dialect), record: &plan.record)
    }
}
