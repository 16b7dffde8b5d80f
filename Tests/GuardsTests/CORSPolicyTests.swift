import Guards
import HTTPTypes
import Testing

/// Which origins the admin API answers across sites, and with what headers.
@Suite("CORS policy")
struct CORSPolicyTests {
    @Test("a listed origin is echoed with credentials; its preflight is 204 with the allowed methods")
    func listedOrigin() {
        let policy = CORSPolicy(origins: ["https://ops.example", "*"], origin: "https://ops.example")
        var headers = HTTPFields()
        policy.apply(to: &headers)
        #expect(headers[.accessControlAllowOrigin] == "https://ops.example")
        #expect(headers[.accessControlAllowCredentials] == "true" && headers[.vary] == "Origin")
        let preflight = policy.preflight()
        #expect(preflight.status == .noContent)
        #expect(preflight.headers[.accessControlAllowMethods] == "GET, POST, DELETE, OPTIONS")
        #expect(preflight.headers[.accessControlAllowOrigin] == "https://ops.example")
    }

    @Test("`*` allows any origin but never with credentials")
    func wildcard() {
        var headers = HTTPFields()
        CORSPolicy(origins: ["*"], origin: "https://anything.example").apply(to: &headers)
        #expect(headers[.accessControlAllowOrigin] == "*" && headers[.accessControlAllowCredentials] == nil)
    }

    @Test("an unlisted origin gets no CORS headers and a 403 preflight")
    func unlisted() {
        let policy = CORSPolicy(origins: ["https://ops.example"], origin: "https://evil.example")
        var headers = HTTPFields()
        policy.apply(to: &headers)
        #expect(headers.isEmpty)
        let preflight = policy.preflight()
        #expect(preflight.status == .forbidden && preflight.headers[.accessControlAllowOrigin] == nil)
    }
}
