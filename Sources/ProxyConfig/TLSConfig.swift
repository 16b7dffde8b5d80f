import Foundation

/// `tls:` — how the gateway serves: plain HTTP, or HTTPS with a certificate from one of four
/// sources. In a TLS mode the HTTP port (`server.port`) answers ACME challenges and redirects
/// everything else to HTTPS on `tls.https_port` (default `server.port + 1`).
package struct TLSConfig: Sendable, Equatable {
    package var mode = TLSMode.localHTTP
    /// Port of the HTTPS listener. Default: `server.port + 1` (the flm seed's layout).
    package var httpsPort: Int?
    /// `https` mode: the certificate chain (PEM, leaf first) and its private key (PEM).
    package var certFile: String?
    package var keyFile: String?
    /// Names the certificate is for: SANs of the self-signed and private-CA certificates
    /// (beside localhost, 127.0.0.1 and ::1), the domains ACME orders.
    package var domains: [String] = []
    /// ACME account contact.
    package var email: String?
    /// ACME directory URL; `production` (default, Let's Encrypt) and `staging` are shorthands.
    package var acmeDirectory = "production"
    /// A CA bundle (PEM) to trust for the ACME directory (a private ACME server).
    package var acmeCAFile: String?
    /// DNS-01 instead of HTTP-01: a command run as `HOOK present|cleanup DOMAIN TOKEN`.
    package var acmeDNSHook: String?
    /// Where generated keys and certificates are kept. Default: a `tls` folder beside the
    /// SQLite database (`./data/tls`).
    package var directory: String?
    /// `Strict-Transport-Security` max-age on HTTPS answers, in seconds; 0 sends none.
    /// Default one year, except in `dev-selfsigned` (none: a browser would then refuse plain
    /// HTTP on localhost for a year).
    package var hstsMaxAge: Int?
    /// Offer HTTP/2 by ALPN (HTTP/1.1 stays the fallback). Default true.
    package var http2 = true

    package init() {}

    package var isEnabled: Bool { mode != .localHTTP }

    /// The HTTPS port for `serverPort`.
    package func httpsPort(serverPort: Int) -> Int { httpsPort ?? (serverPort == 0 ? 0 : serverPort + 1) }

    /// The HSTS max-age in force.
    package var effectiveHSTSMaxAge: Int { hstsMaxAge ?? (mode == .devSelfSigned ? 0 : 31_536_000) }

    /// The ACME directory URL the shorthand stands for.
    package var acmeDirectoryURL: String {
        switch acmeDirectory {
        case "production": "https://acme-v02.api.letsencrypt.org/directory"
        case "staging": "https://acme-staging-v02.api.letsencrypt.org/directory"
        default: acmeDirectory
        }
    }
}

/// `tls.mode` and `llm-proxy start --mode`.
package enum TLSMode: String, Sendable, Equatable, CaseIterable {
    /// Plain HTTP (default), on 127.0.0.1 unless `server.host` says otherwise.
    case localHTTP = "local-http"
    /// A self-signed ECDSA P-256 certificate, generated once and reused while valid.
    case devSelfSigned = "dev-selfsigned"
    /// Certificate and key files, reloaded when they change or on SIGHUP.
    case https
    /// Certificates from an ACME CA (Let's Encrypt by default), renewed automatically.
    case httpsACME = "https-acme"
    /// A local root CA, generated once, issuing and renewing the gateway's certificate.
    case packagedCA = "packaged-ca"

    package static let names = allCases.map(\.rawValue).joined(separator: ", ")
}

extension GatewayConfig {
    /// Where generated keys and certificates are kept: `tls.directory`, else a `tls` folder
    /// beside the SQLite database.
    package var tlsDirectory: String {
        if let directory = tls.directory { return directory }
        let folder = (database.path as NSString).deletingLastPathComponent
        return folder.isEmpty ? "tls" : folder + "/tls"
    }

    /// The problems of `tls:`, each naming its key and the fix.
    func tlsProblems(fileExists: (String) -> Bool) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func fail(_ path: String, _ message: String) { problems.append(ConfigProblem(path: path, message: message)) }
        guard tls.isEnabled else { return problems }
        if let port = tls.httpsPort {
            if !(0...65535).contains(port) { fail("tls.https_port", "must be between 1 and 65535, or 0 for any free port (got \(port))") }
            if port != 0, port == server.port { fail("tls.https_port", "must differ from server.port (\(port)), which serves plain HTTP (redirects and ACME challenges)") }
        } else if server.port == 65535 {
            fail("tls.https_port", "must be set: server.port is 65535, so the default (server.port + 1) is no port")
        }
        for (index, name) in tls.domains.enumerated() where !TLSNames.isValid(name) {
            fail("tls.domains[\(index)]", "is not a DNS name or an IP address (got \"\(name)\"); write e.g. llm.example.com")
        }
        if let age = tls.hstsMaxAge, !(0...63_072_000).contains(age) {
            fail("tls.hsts_max_age", "must be between 0 (no HSTS header) and 63072000 seconds (got \(age))")
        }
        switch tls.mode {
        case .https:
            for (key, file) in [("tls.cert_file", tls.certFile), ("tls.key_file", tls.keyFile)] {
                guard let file else {
                    fail(
                        key,
                        "is required in https mode: the PEM \(key == "tls.cert_file" ? "certificate chain (leaf first)" : "private key") (also --tls-cert/--tls-key, TLS_CERT_PATH/TLS_KEY_PATH)"
                    )
                    continue
                }
                if !fileExists(file) { fail(key, "names a file that does not exist (\(file))") }
            }
        case .httpsACME:
            if tls.domains.isEmpty { fail("tls.domains", "must name at least one domain in https-acme mode (also --domain NAME)") }
            if tls.domains.contains(where: TLSNames.isIPAddress) { fail("tls.domains", "must be DNS names in https-acme mode: ACME CAs do not issue for IP addresses") }
            let url = tls.acmeDirectoryURL
            if !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
                fail("tls.acme_directory", "must be production, staging or the directory's URL (got \"\(url)\")")
            }
            if let file = tls.acmeCAFile, !fileExists(file) { fail("tls.acme_ca_file", "names a file that does not exist (\(file))") }
            if let hook = tls.acmeDNSHook, !fileExists(hook) { fail("tls.acme_dns_hook", "names a command that does not exist (\(hook)); give its full path") }
        case .devSelfSigned, .packagedCA, .localHTTP:
            break
        }
        return problems
    }
}

/// Names a certificate may be for.
package enum TLSNames {
    /// A DNS name (labels of letters, digits and hyphens; a leading `*.` for a wildcard) or an
    /// IP address.
    package static func isValid(_ name: String) -> Bool {
        if isIPAddress(name) { return true }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*" { labels.removeFirst() }
        guard !labels.isEmpty, name.utf8.count <= 253 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    package static func isIPAddress(_ name: String) -> Bool { CIDR(name) != nil && !name.contains("/") }
}
