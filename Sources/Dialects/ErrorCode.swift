/// Why the gateway answered a request itself or a request failed: a closed set, so every
/// place that sets one is checked by the compiler, and metric labels, log fields and the
/// `code` of OpenAI-shaped error bodies all come from the same names. A struct over a
/// private enum (as swift-certificates' `CertificateError` does), so new codes can be added
/// without breaking exhaustive switches in other modules.
package struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    private enum Backing: String, CaseIterable, Sendable {
        case invalidAPIKey = "invalid_api_key"
        case modelNotFound = "model_not_found"
        case modelNotAllowed = "model_not_allowed"
        case requestTooLarge = "request_too_large"
        case notFound = "not_found"
        case methodNotAllowed = "method_not_allowed"
        case invalidRequest = "invalid_request"
        case rateLimited = "rate_limited"
        case tooManyConnections = "too_many_connections"
        case clientClosed = "client_closed"
        case upstreamUnavailable = "upstream_unavailable"
        case upstreamError = "upstream_error"
        case upstreamTimeout = "upstream_timeout"
        case upstreamStreamError = "upstream_stream_error"
        case budgetExceeded = "budget_exceeded"
        case ipDenied = "ip_denied"
        case ipBlocked = "ip_blocked"
        case overloaded = "overloaded"
        case originNotAllowed = "origin_not_allowed"
        case untranslatable = "untranslatable"
        case upstreamRefused = "upstream_refused"
        case hostNotAllowed = "host_not_allowed"
        case tunnelDecryptFailed = "tunnel_decrypt_failed"
        case tunnelProtocolError = "tunnel_protocol_error"
        case tunnelReplay = "tunnel_replay"
    }

    private let backing: Backing

    private init(_ backing: Backing) { self.backing = backing }

    /// No key, or one the gateway does not accept (401).
    package static let invalidAPIKey = ErrorCode(.invalidAPIKey)
    /// No route serves the model (404).
    package static let modelNotFound = ErrorCode(.modelNotFound)
    /// The key is limited to other models (403).
    package static let modelNotAllowed = ErrorCode(.modelNotAllowed)
    /// The body is over `server.max_request_size` (413).
    package static let requestTooLarge = ErrorCode(.requestTooLarge)
    /// No surface at this path (404).
    package static let notFound = ErrorCode(.notFound)
    /// A known path with the wrong method (405).
    package static let methodNotAllowed = ErrorCode(.methodNotAllowed)
    /// The request cannot be read or is unsafe (400).
    package static let invalidRequest = ErrorCode(.invalidRequest)
    /// A rate limit refused the request (429).
    package static let rateLimited = ErrorCode(.rateLimited)
    /// The gateway is at `server.max_connections` (503).
    package static let tooManyConnections = ErrorCode(.tooManyConnections)
    /// The client left before its answer was complete (logged as 499).
    package static let clientClosed = ErrorCode(.clientClosed)
    /// No endpoint of the route is available (503).
    package static let upstreamUnavailable = ErrorCode(.upstreamUnavailable)
    /// The upstream could not be reached or failed before answering (502).
    package static let upstreamError = ErrorCode(.upstreamError)
    /// The upstream sent no head, or stopped sending, within its timeout (504).
    package static let upstreamTimeout = ErrorCode(.upstreamTimeout)
    /// The upstream's response broke off after its head went to the client.
    package static let upstreamStreamError = ErrorCode(.upstreamStreamError)

    /// A key's or owner's budget for the period is spent (429).
    package static let budgetExceeded = ErrorCode(.budgetExceeded)
    /// The client address is outside `security.allow_ips` or inside `security.deny_ips` (403).
    package static let ipDenied = ErrorCode(.ipDenied)
    /// The client address is on the automatic block list (403).
    package static let ipBlocked = ErrorCode(.ipBlocked)
    /// The gateway sheds load: too many requests in flight, or memory or CPU over `shedding` (503).
    package static let overloaded = ErrorCode(.overloaded)
    /// A CORS preflight from an origin not in `security.cors_origins` (403).
    package static let originNotAllowed = ErrorCode(.originNotAllowed)

    /// The request uses a feature the serving provider's dialect cannot express (400).
    package static let untranslatable = ErrorCode(.untranslatable)
    /// A translated request the upstream answered with an error, passed on in the client's
    /// dialect with the upstream's status.
    package static let upstreamRefused = ErrorCode(.upstreamRefused)

    /// A tunnel request named an upstream outside its allowlist, or one on a private or
    /// loopback address (403).
    package static let hostNotAllowed = ErrorCode(.hostNotAllowed)
    /// A tunnel document or frame that does not decrypt with the key: tampered, or another
    /// key (400).
    package static let tunnelDecryptFailed = ErrorCode(.tunnelDecryptFailed)
    /// A tunnel document or frame that is malformed, truncated, too large or too slow (400).
    package static let tunnelProtocolError = ErrorCode(.tunnelProtocolError)
    /// A v2 tunnel frame seen before, or with a timestamp outside the window (400).
    package static let tunnelReplay = ErrorCode(.tunnelReplay)

    /// Every code, for metrics that pre-create one series per label.
    package static let all: [ErrorCode] = Backing.allCases.map(ErrorCode.init)

    /// The code's name: the metric label, the log field, the `code` of error bodies.
    package var description: String { backing.rawValue }

    /// A failure on the upstream's side (or of the way to it), as opposed to a refusal of
    /// the request or the client leaving.
    package var isUpstreamFailure: Bool {
        switch backing {
        case .upstreamUnavailable, .upstreamError, .upstreamTimeout, .upstreamStreamError: return true
        default: return false
        }
    }
}
