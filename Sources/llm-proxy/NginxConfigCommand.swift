import ArgumentParser
import Foundation
import LLMProxy
import ProxyConfig

/// `llm-proxy nginx-config`: prints an nginx site that puts nginx in front of this gateway
/// (see ``NginxSite``), reading the gateway's address, TLS mode and body limit from its
/// configuration. Nothing is written or reloaded: redirect it to a file, then `nginx -t`.
struct NginxConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nginx-config",
        abstract: "Print an nginx site for running nginx in front of the gateway (TLS, admin networks, streaming-safe proxying)."
    )

    @Option(name: [.short, .customLong("config")], help: "The gateway's configuration file (YAML). Default: $LLMPROXY_CONFIG, else built-in defaults.")
    var config: String?

    @Option(help: "The public host name; with it nginx serves HTTPS with certbot's certificate. Without it, plain HTTP only.")
    var domain: String?

    @Option(help: "Certificate chain file. Default: /etc/letsencrypt/live/DOMAIN/fullchain.pem.")
    var certificate: String?

    @Option(name: .customLong("certificate-key"), help: "Private key file. Default: /etc/letsencrypt/live/DOMAIN/privkey.pem.")
    var certificateKey: String?

    @Option(name: .customLong("admin-cidr"), help: "A network allowed to reach /admin, /api/, /auth/ and /metrics (repeat for more). Default: loopback only.")
    var adminNetworks: [String] = []

    @Option(name: .customLong("http-port"), help: "nginx's plain HTTP port. Default 80.")
    var httpPort = 80

    @Option(name: .customLong("https-port"), help: "nginx's HTTPS port. Default 443.")
    var httpsPort = 443

    @Option(name: .customLong("acme-webroot"), help: "certbot's webroot for HTTP challenges. Default /var/www/certbot.")
    var acmeWebroot = "/var/www/certbot"

    func run() throws {
        let loader = ConfigLoader(path: config, environment: ProcessInfo.processInfo.environment)
        let gateway: GatewayConfig
        do {
            gateway = try loader.load()
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("configuration is not valid:\n\(error.description)\n".utf8))
            throw ExitCode.failure
        }
        var site = NginxSite(config: gateway)
        site.domain = domain
        site.certificate = certificate
        site.certificateKey = certificateKey
        if !adminNetworks.isEmpty { site.adminNetworks = adminNetworks }
        site.httpPort = httpPort
        site.httpsPort = httpsPort
        site.acmeWebroot = acmeWebroot
        let problems = site.problems
        guard problems.isEmpty else {
            FileHandle.standardError.write(Data((problems.joined(separator: "\n") + "\n").utf8))
            throw ExitCode.validationFailure
        }
        print(site.render(), terminator: "")
    }
}
