import Foundation
import HTTPTypes

/// Refuses admin requests another site's page could have made with the admin's cookie.
///
/// SameSite=Strict keeps the cookie off requests from *other sites*, but a site is only the
/// registrable domain: a page on another port or a sibling subdomain still sends it. So:
/// - a state-changing request with a body must say `Content-Type: application/json` (a page
///   cannot send that cross-origin without a CORS preflight, which only listed origins pass);
///   `/auth/login` always, so no form can sign a browser in;
/// - a state-changing request authenticated by the cookie (not by `Authorization: Bearer`,
///   which a page on another origin cannot set without a preflight) must come from the admin
///   interface's own origin or one listed in `admin.cors_origins`: by `Origin` when the
///   browser sends it, and never when `Sec-Fetch-Site` says cross-site or same-site. A request
///   with neither header (curl, old clients) is no browser's cross-site request and passes.
///
/// Pure: the caller reads the headers and answers the refusal.
package struct CrossSiteCheck {
    package struct Refusal: Equatable {
        package let status: HTTPResponse.Status
        package let message: String
    }

    var method: HTTPRequest.Method
    var path: String
    var contentType: String?
    var hasBody: Bool
    /// The request carries the session cookie and no Bearer token.
    var cookieSession: Bool
    var origin: String?
    var fetchSite: String?
    /// `scheme://host[:port]` of the admin interface as this request reached it.
    var ownOrigin: String?
    var allowedOrigins: [String]

    package init(
        method: HTTPRequest.Method, path: String, contentType: String?, hasBody: Bool, cookieSession: Bool,
        origin: String?, fetchSite: String?, ownOrigin: String?, allowedOrigins: [String]
    ) {
        self.method = method
        self.path = path
        self.contentType = contentType
        self.hasBody = hasBody
        self.cookieSession = cookieSession
        self.origin = origin
        self.fetchSite = fetchSite
        self.ownOrigin = ownOrigin
        self.allowedOrigins = allowedOrigins
    }

    static let stateChanging: Set<HTTPRequest.Method> = [.post, .put, .patch, .delete]

    package func refusal() -> Refusal? {
        guard Self.stateChanging.contains(method) else { return nil }
        if hasBody || path == "/auth/login" || contentType != nil {
            let media = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if media != "application/json" {
                return Refusal(
                    status: .unsupportedMediaType,
                    message: "send the body as JSON with Content-Type: application/json (got \(contentType.map { "\"\($0)\"" } ?? "no Content-Type"))")
            }
        }
        guard cookieSession else { return nil }
        let listed = origin.map { origin in allowedOrigins.contains { $0 != "*" && Self.normalized($0) == Self.normalized(origin) } } ?? false
        if let origin, !listed, Self.normalized(origin) != ownOrigin.map(Self.normalized) {
            return Refusal(
                status: .forbidden,
                message:
                    "a signed-in browser request from \(origin) is refused: it is not this admin interface's origin (\(ownOrigin ?? "unknown")); list it in admin.cors_origins to allow it"
            )
        }
        if let site = fetchSite?.lowercased(), site == "cross-site" || site == "same-site", !listed {
            return Refusal(
                status: .forbidden,
                message: "a signed-in browser request from another site (Sec-Fetch-Site: \(site)) is refused; list its origin in admin.cors_origins to allow it")
        }
        return nil
    }

    /// Lowercased, without the default port of its scheme, without a trailing slash.
    package static func normalized(_ origin: String) -> String {
        var text = origin.lowercased()
        if text.hasSuffix("/") { text.removeLast() }
        if text.hasPrefix("http://"), text.hasSuffix(":80") { text.removeLast(3) }
        if text.hasPrefix("https://"), text.hasSuffix(":443") { text.removeLast(4) }
        return text
    }
}
