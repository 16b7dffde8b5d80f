import Foundation
import Logging
import ProxyConfig
import Store
import Testing

@Suite("Command line")
struct CLITests {
    func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = GatewayProcess.binary
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe(), stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test("start on a port another process holds: exit 1 with the port named and how to change it, at once (no trap on a spinning service)")
    func portTaken() throws {
        let taken = try RefusingPort()
        let config = try TempFile("providers:\n  - {name: m, type: mock}\n")
        defer { config.remove() }
        let started = ContinuousClock.now
        let result = try run(
            ["start", "-c", config.path, "--port", String(taken.port)],
            environment: ["LLMPROXY_DATABASE_PATH": NSTemporaryDirectory() + "llmproxy-test-\(UUID().uuidString).sqlite", "LLMPROXY_DISCOVERY": "false"])
        #expect(result.status == 1, "\(result.stderr.suffix(1500))")
        #expect(result.stderr.contains("already in use (server.port \(taken.port)"), "\(result.stderr.suffix(1500))")
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test("hash-password prints a bcrypt hash of the password on stdin; a gateway configured with it signs the admin in; bad hashes are config errors")
    func hashPassword() async throws {
        let hashed = try run(["hash-password"], input: "correct horse battery\n")
        #expect(hashed.status == 0, "\(hashed.stderr)")
        let hash = hashed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash.hasPrefix("$2") && hash.dropFirst(3).hasPrefix("$11$") && hash.count == 60, "\(hash)")
        #expect(!hashed.stdout.contains("correct horse"))
        #expect(try run(["hash-password"], input: "").status != 0)
        #expect(try run(["hash-password"], input: "short\n").stderr.contains("at least 8"))

        let gateway = try await GatewayHarness.start(yaml: "admin: {password_hash: \"\(hash)\"}\nproviders:\n  - {name: m, type: mock, models: [m1]}")
        let signedIn = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"admin","password":"correct horse battery"}"#)
        #expect(signedIn.status == 200, "\(signedIn.body)")
        let wrong = try await TestHTTP.send(.POST, "\(gateway.url)/auth/login", body: #"{"username":"admin","password":"correct horse batter"}"#)
        #expect(wrong.status == 401)
        await gateway.stop()
        // PHP's and htpasswd's `$2y$` name for the same hash signs in as well.
        let y = try await GatewayHarness.start(yaml: "admin: {password_hash: \"$2y$\(hash.dropFirst(4))\"}\nproviders:\n  - {name: m, type: mock, models: [m1]}")
        let signedInY = try await TestHTTP.send(.POST, "\(y.url)/auth/login", body: #"{"username":"admin","password":"correct horse battery"}"#)
        #expect(signedInY.status == 200, "\(signedInY.body)")
        await y.stop()

        let bad = try TempFile("admin: {password_hash: \"not-a-hash\"}\n")
        let checked = try run(["config", "check", "-c", bad.path])
        #expect(checked.status != 0)
        #expect(checked.stderr.contains("admin.password_hash") && checked.stderr.contains("llm-proxy hash-password"), "\(checked.stderr)")
        let both = try TempFile("admin: {username: root, password: \"long enough\", password_hash: \"\(hash)\"}\n")
        #expect(try run(["config", "check", "-c", both.path]).stderr.contains("keep one"))
        bad.remove()
        both.remove()
    }

    @Test("start --daemon: returns once the detached gateway wrote its pid file; it serves, refuses a second start, and SIGTERM stops it and removes the file")
    func daemon() async throws {
        let folder = NSTemporaryDirectory() + "llmproxy-daemon-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try TempFile(
            "server: {port: 0}\ndatabase: {path: \(folder)/db.sqlite}\ndiscovery: {local_engines: false}\nproviders:\n  - {name: m, type: mock, models: [m1]}\n")
        defer { config.remove() }
        let pidFile = folder + "/llm-proxy.pid", logFile = folder + "/llm-proxy.log"
        let started = try run(["start", "--daemon", "--pid-file", pidFile, "--log-file", logFile, "-c", config.path])
        #expect(started.status == 0, "\(started.stderr)")
        let text = (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""
        guard let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            Issue.record("no pid file after start --daemon: \(started.stdout) \(started.stderr)")
            return
        }
        // Whatever happens below, the daemon this test started does not outlive it.
        defer { if kill(pid, 0) == 0 { kill(pid, SIGKILL) } }
        #expect(started.stdout.contains("pid \(pid)"))
        // It serves, on the port its log names (the pid file comes before the listener; give it
        // a moment on a loaded machine).
        var health: TestResponse?
        let marker = #""address":"http://127.0.0.1:"#
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, health == nil {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            if let range = log.range(of: marker), let port = Int(log[range.upperBound...].prefix { $0.isNumber }) {
                health = try? await TestHTTP.send(.GET, "http://127.0.0.1:\(port)/health/live")
            }
            if health == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(health?.status == 200, "the daemon never answered; log: \((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "")")
        // A second start with the same pid file is refused while the first runs.
        let second = try run(["start", "--daemon", "--pid-file", pidFile, "-c", config.path])
        #expect(second.status != 0 && second.stderr.contains("already running"), "\(second.stderr)")
        #expect(try run(["start", "--daemon", "-c", config.path]).stderr.contains("--pid-file"))
        // SIGTERM: it drains, stops and removes its pid file.
        kill(pid, SIGTERM)
        let stopDeadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < stopDeadline, kill(pid, 0) == 0 || FileManager.default.fileExists(atPath: pidFile) {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(kill(pid, 0) != 0, "the daemon did not stop on SIGTERM")
        #expect(!FileManager.default.fileExists(atPath: pidFile), "the pid file was left behind")
        #expect(((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").contains("stopped"))
    }

    @Test("logs: text lines for a person at a terminal, JSON lines into a pipe, as logging.format auto decides")
    func logsForPeople() throws {
        let config = try TempFile("discovery: {local_engines: false}\ndatabase: {enabled: false}\nproviders:\n  - {name: m, type: mock, models: [m1]}\n")
        defer { config.remove() }
        // A pseudo-terminal made by Python's pty module; the script stops the gateway it started
        // (by its pid) once the listening line is out, or after 30 s.
        let script = """
            import os, pty, select, signal, sys, time
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(sys.argv[1], sys.argv[1:])
            out, deadline = b"", time.time() + 30
            while time.time() < deadline and b"] listening" not in out:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if ready:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    out += chunk
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
            sys.stdout.write(out.decode(errors="replace"))
            """
        let (_, text) = try Tool.run("/usr/bin/env", ["python3", "-c", script, GatewayProcess.binary.path, "start", "-c", config.path, "--port", "0"])
        let listening = text.split(whereSeparator: \.isNewline).first { $0.contains("] listening") }.map(String.init) ?? ""
        #expect(!listening.isEmpty, "no listening line at a terminal: \(text)")
        #expect(!listening.hasPrefix("{") && listening.contains(" INFO [llmproxy] listening"), "\(listening)")
        // Into a pipe the same start writes JSON (what GatewayProcess reads); asked for, text anywhere.
        #expect(LoggingConfigFormatProbe.resolved("auto", terminal: false) == "json" && LoggingConfigFormatProbe.resolved("auto", terminal: true) == "text")
        #expect(LoggingConfigFormatProbe.resolved("json", terminal: true) == "json" && LoggingConfigFormatProbe.resolved("text", terminal: false) == "text")
    }

    @Test("config check prints the effective configuration with secrets redacted and exits 0")
    func checkValid() throws {
        let file = try TempFile(
            """
            auth: {keys: [client-secret-value]}
            providers:
              - {name: oa, type: openai, api_key: sk-upstream-secret}
            """)
        defer { file.remove() }
        let result = try run(["config", "check", "-c", file.path], environment: ["GEMINI_API_KEY": "gemini-secret"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("configuration is valid"))
        #expect(result.stdout.contains("name: \"gemini\""))
        for secret in ["client-secret-value", "sk-upstream-secret", "gemini-secret"] { #expect(!result.stdout.contains(secret)) }
    }

    @Test("config check lists every problem and exits non-zero")
    func checkInvalid() throws {
        let file = try TempFile("server: {port: 99999}\nproviders: [{type: openai, weight: 0}, {type: nonsense}]\n")
        defer { file.remove() }
        let result = try run(["config", "check", "-c", file.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("server.port"))
        #expect(result.stderr.contains("providers[0].weight"))
        #expect(result.stderr.contains("providers[1].type"))
    }

    @Test("start refuses an invalid configuration with the reasons and a non-zero exit")
    func startInvalid() throws {
        let result = try run(["start", "--host", "0.0.0.0", "--port", "0"], environment: ["LLMPROXY_DISCOVERY": "false"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no client key is configured"))
    }

    @Test("tunnel: keygen prints a fresh 32-byte key; serve and client refuse a missing or bad key with the fix")
    func tunnelCommands() throws {
        let first = try run(["tunnel", "keygen"]), second = try run(["tunnel", "keygen"])
        let key = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(first.status == 0 && key.count == 64 && key.allSatisfy(\.isHexDigit))
        #expect(key != second.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let serve = try run(
            ["tunnel", "serve", "--port", "0"],
            environment: ["LLMPROXY_DISCOVERY": "false", "LLMPROXY_DATABASE_PATH": NSTemporaryDirectory() + "llmproxy-cli-\(UUID().uuidString).sqlite"])
        #expect(serve.status == 2)
        #expect(serve.stderr.contains("tunnel.key") && serve.stderr.contains("keygen"))
        let client = try run(["tunnel", "client", "--server", "127.0.0.1:1", "--key", "too-short"])
        #expect(client.status == 2)
        #expect(client.stderr.contains("32-byte"))
        #expect(!client.stderr.contains("too-short"))
    }

    @Test("--help names only the modes that work")
    func help() throws {
        let result = try run(["start", "--help"])
        for mode in ["local-http", "dev-selfsigned", "https", "https-acme", "packaged-ca", "--acme-directory", "--acme-ca-file"] {
            #expect(result.stdout.contains(mode))
        }
    }

    @Test("certs: status before and after a renewal, and install-ca prints this system's steps with the root's path")
    func certsCommands() throws {
        let folder = NSTemporaryDirectory() + "llmproxy-certs-cli-\(UUID().uuidString)"
        let environment = ["LLMPROXY_DATABASE_PATH": folder + "/llmproxy.sqlite", "LLMPROXY_TLS_MODE": "packaged-ca"]
        let none = try run(["certs", "status"], environment: environment)
        #expect(none.status == 0 && none.stdout.contains("no certificate yet"), "\(none)")
        let renewed = try run(["certs", "renew"], environment: environment)
        #expect(renewed.status == 0 && renewed.stdout.contains("renewed"), "\(renewed)")
        let status = try run(["certs", "status"], environment: environment)
        #expect(status.stdout.contains("names        localhost, 127.0.0.1, ::1"))
        #expect(status.stdout.contains("issuer       CN=LLMProxy local root CA"))
        let steps = try run(["certs", "install-ca", "--print"], environment: environment)
        #expect(steps.status == 0)
        #expect(steps.stdout.contains(folder + "/tls/ca/root.pem"))
        #expect(steps.stdout.contains("update-ca-certificates") || steps.stdout.contains("update-ca-trust") || steps.stdout.contains("add-trusted-cert"))
        let https = try run(["certs", "renew", "--mode", "dev-selfsigned"], environment: environment)
        #expect(https.status == 0)
    }

    @Test("keys create, list and revoke against the configured store; the key is printed once and works")
    func keysCommands() async throws {
        let path = NSTemporaryDirectory() + "llmproxy-cli-\(UUID().uuidString)/llmproxy.sqlite"
        let config = try TempFile("providers: [{name: m, type: mock}]\ndatabase: {path: \(path)}\n")
        defer { config.remove() }
        let bad = try run(["keys", "create", "-c", config.path, "--user", "x"])
        #expect(bad.status != 0 && bad.stderr.contains("--user"))
        let badExpiry = try run(["keys", "create", "-c", config.path, "--user", "alice", "--expires", "soon"])
        #expect(badExpiry.status != 0 && badExpiry.stderr.contains("--expires"))

        let created = try run(["keys", "create", "-c", config.path, "--user", "alice", "--name", "cli", "--expires", "30d", "--models", "gpt-4o, claude-*"])
        #expect(created.status == 0)
        let lines = created.stdout.split(separator: "\n").map(String.init)
        let secret = lines.first { $0.hasPrefix("sk-") } ?? ""
        let id = lines.first.flatMap { $0.split(separator: " ").dropFirst().first.map(String.init) } ?? ""
        #expect(secret.count == 67 && id.hasPrefix("key_"))
        #expect(created.stderr.contains("only time"))

        let badLimit = try run(["keys", "create", "-c", config.path, "--user", "alice", "--budget-period", "day"])
        #expect(badLimit.status != 0 && badLimit.stderr.contains("--budget-period needs --token-budget or --cost-budget"))
        let limited = try run([
            "keys", "create", "-c", config.path, "--user", "bob", "--rpm", "60", "--tpm", "50000", "--concurrency", "2", "--token-budget", "1000000",
            "--cost-budget", "12.5", "--budget-period", "month",
        ])
        #expect(limited.status == 0, "\(limited.stderr)")
        let store = try await Store.openSQLite(path: path, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let bob = try await store.keys().first { $0.username == "bob" }
        await store.close()
        #expect(
            bob?.limits
                == KeyLimits(requestsPerMinute: 60, tokensPerMinute: 50000, tokenBudget: 1_000_000, concurrency: 2, costBudget: 12.5, budgetPeriod: "month"))

        let listed = try run(["keys", "list", "-c", config.path])
        #expect(listed.status == 0 && listed.stdout.contains(id) && listed.stdout.contains("alice") && listed.stdout.contains("active"))
        #expect(!listed.stdout.contains(secret))

        // A gateway on the same store accepts the key (SQLite: picked up by the resync).
        let gateway = try await GatewayProcess.launch(config: config.path)
        let chat = #"{"model":"gpt-4o","messages":[]}"#
        #expect(try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: [("Authorization", "Bearer \(secret)")], body: chat).status == 200)
        let revoked = try run(["keys", "revoke", "-c", config.path, id])
        #expect(revoked.status == 0 && revoked.stdout.contains("revoked"))
        // The resync runs every 2 s; a deadline, not a count of tries, so slow requests on a
        // loaded machine do not shorten the wait.
        var refused = false
        let deadline = ContinuousClock.now + .seconds(15)
        while !refused, ContinuousClock.now < deadline {
            refused = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", headers: [("Authorization", "Bearer \(secret)")], body: chat).status == 401
            if !refused { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(refused)
        gateway.signal(SIGTERM)
        _ = await gateway.waitForExit(timeout: .seconds(10))
        #expect(try run(["keys", "list", "-c", config.path]).stdout.contains("revoked"))
        let unknown = try run(["keys", "revoke", "-c", config.path, "key_nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no key"))
    }
}

/// `logging.format` as the start command resolves it.
enum LoggingConfigFormatProbe {
    static func resolved(_ name: String, terminal: Bool) -> String? {
        LoggingConfig.Format(rawValue: name)?.resolved(isTerminal: terminal).rawValue
    }
}
