import Dialects
import NIOHTTP1

/// Starts a trace span for each request the engine takes, when tracing is on (the engine holds
/// none otherwise, so tracing off costs one nil check). The engine speaks only this protocol:
/// the span model and the exporter live in Telemetry and LLMProxy.
package protocol RequestTracer: Sendable {
    /// The span of a request that has just arrived, continuing the client's trace when its
    /// `traceparent` is valid. Always a span: a request the sampler leaves out gets one that
    /// records nothing but still propagates the trace (with its sampled flag off).
    func start(_ arrival: TraceArrival) -> any RequestSpan
}

/// What a span knows when it starts: no body, no key, only the client's trace context
/// headers — given only once the request passed the key check, so that an unauthenticated
/// client cannot make the gateway trace (and export) whatever it sends.
package struct TraceArrival: Sendable {
    package var method: String
    package var path: String
    package var traceparent: String?
    package var tracestate: String?
    /// When the request arrived (the span may start a little later, after the key check).
    package var arrived: ContinuousClock.Instant

    package init(method: String, path: String, traceparent: String?, tracestate: String?, arrived: ContinuousClock.Instant = .now) {
        self.method = method
        self.path = path
        self.traceparent = traceparent
        self.tracestate = tracestate
        self.arrived = arrived
    }
}

/// One upstream attempt, as its child span describes it.
package struct TraceAttempt: Sendable {
    /// `openai#0`: the endpoint, as the request log names it.
    package var endpoint: String
    /// The provider's configured name.
    package var provider: String
    /// The provider's API: `openai`, `anthropic`, `gemini`, `mock`.
    package var providerType: String
    /// The model the upstream is asked for.
    package var model: String?
    /// The upstream's host and port.
    package var host: String
    package var port: Int
    /// 1 for the first attempt, 2 for the first retry or fallback, ….
    package var number: Int
    /// `gen_ai.operation.name` of the request (``RequestRecord/genAIOperation``).
    package var operation: String?

    package init(
        endpoint: String, provider: String, providerType: String, model: String?, host: String, port: Int, number: Int, operation: String?
    ) {
        self.operation = operation
        self.endpoint = endpoint
        self.provider = provider
        self.providerType = providerType
        self.model = model
        self.host = host
        self.port = port
        self.number = number
    }
}

/// A request's span and its attempts' child spans. Called on the request's event loop, in the
/// order the request lives: attempts, then ``finished(_:)`` once (from the recorder).
package protocol RequestSpan: AnyObject, Sendable {
    /// The trace's id (32 lowercase hex digits), for the request log.
    var traceID: String? { get }
    /// An attempt is sent: ends the previous attempt's span, starts this one's, and writes the
    /// trace context the upstream continues (`traceparent`, `tracestate`) into its head.
    func attemptStarted(_ attempt: TraceAttempt, headers: inout HTTPHeaders)
    /// The attempt in flight answered with this status; `retried`: the answer is read away
    /// and another attempt follows (the span ends now).
    func attemptAnswered(status: Int, retried: Bool)
    /// The attempt in flight failed before or while answering.
    func attemptFailed(_ code: ErrorCode)
    /// The request was answered: its record gives the span its name, attributes and status.
    func finished(_ record: RequestRecord)
}
