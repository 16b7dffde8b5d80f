import Guards
import HTTPTypes
import Store

/// Settles what the guards took for a request when it is accounted for: in-flight slots go
/// back, token charges are corrected to the real usage, budget holds are booked. An observer
/// of the recorder, so it runs exactly once per request on every route and ending.
package struct LimitSettlement: RequestObserver {
    package init() {}

    package func requestFinished(_ record: RequestRecord) {
        guard let reservation = record.reservation, !reservation.isEmpty else { return }
        reservation.settle(record.outcome, nowNanos: MonotonicClock.nanos(), nowMs: WallClock.nowMs())
    }
}

extension RequestRecord {
    /// What every answer of the engine carries besides its own headers: the rate-limit
    /// status, the CORS grant for an allowed browser origin, and the security headers.
    package func decorate(_ fields: inout HTTPFields, securityHeaders: Bool) {
        reservation?.apply(to: &fields)
        if let corsOrigin {
            fields[.accessControlAllowOrigin] = corsOrigin
            fields[.accessControlExposeHeaders] = CORSPolicy.exposedHeaders
            fields[.vary] = "Origin"
        }
        if securityHeaders { fields[.xContentTypeOptions] = "nosniff" }
    }
}
