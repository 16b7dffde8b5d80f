import Certificates
import Foundation
import PostgresHarness
import Testing

/// The HTTPS listener of each TLS mode, through the real binary: curl and the official
/// OpenAI SDK against it with the right CA, streamed and not; the plain port redirecting;
/// certificate files rotated under traffic.
@Suite("TLS listener modes")
struct TLSListenerTests {
    static let body = #"{"model":"m1","messages":[{"role":"user","content":"hi"}]}"#
    static let streamBody = #"{"model":"m1","stream":true,"messages":[{"role":"user","content":"hi"}]}"#

    /// A configuration with the mock provider, a client key and the TLS directory under `folder`.
    static func config(_ folder: String, _ extra: String = "") throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/llmproxy.yaml"
        let yaml = """
            auth: {keys: ["\(Configs.clientKey)"]}
            providers:
              - {name: m, type: mock, models: ["m1"], mock: {latency_ms: 0, chunks: 3, chunk_delay_ms: 1}}
            tls: {directory: "\(folder)/tls"\(extra)}
            """
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// curl's output (`-s`), failing the test when curl fails.
    static func curl(_ arguments: [String]) throws -> String {
        let out = NSTemporaryDirectory() + "llmproxy-curl-\(UUID().uuidString)"
        defer { unlink(out) }
        try PostgresServer.run("/usr/bin/curl", ["-sS", "--max-time", "20", "-o", out] + arguments)
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    /// `curl -w` output only.
    static func curlWrite(_ format: String, _ arguments: [String]) throws -> String {
        let out = NSTemporaryDirectory() + "llmproxy-curl-\(UUID().uuidString)"
        defer { unlink(out) }
        try PostgresServer.run(
            "/bin/sh", ["-c", "/usr/bin/curl -sS --max-time 20 -o /dev/null -w '\(format)' " + arguments.map { "'\($0)'" }.joined(separator: " ") + " > '\(out)'"])
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    /// The binary in https mode with files under a new folder: `ca.pem` (a root made here)
    /// and `server.pem` / `server-key.pem` (a leaf it signed).
    static func launchWithFiles() async throws -> (GatewayProcess, CertificateDirectory, CertificateBundle) {
        let folder = NSTemporaryDirectory() + "llmproxy-tls-\(UUID().uuidString)"
        let config = try Self.config(folder)
        let files = CertificateDirectory(root: folder + "/files")
        let root = try CertificateIssuer.root()
        try files.store(root, "", "ca")
        try files.store(try CertificateIssuer.leaf(names: CertificateIssuer.leafNames([]), issuedBy: root), "", "server")
        let gateway = try await GatewayProcess.launch(
            config: config, arguments: ["--tls-cert", files.path("", "server.pem"), "--tls-key", files.path("", "server-key.pem")], tls: true,
            environment: ["LLMPROXY_ADMIN_USER": "root", "LLMPROXY_ADMIN_PASSWORD": "correct horse battery"])
        return (gateway, files, root)
    }

    /// The SHA-256 of the certificate a new connection to `port` is served (as
    /// `CertificateBundle.fingerprint` writes it).
    static func servedFingerprint(port: Int, ca: String) async throws -> String {
        let out = NSTemporaryDirectory() + "llmproxy-fp-\(UUID().uuidString)"
        defer { unlink(out) }
        let script = """
            import hashlib, ssl, sys
            der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", int(sys.argv[1])), ca_certs=sys.argv[2]))
            open(sys.argv[3], "w").write(":".join("%02X" % b for b in hashlib.sha256(der).digest()))
            """
        try await PostgresServer.runAside("/usr/bin/env", ["python3", "-c", script, String(port), ca, out])
        return try String(contentsOfFile: out, encoding: .utf8)
    }

    /// The official OpenAI SDK over HTTPS, trusting `ca`: a completion and a stream.
    static func sdk(ca: String, url: String) async throws {
        let script = """
            import httpx, openai, sys
            client = openai.OpenAI(base_url=sys.argv[1], api_key=sys.argv[2], http_client=httpx.Client(verify=sys.argv[3]))
            answer = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content, answer
            chunks = list(client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}], stream=True))
            assert len(chunks) >= 3, chunks
            """
        try await PostgresServer.runAside("/usr/bin/env", ["python3", "-c", script, url + "/v1", Configs.clientKey, ca])
    }

    static func requests(ca: String, url: String, http: String) throws {
        let auth = ["-H", "Authorization: Bearer \(Configs.clientKey)", "-H", "Content-Type: application/json"]
        let plain = try curl(["--cacert", ca, http] + auth + ["-d", body, "\(url)/v1/chat/completions"])
        #expect(plain.contains(#""object":"chat.completion""#), "\(plain)")
        let streamed = try curl(["--cacert", ca, "-N", http] + auth + ["-d", streamBody, "\(url)/v1/chat/completions"])
        #expect(streamed.contains("data: [DONE]"), "\(streamed)")
        #expect(streamed.components(separatedBy: "data: {").count >= 3)
        // The protocol really is the one asked for (ALPN), and the gateway's own surfaces
        // answer over it too.
        let version = try curlWrite("%{http_version} %{http_code}", ["--cacert", ca, http, "\(url)/health"])
        #expect(version == (http == "--http2" ? "2 200" : "1.1 200"), "\(version)")
        let refused = try curlWrite("%{http_code}", ["--cacert", ca, http, "-d", body, "\(url)/v1/chat/completions"])
        #expect(refused == "401", "no key: refused by the same guards")
    }

    @Test("dev-selfsigned: a P-256 certificate for localhost and the configured names, its fingerprint printed, reused at the next start; no HSTS")
    func devSelfSigned() async throws {
        let folder = NSTemporaryDirectory() + "llmproxy-tls-\(UUID().uuidString)"
        let config = try Self.config(folder)
        let gateway = try await GatewayProcess.launch(config: config, arguments: ["--mode", "dev-selfsigned", "--domain", "gw.test"], tls: true)
        let https = try #require(gateway.httpsPort)
        let ca = folder + "/tls/dev-selfsigned/cert.pem"
        try Self.requests(ca: ca, url: "https://localhost:\(https)", http: "--http1.1")
        try Self.requests(ca: ca, url: "https://127.0.0.1:\(https)", http: "--http2")
        try await Self.sdk(ca: ca, url: "https://localhost:\(https)")
        let bundle = try CertificateBundle(
            chainPEM: try String(contentsOfFile: ca, encoding: .utf8),
            keyPEM: try String(contentsOfFile: folder + "/tls/dev-selfsigned/cert-key.pem", encoding: .utf8))
        #expect(bundle.names.contains("gw.test") && bundle.names.contains("::1"))
        #expect(gateway.log.contains("SHA-256 fingerprint \(bundle.fingerprint)"))
        let headers = try Self.curlWrite("%header{strict-transport-security}|%{http_code}", ["--cacert", ca, "https://localhost:\(https)/health"])
        #expect(headers == "|200", "\(headers)")
        await gateway.stop()
        // The next start serves the same certificate.
        let again = try await GatewayProcess.launch(config: config, arguments: ["--mode", "dev-selfsigned", "--domain", "gw.test"], tls: true)
        #expect(again.log.contains("SHA-256 fingerprint \(bundle.fingerprint)"))
        await again.stop()
    }

    @Test("https with certificate files: curl and the OpenAI SDK, streamed and not; HSTS; the plain port redirects (301, 308 for POST)")
    func certificateFiles() async throws {
        let (gateway, files, _) = try await Self.launchWithFiles()
        let https = try #require(gateway.httpsPort)
        let ca = files.path("", "ca.pem")
        try Self.requests(ca: ca, url: "https://127.0.0.1:\(https)", http: "--http1.1")
        try Self.requests(ca: ca, url: "https://127.0.0.1:\(https)", http: "--http2")
        let hsts = try Self.curlWrite("%header{strict-transport-security}", ["--cacert", ca, "https://127.0.0.1:\(https)/health"])
        #expect(hsts == "max-age=31536000")
        let redirect = try Self.curlWrite("%{http_code} %{redirect_url}", ["http://127.0.0.1:\(gateway.port)/v1/models?x=1"])
        #expect(redirect == "301 https://127.0.0.1:\(https)/v1/models?x=1")
        let post = try Self.curlWrite("%{http_code}", ["-X", "POST", "-d", "{}", "http://127.0.0.1:\(gateway.port)/v1/chat/completions"])
        #expect(post == "308")
        try await Self.sdk(ca: ca, url: "https://127.0.0.1:\(https)")
        // The admin session cookie is Secure over TLS, on both protocols.
        for http in ["--http1.1", "--http2"] {
            let cookie = try Self.curlWrite(
                "%header{set-cookie}",
                [
                    "--cacert", ca, http, "-H", "Content-Type: application/json", "-d", #"{"username":"root","password":"correct horse battery"}"#,
                    "https://127.0.0.1:\(https)/auth/login",
                ])
            #expect(cookie.hasPrefix("auth_token=") && cookie.contains("; Secure"), "\(http): \(cookie)")
        }
        await gateway.stop()
    }

    @Test("packaged-ca: the root is kept under the TLS directory, the leaf is issued from it, and clients trusting the root connect")
    func packagedCA() async throws {
        let folder = NSTemporaryDirectory() + "llmproxy-tls-\(UUID().uuidString)"
        let config = try Self.config(folder)
        let gateway = try await GatewayProcess.launch(config: config, arguments: ["--mode", "packaged-ca"], tls: true)
        let https = try #require(gateway.httpsPort)
        let root = folder + "/tls/ca/root.pem"
        try Self.requests(ca: root, url: "https://localhost:\(https)", http: "--http1.1")
        try Self.requests(ca: root, url: "https://localhost:\(https)", http: "--http2")
        try await Self.sdk(ca: root, url: "https://localhost:\(https)")
        // Without the root, the handshake is refused.
        #expect(throws: (any Error).self) { try Self.curl(["https://localhost:\(https)/health"]) }
        // The CLI: export the root, see the status, renew — and the running gateway serves
        // the renewed leaf within seconds.
        let binary = GatewayProcess.binary.path
        let exported = folder + "/exported.pem"
        try await PostgresServer.runAside(binary, ["certs", "export-ca", "-c", config, "--out", exported])
        #expect(try String(contentsOfFile: exported, encoding: .utf8) == String(contentsOfFile: root, encoding: .utf8))
        let before = try await Self.servedFingerprint(port: https, ca: root)
        try await PostgresServer.runAside(binary, ["certs", "renew", "-c", config, "--mode", "packaged-ca"])
        var after = before
        for _ in 0..<50 where after == before {
            try await Task.sleep(for: .milliseconds(200))
            after = try await Self.servedFingerprint(port: https, ca: root)
        }
        #expect(after != before, "the renewed certificate was not served")
        try Self.requests(ca: root, url: "https://localhost:\(https)", http: "--http2")
        await gateway.stop()
    }

    @Test("certificate files replaced under traffic: no request fails, and new connections get the new certificate")
    func rotationUnderTraffic() async throws {
        let (gateway, files, root) = try await Self.launchWithFiles()
        let https = try #require(gateway.httpsPort)
        let second = try CertificateIssuer.leaf(names: CertificateIssuer.leafNames([]), issuedBy: root)
        // Four clients, each on its own keep-alive connection and opening new ones, for the
        // whole time; halfway, the files are replaced. Every request must succeed, and after
        // the swap new connections must present the second certificate.
        let script = """
            import hashlib, ssl, sys, threading, time, http.client, json
            port, key, ca, new_fp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
            context = ssl.create_default_context(cafile=ca)
            body = json.dumps({"model": "m1", "messages": [{"role": "user", "content": "hi"}]})
            failures, done = [], []
            stop = time.time() + 6
            def client(fresh):
                count = 0
                connection = None
                while time.time() < stop:
                    try:
                        if connection is None or fresh:
                            connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
                        connection.request("POST", "/v1/chat/completions", body, {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
                        response = connection.getresponse()
                        data = response.read()
                        if response.status != 200: failures.append(response.status)
                        if fresh: connection.close()
                        count += 1
                    except Exception as error:
                        failures.append(repr(error)); connection = None
                done.append(count)
            threads = [threading.Thread(target=client, args=(index % 2 == 0,)) for index in range(4)]
            for thread in threads: thread.start()
            for thread in threads: thread.join()
            # The replacement is picked up within a poll (2 s); on a loaded machine, allow 30 s.
            deadline = time.time() + 30
            while True:
                der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port), ca_certs=ca))
                seen = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
                if seen == new_fp or time.time() > deadline: break
                time.sleep(0.2)
            print("requests", sum(done), "failures", len(failures))
            assert not failures, failures[:5]
            assert sum(done) > 20, done
            assert seen == new_fp, (seen, new_fp)
            """
        let load = Task.detached {
            try await PostgresServer.runAside("/usr/bin/env", ["python3", "-c", script, String(https), Configs.clientKey, files.path("", "ca.pem"), second.fingerprint])
        }
        try await Task.sleep(for: .seconds(2))
        try files.store(second, "", "server")
        try await load.value
        #expect(gateway.log.contains("certificate replaced"))
        await gateway.stop()
    }
}
