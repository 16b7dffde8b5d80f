import HTTPTypes

/// Why bytes from a client are not an HTTP/1.1 request the gateway accepts. Each case is
/// answered with its status and the connection closed: after a framing error nothing that
/// follows on the connection can be trusted to start a request (RFC 9112 §11.2).
package enum HTTP1ParseError: Error, Equatable, Sendable {
    /// The head (request line and fields) is longer than the limit, or its end is not in sight
    /// within it.
    case headTooLarge
    /// The request line is not `method SP request-target SP HTTP-version CRLF`.
    case badRequestLine
    /// An HTTP version other than 1.0 and 1.1.
    case unsupportedVersion
    /// A method the gateway does not serve (`CONNECT`, WebDAV's, unknown tokens).
    case unsupportedMethod
    /// A field line that is not `token ":" OWS value OWS CRLF`, a control character in a
    /// value, or a line ended by a bare LF or CR.
    case badField
    /// A field line starting with whitespace (obsolete line folding), refused as RFC 9112
    /// §5.2 allows, since folding is a smuggling vector between parsers.
    case lineFolding
    /// HTTP/1.1 without exactly one `Host`, or more than one in HTTP/1.0.
    case badHost
    /// `Content-Length` that is not one run of decimal digits, or given more than once.
    case badContentLength
    /// Both `Transfer-Encoding` and `Content-Length`, `Transfer-Encoding` in HTTP/1.0, or
    /// `chunked` given twice: the framing is ambiguous (RFC 9112 §6.1, §6.3).
    case ambiguousFraming
    /// A transfer coding other than `chunked` alone (the gateway decodes no others).
    case unsupportedTransferEncoding
    /// A chunk size line, chunk end or trailer section that is not well formed.
    case badChunk

    /// The status it is answered with.
    package var status: HTTPResponse.Status {
        switch self {
        case .headTooLarge: .init(code: 431, reasonPhrase: "Request Header Fields Too Large")
        case .unsupportedVersion: .init(code: 505, reasonPhrase: "HTTP Version Not Supported")
        case .unsupportedTransferEncoding, .unsupportedMethod: .notImplemented
        default: .badRequest
        }
    }

    /// What the answer says, in words a client's developer can act on.
    package var message: String {
        switch self {
        case .headTooLarge: "The request's header section is too large"
        case .badRequestLine: "The request line is malformed"
        case .unsupportedVersion: "Only HTTP/1.0 and HTTP/1.1 are supported on this connection"
        case .unsupportedMethod: "This method is not supported"
        case .badField: "A header field is malformed"
        case .lineFolding: "Header fields folded over several lines are not accepted"
        case .badHost: "The request must carry exactly one Host header"
        case .badContentLength: "The Content-Length header is malformed or repeated"
        case .ambiguousFraming: "The request's framing is ambiguous (Transfer-Encoding with Content-Length, or in HTTP/1.0)"
        case .unsupportedTransferEncoding: "Only the chunked transfer coding is supported"
        case .badChunk: "The chunked request body is malformed"
        }
    }
}
