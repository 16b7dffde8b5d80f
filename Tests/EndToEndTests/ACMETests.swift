import Certificates
import Foundation
import PostgresHarness
import Testing

/// `https-acme` end to end against Pebble, the ACME test server: a certificate issued through
/// HTTP-01 on the gateway's plain port, served, renewed on request, the account and the
/// certificate reused across restarts, and a failed challenge reported clearly while the
/// gateway keeps serving.
@Suite("ACME against Pebble", .serialized)
struct ACMETests {
    /// Pebble on free ports, validating HTTP-01 on `httpPort`, its listener certified by a
    /// root made here (`caFile`, for `--acme-ca-file`).
    final class Pebble: Sendable {
        let process: Process
        let port: Int
        let managementPort: Int
        let caFile: String

        var directory: String { "https://127.0.0.1:\(port)/dir" }

        private init(process: Process, port: Int, managementPort: Int, caFile: String) {
            self.process = process
            self.port = port
            self.managementPort = managementPort
            self.caFile = caFile
        }

        static func start(httpPort: Int, folder: String, dnsServer: String? = nil) async throws -> Pebble {
            let files = CertificateDirectory(root: folder + "/pebble")
            let root = try CertificateIssuer.root()
            try files.store(root, "", "ca")
            try files.store(try CertificateIssuer.leaf(names: CertificateIssuer.leafNames([]), issuedBy: root), "", "listener")
            for _ in 0..<5 {
                let port = PostgresServer.freePort(), management = PostgresServer.freePort(), tlsPort = PostgresServer.freePort()
                let config = files.path("", "pebble.json")
                try """
                {"pebble": {"listenAddress": "127.0.0.1:\(port)", "managementListenAddress": "127.0.0.1:\(management)",
                 "certificate": "\(files.path("", "listener.pem"))", "privateKey": "\(files.path("", "listener-key.pem"))",
                 "httpPort": \(httpPort), "tlsPort": \(tlsPort), "ocspResponderURL": "", "externalAccountBindingRequired": false}}
                """.write(toFile: config, atomically: true, encoding: .utf8)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/pebble")
                process.arguments = ["-config", config] + (dnsServer.map { ["-dnsserver", $0] } ?? [])
                // No random sleeps before validation, no random nonce refusals.
                process.environment = ["PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PATH": "/usr/bin:/bin"]
                process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
                process.standardError = FileHandle(forWritingAtPath: "/dev/null")
                try process.run()
                let deadline = ContinuousClock.now + .seconds(10)
                let pebble = Pebble(process: process, port: port, managementPort: management, caFile: files.path("", "ca.pem"))
                while process.isRunning, ContinuousClock.now < deadline {
                    // Started means *this* Pebble answers its directory over HTTPS with the
                    // listener certificate made above: a bare TCP connect could reach another
                    // process that took the port between `freePort()` and Pebble's bind.
                    if pebble.directoryAnswers(), process.isRunning { return pebble }
                    try await Task.sleep(for: .milliseconds(100))
                }
                // A port taken in the meantime: try others.
                if process.isRunning { process.terminate() }
                process.waitUntilExit()
            }
            throw PebbleError()
        }

        /// Whether the directory answers over HTTPS, verified against this Pebble's own root.
        func directoryAnswers() -> Bool {
            (try? PostgresServer.run("/bin/sh", ["-c", "curl -sfS --max-time 5 --cacert '\(caFile)' '\(directory)' | grep -q newOrder"])) != nil
        }

        /// The roots Pebble issues under (made anew at each start): its root and intermediate.
        func issuingRoots(into file: String) throws {
            try PostgresServer.run(
                "/bin/sh",
                [
                    "-c",
                    "curl -sS --cacert '\(caFile)' https://127.0.0.1:\(managementPort)/roots/0 > '\(file)' && curl -sS --cacert '\(caFile)' https://127.0.0.1:\(managementPort)/intermediates/0 >> '\(file)'",
                ])
        }

        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
    }

    struct PebbleError: Error, CustomStringConvertible {
        var description: String { "pebble did not start (is the Debian package pebble installed?)" }
    }

    /// The gateway in https-acme mode on `httpPort` (Pebble validates there) for `domains`.
    static func launch(config: String, httpPort: Int, pebble: Pebble, domains: [String]) async throws -> GatewayProcess {
        try await GatewayProcess.launch(
            config: config,
            arguments: [
                "--port", String(httpPort), "--https-port", "0", "--mode", "https-acme", "--email", "ops@example.com", "--acme-directory", pebble.directory,
                "--acme-ca-file", pebble.caFile,
            ] + domains.flatMap { ["--domain", $0] },
            tls: true)
    }

    static func waitFor(_ text: String, in gateway: GatewayProcess, count: Int = 1) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if gateway.log.components(separatedBy: text).count > count { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test("issue through HTTP-01, serve it, renew on request, reuse the account and the certificate after a restart")
    func issueRenewRestart() async throws {
        let folder = NSTemporaryDirectory() + "llmproxy-acme-\(UUID().uuidString)"
        let config = try TLSListenerTests.config(folder)
        let httpPort = PostgresServer.freePort()
        let pebble = try await Pebble.start(httpPort: httpPort, folder: folder)
        defer { pebble.stop() }
        let gateway = try await Self.launch(config: config, httpPort: httpPort, pebble: pebble, domains: ["localhost"])
        let https = try #require(gateway.httpsPort)
        #expect(await Self.waitFor("certificate issued", in: gateway), "\(gateway.log)")
        let roots = folder + "/pebble-roots.pem"
        try pebble.issuingRoots(into: roots)
        try TLSListenerTests.requests(ca: roots, url: "https://localhost:\(https)", http: "--http2")
        try TLSListenerTests.requests(ca: roots, url: "https://localhost:\(https)", http: "--http1.1")
        try await TLSListenerTests.sdk(ca: roots, url: "https://localhost:\(https)")
        let issued = try await TLSListenerTests.servedFingerprint(port: https, ca: roots)
        let account = try String(contentsOfFile: folder + "/tls/acme/account.json", encoding: .utf8)

        // Renewal on request: a new certificate, served without a restart.
        let binary = GatewayProcess.binary.path
        try await PostgresServer.runAside(binary, ["certs", "renew", "-c", config, "--mode", "https-acme", "--domain", "localhost"])
        #expect(await Self.waitFor("certificate issued", in: gateway, count: 2), "\(gateway.log)")
        var renewed = issued
        for _ in 0..<50 where renewed == issued {
            try await Task.sleep(for: .milliseconds(100))
            renewed = try await TLSListenerTests.servedFingerprint(port: https, ca: roots)
        }
        #expect(renewed != issued)
        await gateway.stop()

        // A restart reuses the account and the stored certificate: no new order.
        let again = try await Self.launch(config: config, httpPort: httpPort, pebble: pebble, domains: ["localhost"])
        let againHTTPS = try #require(again.httpsPort)
        let servedAgain = try await TLSListenerTests.servedFingerprint(port: againHTTPS, ca: roots)
        #expect(servedAgain == renewed)
        try await Task.sleep(for: .seconds(3))
        #expect(!again.log.contains("ordering a certificate"))
        #expect(try String(contentsOfFile: folder + "/tls/acme/account.json", encoding: .utf8) == account)
        await again.stop()
    }

    @Test("a challenge the CA cannot validate is reported with its reason, and the gateway keeps serving with what it has")
    func failedChallenge() async throws {
        let folder = NSTemporaryDirectory() + "llmproxy-acme-\(UUID().uuidString)"
        let config = try TLSListenerTests.config(folder)
        let httpPort = PostgresServer.freePort()
        let pebble = try await Pebble.start(httpPort: httpPort, folder: folder)
        defer { pebble.stop() }
        let gateway = try await Self.launch(config: config, httpPort: httpPort, pebble: pebble, domains: ["nowhere.invalid"])
        let https = try #require(gateway.httpsPort)
        #expect(await Self.waitFor("the http-01 challenge for nowhere.invalid failed", in: gateway), "\(gateway.log)")
        #expect(gateway.log.contains("the certificate could not be ordered"), "\(gateway.log)")
        // Still serving (with the stand-in certificate) while it backs off and retries.
        let health = try TLSListenerTests.curlWrite("%{http_code}", ["-k", "https://127.0.0.1:\(https)/health"])
        #expect(health == "200")
        await gateway.stop()
    }

    @Test("DNS-01 through the configured hook: the hook sets the TXT record (in Pebble's test DNS server) and the certificate is issued")
    func dnsHook() async throws {
        let folder = NSTemporaryDirectory() + "llmproxy-acme-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // pebble-challtestsrv: a DNS server whose records are set over HTTP.
        var dns: Process?
        var management = 0, dnsPort = 0
        for _ in 0..<5 where dns == nil {
            management = PostgresServer.freePort()
            dnsPort = PostgresServer.freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/pebble-challtestsrv")
            process.arguments = [
                "-dns01", "127.0.0.1:\(dnsPort)", "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", "127.0.0.1:\(management)",
            ]
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            let deadline = ContinuousClock.now + .seconds(10)
            while process.isRunning, ContinuousClock.now < deadline, dns == nil {
                if (try? RawConnection(port: management)).map({ $0.closeConnection() }) != nil { dns = process }
                try await Task.sleep(for: .milliseconds(50))
            }
            if dns == nil, process.isRunning { process.terminate() }
        }
        let server = try #require(dns, "pebble-challtestsrv did not start")
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let hook = folder + "/dns-hook"
        try """
        #!/bin/sh
        # present|cleanup DOMAIN VALUE
        case "$1" in
          present) exec curl -sfS -d "{\\"host\\":\\"_acme-challenge.$2.\\",\\"value\\":\\"$3\\"}" http://127.0.0.1:\(management)/set-txt ;;
          cleanup) exec curl -sfS -d "{\\"host\\":\\"_acme-challenge.$2.\\"}" http://127.0.0.1:\(management)/clear-txt ;;
        esac
        exit 2
        """.write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        let config = try TLSListenerTests.config(folder, ", acme_dns_hook: \"\(hook)\"")
        let pebble = try await Pebble.start(httpPort: PostgresServer.freePort(), folder: folder, dnsServer: "127.0.0.1:\(dnsPort)")
        defer { pebble.stop() }
        let gateway = try await GatewayProcess.launch(
            config: config,
            arguments: ["--mode", "https-acme", "--domain", "gw.example", "--acme-directory", pebble.directory, "--acme-ca-file", pebble.caFile], tls: true)
        #expect(await Self.waitFor("certificate issued", in: gateway), "\(gateway.log)")
        #expect(gateway.log.contains(#""challenge":"dns-01""#))
        let stored = try String(contentsOfFile: folder + "/tls/acme/cert.pem", encoding: .utf8)
        let bundle = try CertificateBundle(chainPEM: stored, keyPEM: try String(contentsOfFile: folder + "/tls/acme/cert-key.pem", encoding: .utf8))
        #expect(bundle.names == ["gw.example"])
        await gateway.stop()
    }

    @Test("an unreachable directory is named in the error")
    func unreachableDirectory() async throws {
        let folder = NSTemporaryDirectory() + "llmproxy-acme-\(UUID().uuidString)"
        let config = try TLSListenerTests.config(folder)
        // .invalid never resolves (RFC 6761).
        let gateway = try await GatewayProcess.launch(
            config: config, arguments: ["--mode", "https-acme", "--domain", "gw.example", "--acme-directory", "https://acme.invalid/dir"], tls: true)
        #expect(await Self.waitFor("cannot reach the ACME directory https://acme.invalid/dir", in: gateway), "\(gateway.log)")
        await gateway.stop()
    }
}
