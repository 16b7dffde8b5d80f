import Certificates
import Foundation
import Testing

/// `llm-proxy nginx-config` against the real nginx: the site it prints for a configuration
/// passes `nginx -t`, with HTTPS and without, and a value that would smuggle a directive in
/// is refused instead of printed.
@Suite("nginx site export")
struct NginxConfigTests {
    static let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `nginx -t` on `site` inside a minimal main configuration whose files all live in `folder`.
    static func nginxAccepts(_ site: String, in folder: String) throws -> (ok: Bool, output: String) {
        let sitePath = folder + "/site.conf"
        try site.write(toFile: sitePath, atomically: true, encoding: .utf8)
        let main = """
            pid \(folder)/nginx.pid;
            error_log \(folder)/error.log;
            events {}
            http {
                access_log off;
                client_body_temp_path \(folder)/body;
                proxy_temp_path \(folder)/proxy;
                fastcgi_temp_path \(folder)/fastcgi;
                uwsgi_temp_path \(folder)/uwsgi;
                scgi_temp_path \(folder)/scgi;
                include \(sitePath);
            }

            """
        try main.write(toFile: folder + "/nginx.conf", atomically: true, encoding: .utf8)
        let (status, output) = try Tool.run(Self.nginx!, ["-t", "-q", "-p", folder, "-e", folder + "/error.log", "-c", folder + "/nginx.conf"])
        return (status == 0, output)
    }

    @Test("the printed site passes nginx -t: HTTPS with certbot-style files, admin networks, streaming settings; plain HTTP without a domain; hostile values refused")
    func nginxConfig() throws {
        guard Self.nginx != nil else {
            Issue.record("nginx is not installed (scripts/test installs nginx-light)")
            return
        }
        let folder = NSTemporaryDirectory() + "llmproxy-nginx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let files = CertificateDirectory(root: folder + "/certs")
        try files.store(try CertificateIssuer.leaf(names: ["llm.example.test"], issuedBy: try CertificateIssuer.root()), "", "site")
        let config = try TempFile("server: {port: 9123, max_request_size: 2097152}\n")
        defer { config.remove() }
        let cli = CLITests()

        let https = try cli.run([
            "nginx-config", "-c", config.path, "--domain", "llm.example.test", "--certificate", files.path("", "site.pem"), "--certificate-key",
            files.path("", "site-key.pem"), "--admin-cidr", "10.0.0.0/8", "--admin-cidr", "192.168.1.0/24", "--http-port", "18080", "--https-port", "18443",
        ])
        #expect(https.status == 0, "\(https.stderr)")
        for line in [
            "server 127.0.0.1:9123;", "keepalive 64;", "listen 18443 ssl http2;", "server_name llm.example.test;", "return 301 https://$host$request_uri;",
            "ssl_certificate \(files.path("", "site.pem"));", "proxy_buffering off;", "proxy_request_buffering off;", "proxy_read_timeout 3600s;",
            "proxy_http_version 1.1;", #"proxy_set_header Connection "";"#, "allow 10.0.0.0/8;", "allow 192.168.1.0/24;", "deny all;",
            "client_max_body_size 2097152;", "location /.well-known/acme-challenge/",
        ] {
            #expect(https.stdout.contains(line), "missing: \(line)")
        }
        let checked = try Self.nginxAccepts(https.stdout, in: folder)
        #expect(checked.ok, "nginx -t refused the HTTPS site: \(checked.output)\n\(https.stdout)")

        // Without a domain: plain HTTP, loopback-only admin, certbot's paths nowhere.
        let plain = try cli.run(["nginx-config", "-c", config.path, "--http-port", "18081"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("listen 18081;") && !plain.stdout.contains("ssl") && plain.stdout.contains("allow 127.0.0.1/32;"))
        let plainChecked = try Self.nginxAccepts(plain.stdout, in: folder)
        #expect(plainChecked.ok, "nginx -t refused the plain site: \(plainChecked.output)")
        // Without a certificate option, certbot's live folder for the domain.
        let certbot = try cli.run(["nginx-config", "-c", config.path, "--domain", "llm.example.test"])
        #expect(certbot.stdout.contains("ssl_certificate /etc/letsencrypt/live/llm.example.test/fullchain.pem;"))

        // A gateway in a TLS mode is reached over HTTPS on its HTTPS port.
        let tlsConfig = try TempFile("server: {port: 9123}\ntls: {mode: dev-selfsigned, https_port: 9443}\n")
        defer { tlsConfig.remove() }
        let tls = try cli.run(["nginx-config", "-c", tlsConfig.path])
        #expect(tls.stdout.contains("server 127.0.0.1:9443;") && tls.stdout.contains("proxy_pass https://llmproxy;"), "\(tls.stdout)\(tls.stderr)")

        // Values that would carry another directive are refused, each naming its option.
        for (arguments, option) in [
            (["--domain", "llm.example.test; include /etc/passwd"], "--domain"), (["--admin-cidr", "all; allow all"], "--admin-cidr"),
            (["--domain", "a.test", "--certificate", "/etc/x.pem; ssl_verify off"], "--certificate"), (["--https-port", "0"], "--https-port"),
        ] {
            let refused = try cli.run(["nginx-config", "-c", config.path] + arguments)
            #expect(refused.status != 0 && refused.stdout.isEmpty && refused.stderr.contains(option), "\(arguments): \(refused.stderr)")
        }
    }
}
