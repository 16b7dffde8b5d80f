import Foundation
import NIOHTTP1
import PostgresHarness
import Testing

/// The automatic block list end to end: detectors fed by real requests, blocks in the store,
/// listed by the admin API, lifted from the CLI; and normal traffic from the official SDKs,
/// curl and python-requests that must never be blocked.
@Suite("Intrusion detection and the automatic block list")
struct ThreatTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let password = "correct horse battery staple"

    static func config(_ path: String, extra: String = "") -> String {
        """
        auth: {keys: ["\(Configs.clientKey)"]}
        providers:
          - {name: m, type: mock, models: ["m1", "claude-*", "gemini-*"], mock: {chunks: 3, chunk_delay_ms: 1}}
        admin: {username: root, password: "\(password)"}
        database: {path: \(path)}
        \(extra)
        """
    }

    static func cli(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = GatewayProcess.binary
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("an attack corpus trips the detectors and ends in a block (403 ip_blocked in the route's dialect), visible in the admin API and lifted from the CLI")
    func attackCorpus() async throws {
        let path = NSTemporaryDirectory() + "llmproxy-threats-\(UUID().uuidString)/llmproxy.sqlite"
        let config = try TempFile(Self.config(path))
        defer { config.remove() }
        let gateway = try await GatewayProcess.launch(config: config.path)
        let url = gateway.url
        let chat = #"{"model":"m1","messages":[]}"#
        #expect(try await TestHTTP.send(.POST, "\(url)/v1/chat/completions", headers: Configs.auth, body: chat).status == 200)

        let probes: [(HTTPMethodName, String, [(String, String)])] = [
            (.GET, "/.env", []), (.GET, "/.git/config", []), (.GET, "/wp-admin/setup-config.php", []), (.GET, "/wp-login.php", []),
            (.GET, "/phpmyadmin/index.php", []), (.GET, "/cgi-bin/luci", []), (.GET, "/actuator/env", []), (.GET, "/vendor/phpunit/eval-stdin.php", []),
            (.GET, "/v1/chat/completions?id=1%27%20or%201%3D1--", []), (.GET, "/v1/models?q=%3Cscript%3Ealert(1)%3C/script%3E", []),
            (.GET, "/v1/%2e%2e/%2e%2e/etc/passwd", []), (.GET, "/v1/..%252f..%252fetc%252fpasswd", []), (.GET, "/index.php?page=../../etc/passwd", []),
            (.POST, "/v1/chat/completions", [("User-Agent", "sqlmap/1.7.2#stable (https://sqlmap.org)")]),
            (.POST, "/v1/messages", [("User-Agent", "Mozilla/5.00 (Nikto/2.5.0)")]), (.GET, "/", [("User-Agent", "Nuclei - Open-source project")]),
            (.GET, "/.aws/credentials", []), (.GET, "/server-status", []), (.GET, "/xmlrpc.php", []), (.GET, "/admin.php", []),
            (.GET, "/.DS_Store", []), (.GET, "/console/login", []),
        ]
        for (method, target, headers) in probes {
            let response = try await TestHTTP.send(method.nio, url + target, headers: headers, body: method == .POST ? chat : nil)
            #expect(response.status >= 400, "\(target)")
        }
        // Twenty-odd probes within seconds: the address is blocked, even with a valid key.
        let blocked = try await TestHTTP.send(.POST, "\(url)/v1/chat/completions", headers: Configs.auth, body: chat)
        #expect(blocked.status == 403)
        #expect((blocked.json["error"] as? [String: Any])?["code"] as? String == "ip_blocked")
        let anthropic = try await TestHTTP.send(
            .POST, "\(url)/v1/messages", headers: [("x-api-key", Configs.clientKey), ("anthropic-version", "2023-06-01")],
            body: #"{"model":"claude-x","max_tokens":5,"messages":[]}"#)
        #expect(anthropic.status == 403 && anthropic.json["type"] as? String == "error")
        // Health and admin still answer (the operator must be able to look and lift).
        #expect(try await TestHTTP.send(.GET, "\(url)/health").status == 200)

        let login = try await TestHTTP.send(.POST, "\(url)/auth/login", body: #"{"username":"root","password":"\#(Self.password)"}"#)
        let cookie = String((login.headers.first(name: "set-cookie") ?? "").split(separator: ";").first ?? "")
        // The block reaches the store within the sync interval.
        var listed: [[String: Any]] = []
        for _ in 0..<40 where listed.isEmpty {
            let list = try await TestHTTP.send(.GET, "\(url)/api/blocks", headers: [("Cookie", cookie)])
            listed = (list.json["blocks"] as? [[String: Any]] ?? []).filter { $0["address"] as? String == "127.0.0.1" }
            if listed.isEmpty { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect((listed.first?["reason"] as? String)?.hasPrefix("intrusion_") == true)

        let list = try Self.cli(["blocks", "list", "-c", config.path])
        #expect(list.status == 0 && list.output.contains("127.0.0.1"), "\(list.output)")
        let lift = try Self.cli(["blocks", "lift", "127.0.0.1", "-c", config.path])
        #expect(lift.status == 0, "\(lift.output)")
        var open = false
        for _ in 0..<40 where !open {
            open = try await TestHTTP.send(.POST, "\(url)/v1/chat/completions", headers: Configs.auth, body: chat).status == 200
            if !open { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(open, "the lifted block still holds")
        #expect(try Self.cli(["blocks", "lift", "127.0.0.1", "-c", config.path]).status != 0)
        gateway.signal(SIGTERM)
        _ = await gateway.waitForExit(timeout: .seconds(10))
    }

    @Test("a handful of wrong keys never blocks; dozens within minutes do; exempt networks never; the admin API lifts a block at once")
    func authFailures() async throws {
        let path = NSTemporaryDirectory() + "llmproxy-threats-\(UUID().uuidString)/llmproxy.sqlite"
        let gateway = try await GatewayHarness.start(yaml: Self.config(path))
        let chat = #"{"model":"m1","messages":[]}"#
        func wrong() async throws -> Int {
            try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: [("Authorization", "Bearer wrong-key")], body: chat).status
        }
        for _ in 0..<15 { #expect(try await wrong() == 401) }
        #expect(try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: chat).status == 200)
        var statuses: [Int] = []
        for _ in 0..<45 { statuses.append(try await wrong()) }
        #expect(statuses.contains(403), "fifty-odd failures within seconds must block")
        #expect(try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: chat).status == 403)

        let login = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"root","password":"\#(Self.password)"}"#)
        let cookie = String((login.headers.first(name: "set-cookie") ?? "").split(separator: ";").first ?? "")
        let lifted = try await TestHTTP.send(.DELETE, "\(gateway.url)/api/blocks/127.0.0.1", headers: [("Cookie", cookie)])
        #expect(lifted.status == 200, "\(lifted.body)")
        #expect(try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: Configs.auth, body: chat).status == 200)
        await gateway.stop()

        let exemptPath = NSTemporaryDirectory() + "llmproxy-threats-\(UUID().uuidString)/llmproxy.sqlite"
        let exempt = try await GatewayHarness.start(yaml: Self.config(exemptPath, extra: "security: {auto_block: {exempt: [127.0.0.0/8, \"::1\"]}}"))
        for _ in 0..<80 {
            #expect(try await TestHTTP.send(.POST, "\(exempt.url)/v1/chat/completions", headers: [("Authorization", "Bearer wrong-key")], body: chat).status == 401)
        }
        #expect(try await TestHTTP.send(.POST, "\(exempt.url)/v1/chat/completions", headers: Configs.auth, body: chat).status == 200)
        await exempt.stop()
    }

    @Test("thousands of requests from the official SDKs, curl and python-requests at a normal pace are never blocked")
    func normalTrafficIsNeverBlocked() async throws {
        let path = NSTemporaryDirectory() + "llmproxy-threats-\(UUID().uuidString)/llmproxy.sqlite"
        let gateway = try await GatewayHarness.start(yaml: Self.config(path))
        let script = Self.root.appendingPathComponent("Tests/Traffic/normal_clients.py").path
        let url = gateway.url
        // The script exits non-zero, listing what went wrong, if any request was refused.
        do {
            try await PostgresServer.runAside("/usr/bin/env", ["python3", script, url, Configs.clientKey, "300"])
        } catch {
            Issue.record("normal traffic was refused: \(error)")
        }
        await gateway.stop()
    }
}

enum HTTPMethodName {
    case GET, POST

    var nio: NIOHTTP1.HTTPMethod { self == .GET ? .GET : .POST }
}
