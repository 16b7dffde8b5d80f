import Foundation
import NIOSSL
import Testing

@Suite("TLS to upstreams")
struct UpstreamTLSTests {
    /// A throwaway CA and a server certificate for 127.0.0.1 it signed, made with openssl.
    static func makeCertificates() throws -> (directory: String, ca: String, cert: String, key: String) {
        let directory = NSTemporaryDirectory() + "llmproxy-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = """
            set -e
            cd '\(directory)'
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=LLMProxy Test CA' 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=serverAuth\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other.key -out other.csr -subj '/CN=other.example' 2>/dev/null
            printf 'subjectAltName=DNS:other.example\\nbasicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=serverAuth\\n' > other.cnf
            openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out other.pem -days 2 -extfile other.cnf 2>/dev/null
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CertificateError() }
        return (directory, "\(directory)/ca.pem", "\(directory)/server.pem", "\(directory)/server.key")
    }

    struct CertificateError: Error {}

    /// A mock upstream's TLS settings from PEM files.
    static func serverTLS(certificate: String, key: String) throws -> TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        )
    }

    @Test("an HTTPS upstream signed by the configured CA file is reached; without the CA it is a 502, never a silent plain-text fallback")
    func caFile() async throws {
        let certs = try Self.makeCertificates()
        defer { try? FileManager.default.removeItem(atPath: certs.directory) }
        let tls = try Self.serverTLS(certificate: certs.cert, key: certs.key)
        let upstream = MockUpstream(name: "secure", requiredKey: "upstream-key-secure", tls: tls)
        try await upstream.start()
        let provider = "providers: [{name: s, type: openai, base_url: \"\(upstream.baseURL)/v1\", api_key: upstream-key-secure, models: [m], discover_models: false}]"

        let trusting = try await GatewayHarness.start(yaml: "upstream: {ca_file: \"\(certs.ca)\"}\n\(provider)")
        let ok = try await TestHTTP.send(.POST, "\(trusting.url)/v1/chat/completions", body: #"{"model":"m","messages":[]}"#)
        #expect(ok.status == 200)
        #expect(ok.headers["x-upstream-name"].first == "secure")
        await trusting.stop()

        let untrusting = try await GatewayHarness.start(yaml: provider)
        let refused = try await TestHTTP.send(.POST, "\(untrusting.url)/v1/chat/completions", body: #"{"model":"m","messages":[]}"#)
        #expect(refused.status == 502)
        #expect((refused.json["error"] as? [String: Any])?["code"] as? String == "upstream_error")
        await untrusting.stop()
        await upstream.stop()
    }

    @Test("TLS upstreams take the engine's pool: streams arrive whole, keep-alive connections are reused, and a certificate for another name is refused")
    func pooledTLS() async throws {
        let certs = try Self.makeCertificates()
        defer { try? FileManager.default.removeItem(atPath: certs.directory) }
        let tls = try Self.serverTLS(certificate: certs.cert, key: certs.key)
        let upstream = MockUpstream(name: "secure", requiredKey: "upstream-key-secure", tls: tls)
        try await upstream.start()
        // Signed by the trusted CA, but for another name than the address the gateway dials.
        let otherName = try Self.serverTLS(certificate: "\(certs.directory)/other.pem", key: "\(certs.directory)/other.key")
        let impostor = MockUpstream(name: "impostor", requiredKey: "upstream-key-secure", tls: otherName)
        try await impostor.start()
        let gateway = try await GatewayHarness.start(
            yaml: """
                upstream: {ca_file: "\(certs.ca)"}
                providers:
                  - {name: s, type: openai, base_url: "\(upstream.baseURL)/v1", api_key: upstream-key-secure, models: [stream-4-3, m], discover_models: false}
                  - {name: named, type: openai, base_url: "\(impostor.baseURL)/v1", api_key: upstream-key-secure, models: [by-name], discover_models: false}
                """)
        for _ in 0..<3 {
            let stream = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"stream-4-3","stream":true,"messages":[]}"#)
            #expect(stream.status == 200)
            #expect(stream.body.contains("data: [DONE]"))
        }
        // Three requests one after another over one kept-alive TLS connection.
        #expect(await upstream.closeIdleConnections() == 1)
        // A certificate from the trusted CA for another name is still refused.
        let mismatch = try await TestHTTP.send(.POST, "\(gateway.url)/v1/chat/completions", body: #"{"model":"by-name","messages":[]}"#)
        #expect(mismatch.status == 502)
        #expect(impostor.received.isEmpty)
        await gateway.stop()
        await upstream.stop()
        await impostor.stop()
    }
}
