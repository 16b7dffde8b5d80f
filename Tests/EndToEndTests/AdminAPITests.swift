import Foundation
import HTTPTypes
import Logging
import Store
import Testing

@testable import Admin

/// The admin API over HTTP against a running gateway (SQLite store), as scripts and the web
/// UI use it.
@Suite("Admin API")
struct AdminAPITests {
    static let password = "correct horse battery staple"

    static func yaml(_ upstream: MockUpstream, admin: String = "", username: String = "root", password: String = password, database: String? = nil) -> String {
        Configs.threeProviders(
            upstream,
            extra: """
                admin:
                  username: \(username)
                  password: "\(password)"
                \(admin)
                \(database.map { "database:\n  path: \($0)" } ?? "")
                """)
    }

    /// Signs in and returns the session cookie (`auth_token=…`).
    static func signIn(_ gateway: GatewayHarness) async throws -> String {
        let response = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"\#(password)"}"#)
        #expect(response.status == 200)
        let cookie = response.headers.first(name: "set-cookie") ?? ""
        return String(cookie.split(separator: ";").first ?? "")
    }

    @Test("sign-in: cookie attributes, Bearer tokens for scripts, tampered and expired tokens refused, sign-out")
    func sessions() async throws {
        // session_hours 0.003 ≈ 11 s: long enough for the checks below on a loaded machine.
        try await withGateway(yaml: { Self.yaml($0["primary"]!, admin: "  session_hours: 0.003") }) { gateway, _ in
            let wrong = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"nope"}"#)
            #expect(wrong.status == 401 && wrong.json["success"] as? Bool == false && (wrong.json["error"] as? String)?.isEmpty == false)
            let missing = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root"}"#)
            #expect(missing.status == 400 && (missing.json["error"] as? String)?.contains("password") == true)

            let login = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"\#(Self.password)"}"#)
            #expect(login.status == 200 && login.json["username"] as? String == "root")
            let setCookie = login.headers.first(name: "set-cookie") ?? ""
            #expect(setCookie.hasPrefix("auth_token=") && setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/"))
            let cookie = String(setCookie.split(separator: ";")[0])

            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys").status == 401)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Cookie", cookie)]).status == 200)

            let token = try await TestHTTP.send(.POST, "\(gateway.url)/auth/token", body: #"{"username":"root","password":"\#(Self.password)"}"#)
            let jwt = token.json["token"] as? String ?? ""
            #expect(token.status == 200 && jwt.split(separator: ".").count == 3)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Authorization", "Bearer \(jwt)")]).status == 200)

            // A changed payload or signature is refused.
            var parts = jwt.split(separator: ".").map(String.init)
            parts[2] = String(parts[2].reversed())
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Authorization", "Bearer \(parts.joined(separator: "."))")]).status == 401)
            let forged = Data(#"{"sub":"root","iat":0,"exp":9999999999}"#.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            #expect(
                try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Authorization", "Bearer \(parts[0]).\(forged).\(jwt.split(separator: ".")[2])")]).status == 401
            )

            // Once the session's time is up the same token stops working.
            var expired = false
            let deadline = ContinuousClock.now + .seconds(30)
            while !expired, ContinuousClock.now < deadline {
                expired = try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Authorization", "Bearer \(jwt)")]).status == 401
                if !expired { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(expired)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Cookie", cookie)]).status == 401)

            let logout = try await TestHTTP.send(.POST, "\(gateway.url)/auth/logout", headers: [("Cookie", cookie)])
            #expect(logout.status == 200 && (logout.headers.first(name: "set-cookie") ?? "").contains("Max-Age=0"))
        }
    }

    @Test("failed sign-ins are limited per address, with Retry-After")
    func loginRateLimit() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, _ in
            for _ in 0..<5 {
                #expect(try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"guess"}"#).status == 401)
            }
            let blocked = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"\#(Self.password)"}"#)
            #expect(blocked.status == 429)
            #expect(Int(blocked.headers.first(name: "retry-after") ?? "") ?? 0 > 0)
        }
    }

    @Test("keys: validation, creation shown once, instant use and instant revocation, never the key in listings")
    func keys() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, _ in
            let session = [("Cookie", try await Self.signIn(gateway))]
            let invalid: [(String, String)] = [
                (#"{"username":"x"}"#, "username"),
                (#"{"username":"alice","colour":"red"}"#, "unknown field"),
                (#"{"username":"alice","expiresAt":"yesterday"}"#, "expiresAt"),
                (#"{"username":"alice","expiresAt":"2001-01-01T00:00:00Z"}"#, "future"),
                (#"{"username":"alice","models":"gpt-4o"}"#, "models"),
                (#"{"username":"alice","limits":{"requestsPerMinute":-1}}"#, "requestsPerMinute"),
                (#"{"username":"alice","limits":{"colour":1}}"#, "unknown limit"),
                ("not json", "JSON"),
            ]
            for (body, mentions) in invalid {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/api/keys", headers: session, body: body)
                #expect(response.status == 400, "\(body)")
                #expect((response.json["error"] as? String)?.contains(mentions) == true, "\(body) → \(response.body)")
            }

            let created = try await TestHTTP.send(
                .POST, "\(gateway.url)/api/keys", headers: session,
                body: #"{"username":"alice","name":"ci","expiresIn":"30d","models":["gpt-*"],"limits":{"requestsPerMinute":60}}"#)
            #expect(created.status == 201)
            let key = created.json["key"] as? [String: Any] ?? [:]
            let secret = key["key"] as? String ?? ""
            let id = key["id"] as? String ?? ""
            #expect(secret.hasPrefix("sk-") && secret.count == 67 && secret.dropFirst(3).allSatisfy(\.isHexDigit))
            #expect(key["username"] as? String == "alice" && key["status"] as? String == "active" && key["expiresAt"] is String)

            let list = try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: session)
            #expect(!list.body.contains(secret))
            #expect(((list.json["keys"] as? [[String: Any]]) ?? []).contains { $0["id"] as? String == id })

            // The index is updated with the store: no resync wait.
            let chat = #"{"model":"gpt-4o-mini","messages":[]}"#
            #expect(try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: [("Authorization", "Bearer \(secret)")], body: chat).status == 200)
            // The key is limited to gpt-*: another model is refused in the dialect's shape.
            let other = try await TestHTTP.send(
                .POST, "\(gateway.url)/v1/messages", headers: [("x-api-key", secret), ("anthropic-version", "2023-06-01")],
                body: #"{"model":"claude-3-5-haiku","max_tokens":5,"messages":[]}"#)
            #expect(other.status == 403 && other.body.contains("permission_error") && other.body.contains("gpt-*"))
            let revoked = try await TestHTTP.send(.DELETE, "\(gateway.url)/api/keys/\(id)", headers: session)
            #expect(revoked.status == 200 && revoked.json["success"] as? Bool == true)
            #expect(try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: [("Authorization", "Bearer \(secret)")], body: chat).status == 401)
            #expect(try await TestHTTP.send(.DELETE, "\(gateway.url)/api/keys/key_nope", headers: session).status == 404)
            let after = try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: session)
            #expect(((after.json["keys"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == id }?["status"] as? String == "revoked")
        }
    }

    @Test("keys carry concurrency and a token or money budget per period; bad limits are refused naming the field; cost is summed per key and owner")
    func keyLimits() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, _ in
            let session = [("Cookie", try await Self.signIn(gateway))]
            for (body, mentions) in [
                (#"{"username":"alice","limits":{"concurrency":0}}"#, "limits.concurrency"),
                (#"{"username":"alice","limits":{"costBudget":-1}}"#, "limits.costBudget"),
                (#"{"username":"alice","limits":{"costBudget":true}}"#, "limits.costBudget"),
                (#"{"username":"alice","limits":{"budgetPeriod":"week","tokenBudget":5}}"#, "limits.budgetPeriod"),
                (#"{"username":"alice","limits":{"budgetPeriod":"day"}}"#, "needs limits.tokenBudget"),
            ] {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/api/keys", headers: session, body: body)
                #expect(response.status == 400 && (response.json["error"] as? String)?.contains(mentions) == true, "\(body) → \(response.body)")
            }
            let created = try await TestHTTP.send(
                .POST, "\(gateway.url)/api/keys", headers: session,
                body: #"{"username":"alice","limits":{"concurrency":2,"costBudget":1.5,"tokenBudget":100000,"budgetPeriod":"day","tokensPerMinute":9000}}"#)
            #expect(created.status == 201)
            let key = created.json["key"] as? [String: Any] ?? [:]
            let secret = key["key"] as? String ?? ""
            let listed = try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: session)
            let limits = ((listed.json["keys"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == key["id"] as? String }?["limits"] as? [String: Any]
            #expect(limits?["concurrency"] as? Int == 2 && limits?["costBudget"] as? Double == 1.5 && limits?["budgetPeriod"] as? String == "day")
            // The limits hold from the next request (the index is updated with the store).
            let chat = #"{"model":"gpt-4o-mini","messages":[]}"#
            let answer = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: [("Authorization", "Bearer \(secret)")], body: chat)
            #expect(answer.status == 200 && answer.headers["x-ratelimit-limit-tokens"].first == "9000")
            // Its cost reaches the summaries per key and per owner (gpt-4o-mini has a built-in price).
            var cost = 0.0
            for _ in 0..<40 where cost == 0 {
                let summary = try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/summary?groupBy=owner", headers: session)
                cost = ((summary.json["summary"] as? [[String: Any]]) ?? []).first { $0["group"] as? String == "alice" }?["costUsd"] as? Double ?? 0
                if cost == 0 { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(cost > 0)
            let csv = try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/export.csv", headers: session)
            #expect(csv.body.hasPrefix("request_id,") && csv.body.split(separator: "\n").first?.hasSuffix(",cost_usd") == true)
        }
    }

    @Test("analytics: per-key records with startTime/endTime (null on failure), summaries, CSV; upstreams")
    func analytics() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, _ in
            let session = [("Cookie", try await Self.signIn(gateway))]
            let created = try await TestHTTP.send(.POST, "\(gateway.url)/api/keys", headers: session, body: #"{"username":"bob"}"#)
            let key = created.json["key"] as? [String: Any] ?? [:]
            let secret = key["key"] as? String ?? "", id = key["id"] as? String ?? ""
            let auth = [("Authorization", "Bearer \(secret)")]
            for _ in 0..<3 { _ = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#) }
            #expect(try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: auth, body: #"{"model":"fail-500","messages":[]}"#).status == 500)

            // Events reach the store within a second or two (batched writer).
            var records: [[String: Any]] = []
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                let response = try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/\(id)", headers: session)
                records = response.json["records"] as? [[String: Any]] ?? []
                if records.count >= 4 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(records.count == 4)
            let ok = records.filter { $0["status"] as? Int == 200 }
            #expect(ok.count == 3 && ok.allSatisfy { $0["endTime"] is Int && $0["startTime"] is Int && $0["totalTokens"] as? Int == 8 })
            let failed = records.first { $0["status"] as? Int == 500 }
            #expect(failed?["endTime"] is NSNull && failed?["success"] as? Bool == false)

            let summary = try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/summary?groupBy=model&keyId=\(id)", headers: session)
            let rows = summary.json["summary"] as? [[String: Any]] ?? []
            #expect(rows.first { $0["group"] as? String == "gpt-4o-mini" }?["requests"] as? Int == 3)
            #expect((summary.json["totals"] as? [String: Any])?["failures"] as? Int == 1)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/summary?groupBy=colour", headers: session).status == 400)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/\(id)?startDate=soon", headers: session).status == 400)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/\(id)?startDate=2030-01-02&endDate=2030-01-01", headers: session).status == 400)
            let past = try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/\(id)?startDate=2020-01-01&endDate=2020-01-02", headers: session)
            #expect((past.json["records"] as? [Any])?.isEmpty == true)

            let csv = try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/export.csv?keyId=\(id)", headers: session)
            #expect(csv.status == 200 && (csv.headers.first(name: "content-type") ?? "").hasPrefix("text/csv"))
            let lines = csv.body.split(separator: "\n")
            #expect(lines.first?.hasPrefix("request_id,key_id,username,start_ms") == true && lines.count == 5)

            let upstreams = try await TestHTTP.send(.GET, "\(gateway.url)/api/upstreams", headers: session)
            let list = (upstreams.json["upstreams"] as? [[String: Any]]) ?? []
            #expect(upstreams.status == 200 && list.count == 3)
            // The provider that answered has a measured latency.
            let oa = (list.first { $0["name"] as? String == "oa" }?["endpoints"] as? [[String: Any]])?.first
            #expect(oa?["latency_ms"] is Double && oa?["healthy"] as? Bool == true)
        }
    }

    @Test("admin routes outside the CIDR list get 403 before any sign-in; CORS only for listed origins")
    func cidrAndCORS() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!, admin: "  allow_cidrs: [10.0.0.0/8]") }) { gateway, _ in
            let refused = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"\#(Self.password)"}"#)
            #expect(refused.status == 403 && refused.json["success"] as? Bool == false)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/admin").status == 403)
            // The proxy itself is not affected.
            #expect(try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"gpt-4o-mini","messages":[]}"#).status == 200)
        }
        try await withGateway(yaml: { Self.yaml($0["primary"]!, admin: "  allow_cidrs: [127.0.0.0/8, \"::1/128\"]\n  cors_origins: [\"https://ops.example\"]") }) { gateway, _ in
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/admin").status == 200)
            let preflight = try await TestHTTP.send(.OPTIONS, "\(gateway.url)/api/keys", headers: [("Origin", "https://ops.example"), ("Access-Control-Request-Method", "POST")])
            #expect(preflight.status == 204)
            #expect(preflight.headers.first(name: "access-control-allow-origin") == "https://ops.example")
            #expect(preflight.headers.first(name: "access-control-allow-credentials") == "true")
            let other = try await TestHTTP.send(.OPTIONS, "\(gateway.url)/api/keys", headers: [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")])
            #expect(other.status == 403 && other.headers.first(name: "access-control-allow-origin") == nil)
        }
    }

    @Test("POST /api/config/reload applies a valid file and refuses an invalid one with its problems")
    func reload() async throws {
        let upstream = MockUpstream(name: "primary", requiredKey: "upstream-key-primary")
        try await upstream.start()
        let yaml = Self.yaml(upstream) + "\ndiscovery:\n  local_engines: false\n"
        let file = try TempFile(yaml)
        let gateway = try await GatewayHarness.start(yaml: yaml, configPath: file.path)
        let session = [("Cookie", try await Self.signIn(gateway))]
        try file.replace(with: yaml + "routing:\n  aliases: {fast: gpt-4o-mini}\n")
        let applied = try await TestHTTP.send(.POST, "\(gateway.url)/api/config/reload", headers: session)
        #expect(applied.status == 200, "\(applied.body)")
        #expect(try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: #"{"model":"fast","messages":[]}"#).status == 200)
        try file.replace(with: "server:\n  port: -5\n")
        let refused = try await TestHTTP.send(.POST, "\(gateway.url)/api/config/reload", headers: session)
        #expect(refused.status == 422 && ((refused.json["problems"] as? [String]) ?? []).contains { $0.contains("server.port") })
        await gateway.stop()
        await upstream.stop()
        file.remove()
    }

    @Test("without configured credentials the first start generates a password, prints it once, and a restart keeps it")
    func generatedPassword() async throws {
        let path = NSTemporaryDirectory() + "llmproxy-admin-\(UUID().uuidString)/llmproxy.sqlite"
        let config = try TempFile("providers: [{name: m, type: mock}]\ndatabase: {path: \(path)}\n")
        let first = try await GatewayProcess.launch(config: config.path)
        let printed = first.log.components(separatedBy: "generated password").count - 1
        #expect(printed == 1)
        let password = first.log.components(separatedBy: "generated password")[1].split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init) ?? ""
        #expect(password.count == 24)
        // The password is never in the JSON log lines.
        #expect(!first.log.split(separator: "\n").contains { $0.hasPrefix("{") && $0.contains(password) })
        let login = try await TestHTTP.send(.POST, "\(first.url)/auth/login", body: #"{"username":"admin","password":"\#(password)"}"#)
        #expect(login.status == 200)
        first.signal(SIGTERM)
        _ = await first.waitForExit(timeout: .seconds(10))

        let second = try await GatewayProcess.launch(config: config.path)
        #expect(!second.log.contains("generated password"))
        #expect(try await TestHTTP.send(.POST, "\(second.url)/auth/login", body: #"{"username":"admin","password":"\#(password)"}"#).status == 200)
        #expect(try await TestHTTP.send(.POST, "\(second.url)/auth/login", body: #"{"username":"admin","password":"admin"}"#).status == 401)
        second.signal(SIGTERM)
        _ = await second.waitForExit(timeout: .seconds(10))
        config.remove()
    }

    // MARK: issue 8

    @Test("hostile numbers get 400 naming the allowed range, and the gateway keeps answering (issue 8.4)")
    func hostileNumbers() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, _ in
            let session = [("Cookie", try await Self.signIn(gateway))]
            let queries = [
                "summary?endDate=-9223372036854775808", "summary?startDate=9223372036854775807", "summary?startDate=-1",
                "summary?endDate=99999999999999999999", "all?startDate=-9223372036854775808&endDate=-9223372036854775807",
                "all?endDate=10000-01-01", "export.csv?startDate=-9223372036854775808", "export.csv?endDate=253402300800001",
            ]
            for query in queries {
                let response = try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/\(query)", headers: session)
                #expect(response.status == 400, "\(query)")
                #expect((response.json["error"] as? String)?.contains("9999-12-31") == true, "\(query) → \(response.body)")
            }
            let bodies: [(String, String)] = [
                (#"{"username":"alice","expiresIn":"999999999999999d"}"#, "100 years"),
                (#"{"username":"alice","expiresIn":"9223372036854775807s"}"#, "100 years"),
                (#"{"username":"alice","expiresIn":"36501d"}"#, "100 years"),
                (#"{"username":"alice","expiresIn":"-5d"}"#, "expiresIn"),
                (#"{"username":"alice","expiresAt":-9223372036854775808}"#, "9999-12-31"),
                (#"{"username":"alice","expiresAt":9223372036854775807}"#, "9999-12-31"),
                (#"{"username":"alice","expiresAt":1e300}"#, "9999-12-31"),
                (#"{"username":"alice","expiresAt":18446744073709551615}"#, "9999-12-31"),
                (#"{"username":"alice","expiresAt":253402300799999}"#, "100 years"),
                (#"{"username":"alice","expiresAt":"+275760-09-13T00:00:00Z"}"#, "expiresAt"),
                (#"{"username":"alice","limits":{"requestsPerMinute":1e30}}"#, "1000000000"),
                (#"{"username":"alice","limits":{"requestsPerMinute":9223372036854775807}}"#, "1000000000"),
                (#"{"username":"alice","limits":{"tokensPerMinute":1.5}}"#, "whole number"),
                (#"{"username":"alice","limits":{"tokenBudget":-9223372036854775808}}"#, "tokenBudget"),
                (#"{"username":"alice","limits":{"tokenBudget":1e400}}"#, ""),
            ]
            for (body, mentions) in bodies {
                let response = try await TestHTTP.send(.POST, "\(gateway.url)/api/keys", headers: session, body: body)
                #expect(response.status == 400, "\(body)")
                #expect(mentions.isEmpty || (response.json["error"] as? String)?.contains(mentions) == true, "\(body) → \(response.body)")
            }
            // Nesting as deep as the body limit allows, before and after sign-in.
            let deep = String(repeating: "[", count: 1_000_000)
            #expect(try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: deep).status == 400)
            #expect(try await TestHTTP.send(.POST, "\(gateway.url)/api/keys", headers: session, body: String(repeating: #"{"a":"#, count: 200_000)).status == 400)
            // Still alive, and the edges of the ranges are accepted.
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: session).status == 200)
            let longest = try await TestHTTP.send(
                .POST, "\(gateway.url)/api/keys", headers: session,
                body: #"{"username":"alice","expiresIn":"36500d","limits":{"requestsPerMinute":1000000000,"tokenBudget":1000000000000000}}"#)
            #expect(longest.status == 201, "\(longest.body)")
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/summary?startDate=0&endDate=253402300799999", headers: session).status == 200)
        }
    }

    @Test("cookie requests from another origin or site are refused; bodies must be JSON; Bearer and same-origin pass (issue 8.5)")
    func crossSite() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!, admin: "  cors_origins: [\"https://ops.example\", \"*\"]") }) { gateway, _ in
            let login = #"{"username":"root","password":"\#(Self.password)"}"#
            for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
                let refused = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", headers: [("Content-Type", type)], body: login)
                #expect(refused.status == 415 && refused.json["success"] as? Bool == false, "\(type)")
                #expect(refused.headers.first(name: "set-cookie") == nil)
            }
            let cookie = try await Self.signIn(gateway)
            let key = #"{"username":"alice"}"#
            func create(_ headers: [(String, String)]) async throws -> TestResponse {
                try await TestHTTP.send(.POST, "\(gateway.url)/api/keys", headers: headers, body: key)
            }
            // A text/plain body (what a cross-site form or no-preflight fetch can send).
            #expect(try await create([("Cookie", cookie), ("Content-Type", "text/plain")]).status == 415)
            // Another origin: another site, another port of this host, an unlisted origin with "*" configured.
            for origin in ["https://evil.example", "http://127.0.0.1:1", "null", "http://localhost:\(gateway.port)"] {
                let refused = try await create([("Cookie", cookie), ("Origin", origin)])
                #expect(refused.status == 403 && refused.json["success"] as? Bool == false, "\(origin)")
                #expect((refused.json["error"] as? String)?.contains("cors_origins") == true)
            }
            #expect(try await TestHTTP.send(.DELETE, "\(gateway.url)/api/keys/key_nope", headers: [("Cookie", cookie), ("Origin", "https://evil.example")]).status == 403)
            #expect(try await TestHTTP.send(.POST, "\(gateway.url)/api/config/reload", headers: [("Cookie", cookie), ("Sec-Fetch-Site", "same-site")]).status == 403)
            #expect(try await create([("Cookie", cookie), ("Sec-Fetch-Site", "cross-site")]).status == 403)
            // A cross-site logout neither ends the session nor clears the cookie.
            #expect(try await TestHTTP.send(.POST, "\(gateway.url)/auth/logout", headers: [("Cookie", cookie), ("Origin", "https://evil.example")]).status == 403)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Cookie", cookie)]).status == 200)

            // Allowed: the interface's own origin (as the web UI sends it), a listed origin, no
            // browser headers at all (curl), and Bearer tokens from anywhere.
            #expect(try await create([("Cookie", cookie), ("Origin", gateway.url), ("Sec-Fetch-Site", "same-origin")]).status == 201)
            #expect(try await create([("Cookie", cookie), ("Origin", "https://ops.example"), ("Sec-Fetch-Site", "cross-site")]).status == 201)
            #expect(try await create([("Cookie", cookie)]).status == 201)
            let token = try await TestHTTP.send(.POST, "\(gateway.url)/auth/token", body: login).json["token"] as? String ?? ""
            #expect(try await create([("Authorization", "Bearer \(token)"), ("Origin", "https://evil.example")]).status == 201)
            // Reads are not state changes: GET with a foreign Origin still answers.
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Cookie", cookie), ("Origin", "https://evil.example")]).status == 200)
        }
    }

    @Test("20 concurrent wrong passwords from one address: at most 5 are checked, the rest get 429 with Retry-After (issue 8.6)")
    func concurrentGuesses() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, _ in
            let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for index in 0..<20 {
                    group.addTask { try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"guess-\#(index)"}"#) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let checked = responses.filter { $0.status == 401 }.count
            let refused = responses.filter { $0.status == 429 }
            #expect(checked <= 5 && checked >= 1)
            #expect(checked + refused.count == 20)
            #expect(refused.allSatisfy { Int($0.headers.first(name: "retry-after") ?? "") ?? 0 > 0 })
            // Attempts turned away while all checking slots were busy were never checked and do
            // not count: use up the rest, then even the right password is refused.
            for _ in checked..<5 {
                #expect(try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"guess"}"#).status == 401)
            }
            let blocked = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"\#(Self.password)"}"#)
            #expect(blocked.status == 429)
        }
    }

    @Test("logout ends every session of the admin, Bearer tokens included (issue 8.13)")
    func logoutRevokes() async throws {
        try await withGateway(yaml: { Self.yaml($0["primary"]!) }) { gateway, _ in
            let cookie = try await Self.signIn(gateway)
            let login = #"{"username":"root","password":"\#(Self.password)"}"#
            let token = try await TestHTTP.send(.POST, "\(gateway.url)/auth/token", body: login).json["token"] as? String ?? ""
            let bearer = [("Authorization", "Bearer \(token)")]
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: bearer).status == 200)
            let logout = try await TestHTTP.send(.POST, "\(gateway.url)/auth/logout", headers: [("Cookie", cookie)])
            #expect(logout.status == 200 && (logout.headers.first(name: "set-cookie") ?? "").contains("Max-Age=0"))
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: bearer).status == 401)
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Cookie", cookie)]).status == 401)
            // A token minted by an existing session after logout would be refused too; a new sign-in works.
            #expect(try await TestHTTP.send(.POST, "\(gateway.url)/auth/token", headers: bearer).status == 401)
            let again = try await TestHTTP.send(.POST, "\(gateway.url)/auth/token", body: login).json["token"] as? String ?? ""
            #expect(try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Authorization", "Bearer \(again)")]).status == 200)
        }
    }

    @Test("a token for another user name, or issued before the admin password changed, is refused (issue 8.13)")
    func sessionsFollowTheAccount() async throws {
        let secret = "jwt-secret-shared-by-both-gateways-0123456789"
        let path = NSTemporaryDirectory() + "llmproxy-admin-\(UUID().uuidString)/llmproxy.sqlite"
        let upstream = MockUpstream(name: "primary", requiredKey: "upstream-key-primary")
        try await upstream.start()
        func start(username: String = "root", password: String = Self.password, database: String = path) async throws -> GatewayHarness {
            try await GatewayHarness.start(yaml: Self.yaml(upstream, admin: "  jwt_secret: \(secret)", username: username, password: password, database: database))
        }
        func token(_ gateway: GatewayHarness, username: String = "root", password: String = Self.password) async throws -> String {
            try await TestHTTP.send(.POST, "\(gateway.url)/auth/token", body: #"{"username":"\#(username)","password":"\#(password)"}"#).json["token"] as? String ?? ""
        }
        func works(_ gateway: GatewayHarness, _ token: String) async throws -> Bool {
            try await TestHTTP.send(.GET, "\(gateway.url)/api/keys", headers: [("Authorization", "Bearer \(token)")]).status == 200
        }
        let first = try await start()
        let rootToken = try await token(first)
        #expect(try await works(first, rootToken))
        await first.stop()
        // Same account after a restart: the session survives.
        let same = try await start()
        #expect(try await works(same, rootToken))
        await same.stop()
        // Another gateway signing with the same secret, another admin: the token names root.
        let other = try await start(username: "operator", database: NSTemporaryDirectory() + "llmproxy-admin-\(UUID().uuidString)/llmproxy.sqlite")
        #expect(try await !works(other, rootToken))
        #expect(try await works(other, try await token(other, username: "operator")))
        await other.stop()
        // The password changed across a restart: every earlier session ends.
        let changed = try await start(password: "another long password")
        #expect(try await !works(changed, rootToken))
        #expect(try await works(changed, try await token(changed, password: "another long password")))
        await changed.stop()
        await upstream.stop()
    }

    @Test("the CSV export streams every event of a range larger than one page (issue 8.7)")
    func largeExport() async throws {
        let path = NSTemporaryDirectory() + "llmproxy-admin-\(UUID().uuidString)/llmproxy.sqlite"
        let store = try await Store.openSQLite(path: path, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let now = WallClock.nowMs()
        let events = (0..<2345).map { index in
            RequestEvent(
                requestID: "r\(index)", keyID: "key_1", username: "alice", startMs: now - 60_000 + Int64(index), endMs: now, status: 200, success: true,
                model: index == 7 ? "=cmd()" : "gpt-4o", route: "model", upstream: "oa#0", dialect: "openai", stream: false, ttfbMs: nil,
                promptTokens: 1, completionTokens: 2, totalTokens: 3, bytesIn: 1, bytesOut: 2, errorCode: nil)
        }
        try await store.insertEvents(events)
        await store.close()
        try await withGateway(yaml: { Self.yaml($0["primary"]!, database: path) }) { gateway, _ in
            let session = [("Cookie", try await Self.signIn(gateway))]
            let csv = try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/export.csv?keyId=key_1", headers: session)
            #expect(csv.status == 200 && csv.headers.first(name: "content-length") == nil)
            let lines = csv.body.split(separator: "\n")
            #expect(lines.count == 2346)
            #expect(Set(lines.dropFirst().map { $0.split(separator: ",")[0] }).count == 2345)
            #expect(lines.contains { $0.contains("'=cmd()") })
            let summary = try await TestHTTP.send(.GET, "\(gateway.url)/api/analytics/summary?groupBy=none&keyId=key_1", headers: session)
            #expect((summary.json["totals"] as? [String: Any])?["requests"] as? Int == 2345)
            #expect((summary.json["totals"] as? [String: Any])?["totalTokens"] as? Int == 3 * 2345)
        }
    }
}
