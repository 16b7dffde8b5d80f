import ProxyCore
import Tracing
import W3CTraceContext

/// The engine's ``RequestTracer`` over any tracer of the swift-distributed-tracing API (the
/// OpenTelemetry SDK in the gateway; whichever one a test gives): a server span per request,
/// continuing the client's trace when it sent a valid W3C `traceparent`.
package struct SpanTracer<T: Tracer>: RequestTracer {
    let tracer: T

    package init(_ tracer: T) { self.tracer = tracer }

    package func start(_ arrival: TraceArrival) -> any RequestSpan {
        var context = InstrumentationContext.topLevel
        if let parent = Self.validParent(arrival) {
            tracer.extract(parent, into: &context, using: ParentExtractor())
        }
        // Named when the request is answered (its operation and model are known then); timed
        // from the request's arrival, not from the key check.
        let waited = ContinuousClock.now - arrival.arrived
        let now = DefaultTracerClock.now.nanosecondsSinceEpoch
        let nanos = UInt64(clamping: max(0, waited.components.seconds * 1_000_000_000 + waited.components.attoseconds / 1_000_000_000))
        let started = Arrival(nanosecondsSinceEpoch: now > nanos ? now - nanos : now)
        let span = tracer.startSpan(arrival.method, context: context, ofKind: .server, at: started)
        return TracedRequest(tracer: tracer, span: span, method: arrival.method, path: arrival.path)
    }

    /// The client's trace context, when it is one: a `traceparent` of version 00 with a
    /// non-zero trace and span id, and its `tracestate` if that is well formed too (else
    /// dropped alone, as W3C asks). Anything else starts a new trace. Checked here so that
    /// no malformed value reaches the SDK (which would log the whole carrier).
    static func validParent(_ arrival: TraceArrival) -> TraceParent? {
        guard let parent = arrival.traceparent, parent.utf8.count == 55 else { return nil }
        // Lowercase hex only: W3C refuses upper case.
        guard parent.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) || $0 == 45 }) else { return nil }
        guard (try? TraceContext(traceParentHeaderValue: parent)) != nil else { return nil }
        var state = arrival.tracestate
        if let value = state {
            if value.utf8.count > 512 || (try? TraceContext(traceParentHeaderValue: parent, traceStateHeaderValue: value)) == nil { state = nil }
        }
        return TraceParent(traceparent: parent, tracestate: state)
    }

    /// A wall-clock instant for the tracing API.
    struct Arrival: TracerInstant {
        var nanosecondsSinceEpoch: UInt64
        static func < (lhs: Arrival, rhs: Arrival) -> Bool { lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch }
    }

    /// The two trace-context headers alone: the carrier handed to the SDK holds nothing else
    /// of the request.
    struct TraceParent: Sendable {
        var traceparent: String
        var tracestate: String?
    }

    struct ParentExtractor: Extractor {
        func extract(key: String, from carrier: TraceParent) -> String? {
            switch key {
            case "traceparent": carrier.traceparent
            case "tracestate": carrier.tracestate
            default: nil
            }
        }
    }
}
