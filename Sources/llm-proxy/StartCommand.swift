import ArgumentParser
import Foundation
import LLMProxy
import Logging
import ProxyConfig
import Telemetry

/// `llm-proxy start`: runs the gateway until SIGTERM or SIGINT.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Run the gateway.",
        discussion: """
            With no configuration file the gateway listens on 127.0.0.1:8080, discovers local engines \
            (Ollama, vLLM, LM Studio, llama.cpp) and adds providers from OPENAI_API_KEY, \
            ANTHROPIC_API_KEY and GEMINI_API_KEY. SIGHUP reloads the configuration; SIGTERM and SIGINT \
            drain requests in flight, then exit.
            """
    )

    @Option(name: [.short, .customLong("config")], help: "Configuration file (YAML). Default: $LLMPROXY_CONFIG, else built-in defaults.")
    var config: String?

    @Option(help: "Address to listen on (overrides server.host).")
    var host: String?

    @Option(help: "Port to listen on (overrides server.port).")
    var port: Int?

    @Option(
        help: """
            Serving mode (overrides tls.mode): local-http (plain HTTP, by default on 127.0.0.1), dev-selfsigned, https \
            (--tls-cert/--tls-key), https-acme (--domain, --email; Let's Encrypt or --acme-directory), packaged-ca (a local \
            root CA issues the certificate). In a TLS mode --port serves plain \
            HTTP (redirects) and HTTPS listens on --https-port, by default --port + 1.
            """)
    var mode: ServeMode?

    @Option(name: .customLong("tls-cert"), help: "Certificate chain, PEM, leaf first (https mode; tls.cert_file).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "Private key of the certificate, PEM (https mode; tls.key_file).")
    var tlsKey: String?

    @Option(name: .customLong("https-port"), help: "Port of the HTTPS listener (tls.https_port). Default: --port + 1.")
    var httpsPort: Int?

    @Option(name: .customLong("domain"), help: "A name the certificate is for (repeatable; tls.domains).")
    var domains: [String] = []

    @Option(help: "Contact address for the ACME account (tls.email).")
    var email: String?

    @Option(name: .customLong("acme-directory"), help: "ACME directory: production (default, Let's Encrypt), staging or a URL (tls.acme_directory).")
    var acmeDirectory: String?

    @Option(name: .customLong("acme-ca-file"), help: "CA bundle (PEM) to trust for a private ACME server (tls.acme_ca_file).")
    var acmeCAFile: String?

    @Flag(help: "Run in the background, detached from the terminal (needs --pid-file); for hosts without systemd.")
    var daemon = false

    @Option(name: .customLong("pid-file"), help: "Write the gateway's process id to this file while it runs.")
    var pidFile: String?

    @Option(name: .customLong("log-file"), help: "With --daemon: append the gateway's output to this file (default: discarded).")
    var logFile: String?

    func validate() throws {
        if daemon, pidFile == nil { throw ValidationError("--daemon needs --pid-file FILE (stop the gateway with kill -TERM $(cat FILE))") }
        if logFile != nil, !daemon { throw ValidationError("--log-file is for --daemon; without it the gateway logs to its standard output") }
    }

    func run() async throws {
        if daemon, let pidFile {
            // The child runs the same command without --daemon (and --log-file, which is ours).
            var arguments = Array(CommandLine.arguments.dropFirst())
            arguments.removeAll { $0 == "--daemon" }
            if let index = arguments.firstIndex(of: "--log-file"), index + 1 < arguments.count { arguments.removeSubrange(index...(index + 1)) }
            arguments.removeAll { $0.hasPrefix("--log-file=") }
            try Daemon.spawn(arguments: arguments, pidFile: pidFile, logFile: logFile)
            return
        }
        let host = self.host, port = self.port, mode = self.mode, tlsCert = self.tlsCert, tlsKey = self.tlsKey
        let httpsPort = self.httpsPort, domains = self.domains, email = self.email
        let acmeDirectory = self.acmeDirectory, acmeCAFile = self.acmeCAFile
        let loader = ConfigLoader(path: config, environment: ProcessInfo.processInfo.environment) { config in
            if let host { config.server.host = host }
            if let port { config.server.port = port }
            if let tlsCert { config.tls.certFile = tlsCert }
            if let tlsKey { config.tls.keyFile = tlsKey }
            // Certificate files alone mean https.
            if tlsCert != nil || tlsKey != nil, !config.tls.isEnabled { config.tls.mode = .https }
            if let mode { config.tls.mode = mode.tlsMode }
            if let httpsPort { config.tls.httpsPort = httpsPort }
            if !domains.isEmpty { config.tls.domains = domains }
            if let email { config.tls.email = email }
            if let acmeDirectory { config.tls.acmeDirectory = acmeDirectory }
            if let acmeCAFile { config.tls.acmeCAFile = acmeCAFile }
        }
        try await GatewayLaunch.run(loader: loader, pidFile: pidFile)
    }
}

enum ServeMode: String, ExpressibleByArgument, CaseIterable {
    case localHTTP = "local-http"
    case devSelfSigned = "dev-selfsigned"
    case https
    case httpsACME = "https-acme"
    case packagedCA = "packaged-ca"

    var tlsMode: TLSMode { TLSMode(rawValue: rawValue) ?? .localHTTP }
}

/// Loads the configuration (exit 2 with every problem when it is not valid), sets up
/// logging, and runs the gateway: what `start` and `tunnel serve` share.
enum GatewayLaunch {
    static func run(loader: ConfigLoader, serveHTTP: Bool = true, pidFile: String? = nil) async throws {
        let configuration: GatewayConfig
        do {
            configuration = try loader.load()
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("llm-proxy: the configuration is not valid:\n\(error.description)\n".utf8))
            throw ExitCode(2)
        }
        if let pidFile { try PIDFile.write(pidFile) }
        defer { if let pidFile { PIDFile.remove(pidFile) } }
        LoggingSetup.bootstrap(configuration.logging)
        let logger = Logger(label: "llmproxy")
        for warning in configuration.warnings { logger.warning("\(warning)") }
        let gateway = Gateway(config: configuration, loader: loader, logger: logger, requestLogger: Logger(label: "llmproxy.request"))
        defer { LogLineHandler.flush() }
        do {
            try await gateway.run(serveHTTP: serveHTTP)
        } catch {
            LogLineHandler.flush()
            FileHandle.standardError.write(Data("llm-proxy: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
