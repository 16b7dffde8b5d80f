import Dialects
import Guards
import HTTPTypes
import NIOCore
import ProxyConfig
import Upstreams

/// What the guards know about a request when they judge it. Filled by the planner: the head
/// part first, then (for ``AdmissionGuard/admitRouted(_:)``) the model, stream flag and the
/// providers the route chose. Guards may narrow what they are given (the key guard drops
/// providers a provider key may not use) and record who is asking (the identity).
package struct Admission: Sendable {
    package let method: HTTPRequest.Method
    /// The request path without its query (after a host route's prefix was stripped).
    package let path: String
    package let query: Substring?
    package let headers: HTTPFields
    package let operation: Operation
    /// Where the request came from (peer, client address, user agent), shared with its record.
    package let origin: RequestOrigin
    /// The client key as presented. Guards compare it; nothing may log or forward it.
    package let presentedKey: String?
    /// The request is answered by the gateway itself (a model listing), not forwarded.
    package let answeredLocally: Bool
    /// The request came through the encrypted tunnel, whose pre-shared key authenticated it;
    /// the credentials inside are the upstream's, not the gateway's.
    package var viaTunnel = false

    /// The managed key that opened the request, once the key guard found one.
    package var identity: ClientIdentity?
    /// Only a provider's own `auth_keys` can still accept the key: decided per provider once
    /// the route is known.
    package var needsProviderKey = false

    // Known from the body and the route (routed stage only).
    package var model: String?
    package var stream = false
    package var bodySize = 0
    /// The output allowance the body names (`max_tokens` and siblings), for up-front charges.
    package var maxOutputTokens: Int?
    /// What the guards took for this request (slots, token charges, budget holds), made by
    /// the first guard that takes something (``reserve()``); the planner hands it to the
    /// record so the request's accounting settles it.
    package var reservation: Reservation?
    /// The name the rate guards count the client key under, once worked out.
    package var limitSubject: String?
    /// The providers the route chose; nil when routing failed (the guards still run, so a
    /// key limited to other models is told so before it learns which models exist).
    package var providers: [Provider]?

    /// The client's address: the peer, or the first untrusted hop of `X-Forwarded-For` when
    /// the peer is a trusted proxy (worked out once per request, in its origin).
    package var clientAddress: String? { origin.clientAddress }

    /// The request's reservation, made on first use.
    package mutating func reserve() -> Reservation {
        if let reservation { return reservation }
        let made = Reservation()
        reservation = made
        return made
    }

    package init(
        method: HTTPRequest.Method, path: String, query: Substring?, headers: HTTPFields, operation: Operation,
        origin: RequestOrigin, presentedKey: String?, answeredLocally: Bool
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.operation = operation
        self.origin = origin
        self.presentedKey = presentedKey
        self.answeredLocally = answeredLocally
    }
}

/// A guard's judgement.
package enum GuardVerdict: Sendable, Equatable {
    case admit
    /// Refused, with the error the client gets (in its dialect).
    case reject(GatewayError)
}

/// One admission rule. The planner calls each guard at most once per stage and request:
/// ``admitHead(_:)`` as soon as the head is read (before any body byte — so a refused client
/// costs no body reading), ``admitRouted(_:)`` once the body and the route are known. A guard
/// that keeps state (a rate-limit token, a failed-auth score) may therefore count on being
/// asked exactly once per request per stage, on every route and driver; what it reserves it
/// can settle in a ``RequestObserver`` when the request is accounted for.
package protocol AdmissionGuard: Sendable {
    /// A name for logs, metrics and errors (`key`, `model_allowlist`, …).
    var name: String { get }
    func admitHead(_ admission: inout Admission) -> GuardVerdict
    func admitRouted(_ admission: inout Admission) -> GuardVerdict
}

extension AdmissionGuard {
    package func admitHead(_ admission: inout Admission) -> GuardVerdict { .admit }
    package func admitRouted(_ admission: inout Admission) -> GuardVerdict { .admit }
}
