import Guards
import HTTPTypes
import Testing

/// The cross-site decision, without sockets (issue 8.5).
@Suite("Cross-site check")
struct CrossSiteCheckTests {
    static func check(
        _ method: HTTPRequest.Method = .post, path: String = "/api/keys", type: String? = "application/json", body: Bool = true,
        cookie: Bool = true, origin: String? = nil, site: String? = nil
    ) -> CrossSiteCheck.Refusal? {
        CrossSiteCheck(
            method: method, path: path, contentType: type, hasBody: body, cookieSession: cookie, origin: origin, fetchSite: site,
            ownOrigin: "http://gw.example:8080", allowedOrigins: ["https://ops.example", "*"]
        ).refusal()
    }

    @Test("bodies of state changes and every /auth/login must be JSON")
    func mediaType() {
        #expect(Self.check(type: "text/plain")?.status == .unsupportedMediaType)
        #expect(Self.check(type: nil)?.status == .unsupportedMediaType)
        #expect(Self.check(path: "/auth/login", type: nil, body: false, cookie: false)?.status == .unsupportedMediaType)
        #expect(Self.check(type: "Application/JSON; charset=utf-8") == nil)
        #expect(Self.check(type: nil, body: false) == nil) // POST /api/config/reload without a body
        #expect(Self.check(.get, type: "text/plain") == nil)
    }

    @Test("cookie state changes only from the own origin or a listed one; Sec-Fetch-Site cross-site or same-site refused")
    func origins() {
        #expect(Self.check(origin: "http://gw.example:8080") == nil)
        #expect(Self.check(origin: "HTTP://GW.EXAMPLE:8080/", site: "same-origin") == nil)
        #expect(Self.check(origin: "https://ops.example", site: "cross-site") == nil)
        #expect(Self.check() == nil) // curl: neither header
        #expect(Self.check(site: "none") == nil) // typed by the user
        for origin in ["http://gw.example:8081", "https://gw.example:8080", "http://evil.gw.example:8080", "null", "https://anything.example"] {
            #expect(Self.check(origin: origin)?.status == .forbidden, "\(origin)")
            #expect(Self.check(.delete, type: nil, body: false, origin: origin)?.status == .forbidden, "\(origin)")
        }
        #expect(Self.check(site: "same-site")?.status == .forbidden)
        #expect(Self.check(site: "cross-site")?.status == .forbidden)
        // Not cookie-authenticated (Bearer), or not a state change: no origin rule.
        #expect(Self.check(cookie: false, origin: "https://evil.example", site: "cross-site") == nil)
        #expect(Self.check(.get, type: nil, body: false, origin: "https://evil.example", site: "cross-site") == nil)
    }

    @Test("default ports are the same origin")
    func defaultPorts() {
        #expect(CrossSiteCheck.normalized("http://a.example:80") == "http://a.example")
        #expect(CrossSiteCheck.normalized("https://a.example:443/") == "https://a.example")
        #expect(CrossSiteCheck.normalized("https://a.example:80") == "https://a.example:80")
    }
}
