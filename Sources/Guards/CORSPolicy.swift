import HTTPTypes

/// Which browser origins may call a surface (the admin API's `admin.cors_origins`).
/// Credentials (the session cookie) are allowed only for origins listed by name, never for `*`.
///
/// Headers and statuses only, no server types: the caller wraps them in its own response.
package struct CORSPolicy: Sendable {
    /// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
    package struct Preflight: Sendable {
        /// 204 for an allowed origin, 403 otherwise.
        package let status: HTTPResponse.Status
        package let headers: HTTPFields
    }

    let allowed: String?
    let credentials: Bool

    /// The value of `Access-Control-Allow-Origin` for this request, nil when not allowed.
    package var allowedOrigin: String? { allowed }

    /// The policy for a request from `origin` (its `Origin` header) against the listed `origins`.
    package init(origins: [String], origin: String?) {
        if let origin, origins.contains(origin) {
            allowed = origin
            credentials = true
        } else if origins.contains("*") {
            allowed = "*"
            credentials = false
        } else {
            allowed = nil
            credentials = false
        }
    }

    /// Adds the CORS headers to an answer (none when the origin is not allowed).
    package func apply(to headers: inout HTTPFields) {
        guard let allowed else { return }
        headers[.accessControlAllowOrigin] = allowed
        if credentials { headers[.accessControlAllowCredentials] = "true" }
        headers[.vary] = "Origin"
    }

    /// The answer to a preflight on the proxy routes: the methods the API uses and the
    /// request headers the browser asked for (SDKs send their own: `x-api-key`,
    /// `anthropic-version`, `x-stainless-*`, …), echoed when the origin is allowed and the
    /// list is a plain, bounded list of header names.
    package func proxyPreflight(method: String, headers requested: String?) -> Preflight {
        var headers = HTTPFields()
        apply(to: &headers)
        guard allowed != nil else { return Preflight(status: .forbidden, headers: headers) }
        headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
        if let requested, requested.utf8.count <= 2048,
            requested.utf8.allSatisfy({ byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x2d || byte == 0x5f || byte == 0x2c
                    || byte == 0x20
            })
        {
            headers[.accessControlAllowHeaders] = requested
        } else {
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type, X-Api-Key, X-Goog-Api-Key, Anthropic-Version, Anthropic-Beta"
        }
        headers[.accessControlMaxAge] = "600"
        return Preflight(status: .noContent, headers: headers)
    }

    /// Headers a browser client may read from proxied answers.
    package static let exposedHeaders =
        "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-RateLimit-Limit-Tokens, X-RateLimit-Remaining-Tokens, X-RateLimit-Reset-Tokens, Retry-After, X-LLMProxy-Model, X-LLMProxy-Cache, X-LLMProxy-Overhead-Ms, Age"

    package func preflight() -> Preflight {
        var headers = HTTPFields()
        apply(to: &headers)
        if allowed != nil {
            headers[.accessControlAllowMethods] = "GET, POST, DELETE, OPTIONS"
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            headers[.accessControlMaxAge] = "600"
        }
        return Preflight(status: allowed == nil ? .forbidden : .noContent, headers: headers)
    }
}
