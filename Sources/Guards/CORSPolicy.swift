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
