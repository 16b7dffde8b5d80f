import ArgumentParser
import Foundation
import LLMProxy
import Logging
import NIOCore
import NIOPosix
import ProxyConfig
import ServiceLifecycle
import Telemetry
import Tunnel

/// `llm-proxy tunnel`: the encrypted TCP tunnel (docs/TUNNEL.md).
struct TunnelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tunnel",
        abstract: "The encrypted TCP tunnel: an xllm-compatible server, and a client exposing a local HTTP endpoint through it.",
        subcommands: [TunnelKeygenCommand.self, TunnelServeCommand.self, TunnelClientCommand.self]
    )
}

struct TunnelKeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Print a new random 32-byte tunnel key (64 hex digits).",
        discussion: "Give it to the server (tunnel.key, LLMPROXY_TUNNEL_KEY or --key-file) and to every client.")

    func run() throws {
        print(TunnelKey.generateHex())
    }
}

/// The key options shared by `serve` and `client`.
struct TunnelKeyOptions: ParsableArguments {
    @Option(name: .customLong("key-file"), help: "File holding the 32-byte key (hex or base64).")
    var keyFile: String?

    @Option(help: "The 32-byte key, hex or base64 (prefer --key-file or LLMPROXY_TUNNEL_KEY: arguments are visible to other users).")
    var key: String?
}

struct TunnelServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the tunnel server alone (no HTTP listener).",
        discussion: """
            Listens on 0.0.0.0:50051 by default (XLLM_PROXY_HOST, XLLM_PROXY_PORT) for protocol v1 (the xllm client) and v2 \
            (llm-proxy tunnel client) on the same port. Requests may reach the configured providers and the hosts given with \
            --allow-host; nothing else. To serve the tunnel beside the HTTP API in one process, set tunnel.enabled in the \
            configuration and use `llm-proxy start`.
            """)

    @Option(name: [.short, .customLong("config")], help: "Configuration file (YAML). Default: $LLMPROXY_CONFIG, else built-in defaults.")
    var config: String?

    @OptionGroup var keys: TunnelKeyOptions

    @Option(help: "Address to listen on (tunnel.host).")
    var host: String?

    @Option(help: "Port to listen on (tunnel.port).")
    var port: Int?

    @Option(name: .customLong("allow-host"), help: "An upstream HOST or HOST:PORT requests may reach besides the providers (repeatable; tunnel.allow_hosts).")
    var allowHosts: [String] = []

    func run() async throws {
        let host = self.host, port = self.port, allowHosts = self.allowHosts, key = keys.key, keyFile = keys.keyFile
        let loader = ConfigLoader(path: config, environment: ProcessInfo.processInfo.environment) { config in
            config.tunnel.enabled = true
            if let host { config.tunnel.host = host }
            if let port { config.tunnel.port = port }
            if let key {
                config.tunnel.key = key
                config.tunnel.keyFile = nil
            }
            if let keyFile {
                config.tunnel.keyFile = keyFile
                config.tunnel.key = nil
            }
            config.tunnel.allowHosts += allowHosts
        }
        try await GatewayLaunch.run(loader: loader, serveHTTP: false)
    }
}

struct TunnelClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Expose a local HTTP endpoint whose requests travel through the tunnel (protocol v2).",
        discussion: """
            Point any OpenAI, Anthropic or Gemini SDK at http://LISTEN (for OpenAI: http://LISTEN/v1). Requests go to \
            --upstream, or by default to the public API of their dialect (api.openai.com, api.anthropic.com, \
            generativelanguage.googleapis.com); the server must allow that host. The SDK's own API key travels inside the tunnel.
            """)

    @Option(help: "Local address to listen on, HOST:PORT (port 0 picks a free one).")
    var listen = "127.0.0.1:8089"

    @Option(help: "The tunnel server, HOST:PORT (default port 50051).")
    var server: String

    @OptionGroup var keys: TunnelKeyOptions

    @Option(help: "Base URL every request goes to upstream, like https://api.openai.com (default: by the request's dialect).")
    var upstream: String?

    @Option(name: .customLong("max-request-size"), help: "Largest request body accepted locally, in bytes. Default 10485760.")
    var maxRequestSize = 10_485_760

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var tunnel = TunnelConfig()
        tunnel.key = keys.key ?? (keys.keyFile == nil ? environment["LLMPROXY_TUNNEL_KEY"] : nil)
        tunnel.keyFile = keys.keyFile
        let keyBytes: [UInt8]
        switch tunnel.resolvedKey() {
        case .success(let bytes): keyBytes = bytes
        case .failure(let problem):
            FileHandle.standardError.write(Data("llm-proxy: \(problem.description.replacingOccurrences(of: "config: tunnel.key", with: "the key"))\n".utf8))
            throw ExitCode(2)
        }
        guard let (listenHost, listenPort) = Self.hostPort(listen, defaultPort: 8089) else {
            throw ValidationError("--listen must be HOST:PORT, like 127.0.0.1:8089 (got \(listen))")
        }
        guard let (serverHost, serverPort) = Self.hostPort(server, defaultPort: 50051) else {
            throw ValidationError("--server must be HOST or HOST:PORT, like tunnel.example.com:50051 (got \(server))")
        }
        if let upstream, !(upstream.hasPrefix("http://") || upstream.hasPrefix("https://")) {
            throw ValidationError("--upstream must be an http:// or https:// URL (got \(upstream))")
        }
        var settings = TunnelClientSettings(serverHost: serverHost, key: TunnelKey(bytes: keyBytes))
        settings.listenHost = listenHost
        settings.listenPort = listenPort
        settings.serverPort = serverPort
        settings.upstream = upstream
        settings.maxRequestBytes = maxRequestSize
        LoggingSetup.bootstrap(LoggingConfig())
        let logger = Logger(label: "llmproxy.tunnel")
        let client = TunnelClient(settings: settings, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        var group = ServiceGroupConfiguration(services: [.init(service: client)], logger: Logger(label: "llmproxy.lifecycle", factory: { _ in SwiftLogNoOpLogHandler() }))
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        defer { LogLineHandler.flush() }
        try await ServiceGroup(configuration: group).run()
    }

    /// `host:port`, `[v6]:port` or a bare host.
    static func hostPort(_ text: String, defaultPort: Int) -> (String, Int)? {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return (host, defaultPort) }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (0...65535).contains(port) else { return nil }
            return (host, port)
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 1, !text.isEmpty { return (text, defaultPort) }
        guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (0...65535).contains(port) else { return nil }
        return (String(parts[0]), port)
    }
}

/// One logging setup for every command that runs a server.
enum LoggingSetup {
    static func bootstrap(_ config: LoggingConfig) {
        let format = config.format.resolved(isTerminal: isatty(STDOUT_FILENO) != 0)
        LoggingSystem.bootstrap { label in
            // The request log is on at info unless logging.levels says otherwise for it.
            let level = label == "llmproxy.request" && config.levels[label] == nil ? .info : Logger.Level(config.level(for: label))
            return LogLineHandler(label: label, level: level, format: format)
        }
    }
}
