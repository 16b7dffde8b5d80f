import Dialects
import NIOHTTP1
import ProxyCore
import Synchronization
import Tracing

/// One request's server span and its attempts' client spans. Attributes follow the
/// OpenTelemetry GenAI conventions (`gen_ai.*`) and HTTP conventions, plus the gateway's own
/// (`llmproxy.*`); none holds a key, a prompt or an answer: only names, counts, codes.
final class TracedRequest<T: Tracer>: RequestSpan {
    private let tracer: T
    private let span: T.Span
    private let method: String
    private let path: String
    let traceID: String?
    private let state = Mutex(State())

    private struct State: ~Copyable {
        var attempt: T.Span?
        /// The first attempt's model: what the request asked for once routing named it.
        var requestModel: String?
        /// The provider of the last attempt.
        var providerName: String?
    }

    init(tracer: T, span: T.Span, method: String, path: String) {
        self.tracer = tracer
        self.span = span
        self.method = method
        self.path = path
        var carrier = TraceHeaders()
        tracer.inject(span.context, into: &carrier, using: TraceHeaders.Writer())
        traceID = carrier.traceparent.flatMap(Self.traceID(in:))
    }

    /// The trace id inside a `traceparent` (`00-<trace id>-<span id>-<flags>`).
    static func traceID(in traceparent: String) -> String? {
        let parts = traceparent.utf8
        guard parts.count == 55 else { return nil }
        return String(traceparent.dropFirst(3).prefix(32))
    }

    /// A client's model name as an attribute or in a span name: at most 128 bytes (a route's
    /// glob may let any name through, and spans wait in a queue of fixed length, not size).
    static func bounded(_ model: String?) -> String? {
        guard let model else { return nil }
        return model.utf8.count <= 128 ? model : String(decoding: model.utf8.prefix(128), as: UTF8.self)
    }

    func attemptStarted(_ attempt: TraceAttempt, headers: inout HTTPHeaders) {
        guard span.isRecording else {
            // Not sampled: no child spans (they would not be either); the upstream still
            // continues the trace, with its sampled flag off.
            propagate(span.context, into: &headers)
            return
        }
        var attributes = SpanAttributes()
        if let operation = attempt.operation { attributes["gen_ai.operation.name"] = operation }
        let provider = Self.providerName(attempt.providerType)
        attributes["gen_ai.provider.name"] = provider
        let model = Self.bounded(attempt.model)
        if let model { attributes["gen_ai.request.model"] = model }
        attributes["server.address"] = attempt.host
        attributes["server.port"] = attempt.port
        attributes["llmproxy.endpoint"] = attempt.endpoint
        attributes["llmproxy.provider"] = attempt.provider
        attributes["llmproxy.attempt"] = attempt.number
        let name = attempt.operation.map { op in model.map { "\(op) \($0)" } ?? op } ?? "\(method) \(attempt.provider)"
        let child = tracer.startSpan(name, context: span.context, ofKind: .client)
        child.attributes = attributes
        let previous = state.withLock { state in
            let previous = state.attempt
            state.attempt = child
            if state.requestModel == nil { state.requestModel = model }
            state.providerName = provider
            return previous
        }
        previous?.end()
        propagate(child.context, into: &headers)
    }

    /// The upstream continues the trace under `context` (the client's own `traceparent`,
    /// forwarded with its other headers, is replaced).
    private func propagate(_ context: InstrumentationContext, into headers: inout HTTPHeaders) {
        var carrier = TraceHeaders()
        tracer.inject(context, into: &carrier, using: TraceHeaders.Writer())
        if let traceparent = carrier.traceparent {
            headers.replaceOrAdd(name: "traceparent", value: traceparent)
            if let tracestate = carrier.tracestate {
                headers.replaceOrAdd(name: "tracestate", value: tracestate)
            } else {
                headers.remove(name: "tracestate")
            }
        }
    }

    func attemptAnswered(status: Int, retried: Bool) {
        guard let attempt = state.withLock({ $0.attempt }) else { return }
        attempt.attributes["http.response.status_code"] = status
        if status >= 400 {
            attempt.attributes["error.type"] = String(status)
            attempt.setStatus(SpanStatus(code: .error))
        }
        if retried { endAttempt() }
    }

    func attemptFailed(_ code: ErrorCode) {
        guard let attempt = state.withLock({ $0.attempt }) else { return }
        attempt.attributes["error.type"] = code.description
        attempt.setStatus(SpanStatus(code: .error, message: code.description))
        endAttempt()
    }

    private func endAttempt() {
        state.withLock { state in
            let attempt = state.attempt
            state.attempt = nil
            return attempt
        }?.end()
    }

    func finished(_ record: RequestRecord) {
        guard span.isRecording else {
            span.end()
            return
        }
        let (attempt, requestModel, provider) = state.withLock { state in
            let attempt = state.attempt
            state.attempt = nil
            return (attempt, state.requestModel, state.providerName)
        }
        if let attempt {
            // The answer broke off while this attempt was streaming it (not: its client left,
            // or a budget cut it off — the upstream did nothing wrong then).
            if let code = record.errorCode, record.firstByte != nil, code.isUpstreamFailure {
                attempt.attributes["error.type"] = code.description
                attempt.setStatus(SpanStatus(code: .error, message: code.description))
            }
            attempt.end()
        }
        var attributes = SpanAttributes()
        attributes["http.request.method"] = method
        attributes["url.path"] = path
        attributes["http.response.status_code"] = record.status
        attributes["llmproxy.request_id"] = record.id
        let model = requestModel ?? Self.bounded(record.model)
        if let operation = record.genAIOperation {
            attributes["gen_ai.operation.name"] = operation
            span.operationName = model.map { "\(operation) \($0)" } ?? operation
        } else {
            span.operationName = "\(method) \(record.rule ?? path)"
        }
        if let model { attributes["gen_ai.request.model"] = model }
        if let answered = Self.bounded(record.model), record.firstByte != nil { attributes["gen_ai.response.model"] = answered }
        if let provider { attributes["gen_ai.provider.name"] = provider }
        if record.dialect != nil, record.genAIOperation != nil { attributes["gen_ai.request.stream"] = record.stream }
        if let input = record.promptTokens { attributes["gen_ai.usage.input_tokens"] = input }
        if let output = record.completionTokens { attributes["gen_ai.usage.output_tokens"] = output }
        if let cached = record.cachedTokens { attributes["gen_ai.usage.cache_read.input_tokens"] = cached }
        if let reasoning = record.reasoningTokens { attributes["gen_ai.usage.reasoning.output_tokens"] = reasoning }
        if record.stream, let firstByte = record.firstByte {
            attributes["gen_ai.response.time_to_first_chunk"] = Double(firstByte.components.seconds) + Double(firstByte.components.attoseconds) / 1e18
        }
        if let rule = record.rule { attributes["llmproxy.route"] = rule }
        if let dialect = record.dialect { attributes["llmproxy.dialect"] = dialect }
        if let endpoint = record.endpoint { attributes["llmproxy.endpoint"] = endpoint }
        if let identity = record.identity { attributes["llmproxy.key_id"] = identity.keyID }
        if let cache = record.cache { attributes["llmproxy.cache"] = cache.rawValue }
        if record.attempts > 0 {
            attributes["llmproxy.attempts"] = record.attempts
            attributes["llmproxy.retries"] = record.attempts - 1
        }
        if let translation = record.translation { attributes["llmproxy.translation"] = translation }
        if let overhead = record.overhead { attributes["llmproxy.overhead_ms"] = RequestRecord.milliseconds(overhead) }
        if let cost = record.costUSD { attributes["llmproxy.cost_usd"] = cost }
        if let guardName = record.rejectedBy { attributes["llmproxy.rejected_by"] = guardName }
        if let code = record.errorCode {
            attributes["error.type"] = code.description
            // A server span is in error for the gateway's and the upstream's failures, not for
            // a refused or malformed request (HTTP conventions: 4xx is the client's).
            if record.status >= 500 || record.status == 0 || code.isUpstreamFailure {
                span.setStatus(SpanStatus(code: .error, message: code.description))
            }
        } else if record.status >= 500 {
            attributes["error.type"] = String(record.status)
            span.setStatus(SpanStatus(code: .error))
        }
        span.attributes = attributes
        span.end()
    }

    /// `gen_ai.provider.name` for a provider type (an OpenAI-compatible server is named as
    /// OpenAI: the conventions ask for the instrumentation's best knowledge).
    static func providerName(_ type: String) -> String {
        switch type {
        case "gemini": "gcp.gemini"
        default: type
        }
    }
}

/// `traceparent` and `tracestate` as a tracer writes them.
struct TraceHeaders: Sendable {
    var traceparent: String?
    var tracestate: String?

    struct Writer: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout TraceHeaders) {
            switch key {
            case "traceparent": carrier.traceparent = value
            case "tracestate": carrier.tracestate = value
            default: break
            }
        }
    }
}
