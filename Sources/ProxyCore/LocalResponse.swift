import Dialects
import HTTPTypes
import NIOCore

/// A complete answer the gateway gives itself, without an upstream: a model listing, an
/// error in the client's dialect.
package struct LocalResponse: Sendable {
    package var status: HTTPResponse.Status
    package var headers: HTTPFields
    package var body: ByteBuffer

    package init(status: HTTPResponse.Status, headers: HTTPFields = HTTPFields(), body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON body.
    package static func json(_ status: HTTPResponse.Status, _ text: String) -> LocalResponse {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return LocalResponse(status: status, headers: headers, body: ByteBuffer(string: text))
    }

    /// A gateway error in `dialect`'s error shape, with `Retry-After` when it has one.
    package static func error(_ error: GatewayError, dialect: Dialect) -> LocalResponse {
        var response = json(error.status, error.body(in: dialect))
        if let retry = error.retryAfter { response.headers[.retryAfterSeconds] = String(retry) }
        return response
    }

    /// A gateway error that ends its connection (a malformed request head, the connection
    /// limit): framed by its length, with `Connection: close`, in the OpenAI shape — no
    /// request was read, so there is no route to take a dialect from.
    package static func closing(_ error: GatewayError) -> LocalResponse {
        var response = Self.error(error, dialect: .openai)
        response.headers[.contentLength] = String(response.body.readableBytes)
        response.headers[.connection] = "close"
        return response
    }
}

extension LocalResponse {
    /// The headers this answer goes out with (its length, the request's id), and what the
    /// record learns from it (status, bytes).
    package func fields(accountingIn record: inout RequestRecord) -> HTTPFields {
        var fields = headers
        fields[.contentLength] = String(body.readableBytes)
        fields[.xRequestID] = record.id
        record.stampOverhead(&fields)
        record.status = status.code
        record.bytesOut = body.readableBytes
        return fields
    }
}

extension HTTPField.Name {
    package static let xRequestID = HTTPField.Name("x-request-id")!
    package static let xLLMProxyOverhead = HTTPField.Name("x-llmproxy-overhead-ms")!
    package static let retryAfterSeconds = HTTPField.Name("retry-after")!
    package static let xForwardedFor = HTTPField.Name("x-forwarded-for")!
    package static let xContentTypeOptions = HTTPField.Name("x-content-type-options")!
    /// W3C trace context.
    package static let traceparent = HTTPField.Name("traceparent")!
    package static let tracestate = HTTPField.Name("tracestate")!
}
