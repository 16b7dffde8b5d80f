import HTTPTypes
import NIOCore

/// A rejection or failure the gateway answers itself. It renders as the error shape of the
/// client's dialect, so SDKs surface a useful message instead of a parse failure.
package struct GatewayError: Error, Sendable, Equatable {
    package var status: HTTPResponse.Status
    /// Machine-readable reason, stable across releases: `invalid_api_key`, `model_not_found`…
    package var code: ErrorCode
    package var message: String
    /// Seconds a client should wait before retrying (sent as `Retry-After`).
    package var retryAfter: Int?

    package init(status: HTTPResponse.Status, code: ErrorCode, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    package static func invalidAPIKey(missing: Bool) -> GatewayError {
        GatewayError(
            status: .unauthorized, code: .invalidAPIKey,
            message: missing
                ? "No API key was sent: pass it as Authorization: Bearer <key>, x-api-key, x-goog-api-key or ?key="
                : "The API key is unknown or revoked"
        )
    }

    package static func modelNotFound(_ model: String?, detail: String? = nil) -> GatewayError {
        let what = model.map { "The model '\($0)' is not served by this gateway" } ?? "The request names no model and no default model is configured"
        return GatewayError(status: .notFound, code: .modelNotFound, message: detail.map { "\(what): \($0)" } ?? what)
    }

    /// The key is limited to some models and this is not one of them.
    package static func modelNotAllowed(_ model: String?, allowed: [String]) -> GatewayError {
        GatewayError(
            status: .forbidden, code: .modelNotAllowed,
            message: "This API key may not use the model '\(model ?? "")'; it is limited to: \(allowed.joined(separator: ", "))")
    }

    package static func requestTooLarge(limit: Int) -> GatewayError {
        GatewayError(
            status: .contentTooLarge, code: .requestTooLarge,
            message: "The request body is larger than the gateway's limit of \(limit) bytes")
    }

    package static func notFound(path: String) -> GatewayError {
        GatewayError(status: .notFound, code: .notFound, message: "No route for \(path)")
    }

    package static func methodNotAllowed(_ method: HTTPRequest.Method, path: String, allowed: String) -> GatewayError {
        GatewayError(status: .methodNotAllowed, code: .methodNotAllowed, message: "\(method.rawValue) is not allowed on \(path); use \(allowed)")
    }

    /// A tunnel request may not reach this upstream (not in its allowlist, or a private address).
    package static func hostNotAllowed(_ message: String) -> GatewayError {
        GatewayError(status: .forbidden, code: .hostNotAllowed, message: message)
    }

    package static func badRequest(_ message: String) -> GatewayError {
        GatewayError(status: .badRequest, code: .invalidRequest, message: message)
    }

    /// The client went away before its answer was ready (nginx's 499). Only logged: there is
    /// nobody left to send it to.
    package static let clientClosed = GatewayError(
        status: .init(code: 499, reasonPhrase: "Client Closed Request"), code: .clientClosed, message: "The client closed the connection")

    package static func upstreamUnavailable(_ message: String) -> GatewayError {
        GatewayError(status: .serviceUnavailable, code: .upstreamUnavailable, message: message, retryAfter: 5)
    }

    package static func badGateway(_ message: String) -> GatewayError {
        GatewayError(status: .badGateway, code: .upstreamError, message: message)
    }

    package static func gatewayTimeout(_ message: String) -> GatewayError {
        GatewayError(status: .gatewayTimeout, code: .upstreamTimeout, message: message)
    }

    /// A rate limit refused the request; `retryAfter` is at least 1 second.
    package static func rateLimited(_ message: String, retryAfter: Int) -> GatewayError {
        GatewayError(status: .tooManyRequests, code: .rateLimited, message: message, retryAfter: max(1, retryAfter))
    }

    /// A budget is spent until `retryAfter` seconds from now.
    package static func budgetExceeded(_ message: String, retryAfter: Int) -> GatewayError {
        GatewayError(status: .tooManyRequests, code: .budgetExceeded, message: message, retryAfter: max(1, retryAfter))
    }

    package static let ipBlocked = GatewayError(
        status: .forbidden, code: .ipBlocked,
        message: "Requests from this address are blocked for a while after repeated failed authentication or probing; an administrator can lift the block")

    package static let ipDenied = GatewayError(status: .forbidden, code: .ipDenied, message: "Requests from this address are not allowed")

    package static func overloaded(retryAfter: Int) -> GatewayError {
        GatewayError(
            status: .serviceUnavailable, code: .overloaded, message: "The gateway is overloaded and sheds new requests; retry shortly",
            retryAfter: max(1, retryAfter))
    }

    package static let originNotAllowed = GatewayError(
        status: .forbidden, code: .originNotAllowed, message: "This origin may not call the API from a browser (security.cors_origins)")

    /// The JSON body in `dialect`'s error shape.
    package func body(in dialect: Dialect) -> String {
        let message = JSONText.quoted(message)
        switch dialect {
        case .openai:
            return #"{"error":{"message":\#(message),"type":"\#(openAIType)","param":null,"code":"\#(code)"}}"#
        case .anthropic:
            return #"{"type":"error","error":{"type":"\#(anthropicType)","message":\#(message)}}"#
        case .gemini:
            return #"{"error":{"code":\#(status.code),"message":\#(message),"status":"\#(googleStatus)"}}"#
        }
    }

    var openAIType: String {
        switch status.code {
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404 where code == .modelNotFound: return "invalid_request_error"
        case 404: return "not_found_error"
        case 429: return "rate_limit_error"
        case 400, 405, 413, 422: return "invalid_request_error"
        case 503: return "service_unavailable"
        case 504: return "timeout"
        default: return "api_error"
        }
    }

    var anthropicType: String {
        switch status.code {
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        case 504: return "timeout_error"
        case 400..<500: return "invalid_request_error"
        default: return "api_error"
        }
    }

    var googleStatus: String {
        switch status.code {
        case 400, 413: return "INVALID_ARGUMENT"
        case 401: return "UNAUTHENTICATED"
        case 403: return "PERMISSION_DENIED"
        case 404, 405: return status.code == 404 ? "NOT_FOUND" : "UNIMPLEMENTED"
        case 429: return "RESOURCE_EXHAUSTED"
        case 503: return "UNAVAILABLE"
        case 504: return "DEADLINE_EXCEEDED"
        default: return "INTERNAL"
        }
    }
}
