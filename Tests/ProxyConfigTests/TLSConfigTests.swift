import Testing

@testable import ProxyConfig

@Suite("TLS configuration: modes, files, seeds' variables")
struct TLSConfigTests {
    func problems(_ yaml: String, exists: Bool = true) -> [String] { configProblems(yaml, fileExists: exists) }

    @Test("tls: reads every key; HTTPS defaults to server.port + 1; HSTS a year except for dev-selfsigned")
    func reads() throws {
        let config = try GatewayConfig.parse(
            yaml: """
                server: {port: 9000}
                tls: {mode: https, cert_file: /etc/llm/cert.pem, key_file: /etc/llm/key.pem, domains: [llm.example.com], directory: /var/lib/llm/tls, http2: false}
                """)
        #expect(config.tls.mode == .https && config.tls.certFile == "/etc/llm/cert.pem" && config.tls.keyFile == "/etc/llm/key.pem")
        #expect(config.tls.httpsPort(serverPort: config.server.port) == 9001)
        #expect(config.tls.effectiveHSTSMaxAge == 31_536_000)
        #expect(!config.tls.http2 && config.tls.domains == ["llm.example.com"])
        #expect(config.validate().isEmpty)
        #expect(config.redactedYAML().contains("mode: https"))
        var dev = TLSConfig()
        dev.mode = .devSelfSigned
        #expect(dev.effectiveHSTSMaxAge == 0)
        #expect(dev.httpsPort(serverPort: 0) == 0, "port 0 (tests) picks any free port for both")
    }

    @Test("the edge seed's ENABLE_TLS, TLS_CERT_PATH and TLS_KEY_PATH turn on https with the files; LLMPROXY_TLS_MODE picks a mode")
    func environment() throws {
        var config = GatewayConfig()
        try config.applyEnvironment(["ENABLE_TLS": "true", "TLS_CERT_PATH": "/c.pem", "TLS_KEY_PATH": "/k.pem"])
        #expect(config.tls.mode == .https && config.tls.certFile == "/c.pem" && config.tls.keyFile == "/k.pem")
        var off = config
        try off.applyEnvironment(["ENABLE_TLS": "false"])
        #expect(off.tls.mode == .localHTTP)
        var mode = GatewayConfig()
        try mode.applyEnvironment(["LLMPROXY_TLS_MODE": "packaged-ca", "LLMPROXY_HTTPS_PORT": "8443"])
        #expect(mode.tls.mode == .packagedCA && mode.tls.httpsPort == 8443)
        #expect(throws: ConfigError.self) {
            var bad = GatewayConfig()
            try bad.applyEnvironment(["LLMPROXY_TLS_MODE": "tls"])
        }
    }

    @Test(
        "a wrong TLS setting names its key and the fix",
        arguments: [
            ("tls: {mode: tls}", "tls.mode must be one of local-http, dev-selfsigned, https, https-acme, packaged-ca"),
            ("tls: {mode: https}", "tls.cert_file is required in https mode"),
            ("tls: {mode: https, cert_file: a}", "tls.key_file is required in https mode"),
            ("tls: {mode: dev-selfsigned, https_port: 8080}", "tls.https_port must differ from server.port (8080)"),
            ("tls: {mode: dev-selfsigned, domains: [\"bad name\"]}", "tls.domains[0] is not a DNS name or an IP address"),
            ("tls: {mode: dev-selfsigned, hsts_max_age: -1}", "tls.hsts_max_age must be between 0"),
            ("tls: {mode: https-acme}", "tls.domains must name at least one domain in https-acme mode"),
            ("tls: {mode: https-acme, domains: [10.0.0.1]}", "tls.domains must be DNS names in https-acme mode"),
            ("tls: {mode: https-acme, domains: [a.example], acme_directory: ftp://x}", "tls.acme_directory must be production, staging or the directory's URL"),
            ("tls: {mode: packaged-ca, ciphers: x}", "tls.ciphers is not a known key"),
        ])
    func messages(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.contains(expected) }, "\(found)")
    }

    @Test("certificate files that do not exist are named")
    func missingFiles() {
        let found = problems("tls: {mode: https, cert_file: /nope/c.pem, key_file: /nope/k.pem}", exists: false)
        #expect(found.contains { $0.contains("tls.cert_file names a file that does not exist (/nope/c.pem)") })
        #expect(found.contains { $0.contains("tls.key_file names a file that does not exist (/nope/k.pem)") })
    }

    @Test("names: DNS names, wildcards and IP addresses; nothing else")
    func names() {
        for good in ["localhost", "llm.example.com", "*.example.com", "10.0.0.7", "::1", "a-b.c"] { #expect(TLSNames.isValid(good), "\(good)") }
        for bad in ["", "bad name", "-a.example", "a..b", "ex_ample.com", "10.0.0.0/8", "*"] { #expect(!TLSNames.isValid(bad), "\(bad)") }
    }
}
