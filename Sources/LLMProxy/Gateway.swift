import Admin
import Certificates
import Foundation
import Guards
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ProxyConfig
import ProxyCore
import ServiceLifecycle
import Store
import Synchronization
import Telemetry
import Tunnel
import UnixSignals
import Upstreams

/// The running gateway: the HTTP listener, the upstream client, the background monitor and
/// (for the CLI) the signal handling, in one service group.
///
/// ```swift
/// let gateway = Gateway(config: config, loader: loader, logger: logger)
/// try await gateway.run()   // until SIGTERM/SIGINT, or `shutdown()`
/// ```
package final class Gateway: Sendable {
    package let loader: ConfigLoader
    let initialConfig: GatewayConfig
    let logger: Logger
    let requestLogger: Logger
    /// Trap SIGTERM/SIGINT (drain, then exit) and SIGHUP (reload). Off for gateways embedded
    /// in tests, which stop through ``shutdown()``.
    let handleSignals: Bool
    private let group = Mutex<ServiceGroup?>(nil)
    private let store = Mutex<StateStore?>(nil)
    private let storage = Mutex<Store?>(nil)

    /// Guards added after the standard ones (for embedders and tests).
    let extraGuards: [any AdmissionGuard]

    package convenience init(config: GatewayConfig, loader: ConfigLoader, logger: Logger, requestLogger: Logger, handleSignals: Bool = true) {
        self.init(config: config, loader: loader, logger: logger, requestLogger: requestLogger, handleSignals: handleSignals, extraGuards: [])
    }

    package init(config: GatewayConfig, loader: ConfigLoader, logger: Logger, requestLogger: Logger, handleSignals: Bool, extraGuards: [any AdmissionGuard]) {
        self.extraGuards = extraGuards
        self.initialConfig = config
        self.loader = loader
        self.logger = logger
        self.requestLogger = requestLogger
        self.handleSignals = handleSignals
    }

    /// Runs until shut down. `onListening` receives the bound port (useful with port 0).
    /// In a TLS mode `onListening` receives the plain-HTTP (redirect) port and
    /// `onListeningHTTPS` the HTTPS port.
    /// `onListeningTunnel` receives the tunnel's port when `tunnel.enabled`. With `serveHTTP`
    /// false only the tunnel listens (`llm-proxy tunnel serve`).
    package func run(
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }, onListeningHTTPS: @escaping @Sendable (Int) async -> Void = { _ in },
        onListeningTunnel: @escaping @Sendable (Int) async -> Void = { _ in }, serveHTTP: Bool = true
    ) async throws {
        let config = initialConfig
        // The tunnel's key is read before anything starts: a bad one stops the start-up.
        var tunnelKey: TunnelKey?
        if config.tunnel.enabled {
            switch config.tunnel.resolvedKey() {
            case .success(let bytes): tunnelKey = TunnelKey(bytes: bytes)
            case .failure(let problem): throw ConfigError([problem])
            }
        }
        let client = try UpstreamClient(config: config.upstream)
        let catalog = ModelCatalog()
        let health = HealthRegistry()
        // Managed keys live in memory for the whole run (loaded below when the database is on).
        let keyIndex = config.database.enabled ? ManagedKeyIndex() : nil
        // Instances sharing PostgreSQL lease their budgets from its pool (BudgetBroker).
        let limits = LimitState(leasedBudgets: config.database.enabled && config.database.url != nil)
        // Tracing is set up once per process (`tracing` changes take effect at a restart).
        let tracing = config.tracing.enabled ? try TracingSetup.make(config.tracing, version: GatewayVersion.current) : nil
        if config.tracing.enabled {
            logger.info(
                "tracing",
                metadata: [
                    "endpoint": .string(GatewayConfig.redactedURL(config.tracing.tracesURL)), "sampler": .string(config.tracing.samplerName),
                    "ratio": .stringConvertible(config.tracing.sampleRatio),
                ])
        }
        let environment = EngineEnvironment(
            keys: keyIndex, extraGuards: extraGuards, limits: limits, isLocalSurface: GatewayResponder.handles, tracer: tracing?.tracer)
        let store = StateStore(GatewayState(config: config, engines: [], catalog: catalog, health: health, environment: environment))
        self.store.withLock { $0 = store }
        let readiness = Readiness()
        let monitor = UpstreamMonitor(directory: store, catalog: catalog, client: client, health: health, logger: logger, ownPort: config.server.port)

        // First discovery and model lists before listening, so the start-up report is
        // complete; bounded, so an unreachable provider delays start-up by seconds at most.
        await UpstreamMonitor.withTimeLimit(.seconds(4)) { await monitor.refresh(announce: true) }
        await monitor.initialHealthChecks(limit: .seconds(3))
        announce(store.state)

        // The store, when on: keys into memory before the first request, events off the path.
        let metrics = GatewayMetrics(version: GatewayVersion.current)
        health.observeTransitions { [logger] endpoint, transition in
            switch transition {
            case .opened(let reason):
                logger.warning("circuit breaker opened: no requests to this endpoint for a while", metadata: ["endpoint": .string(endpoint), "reason": .string(reason)])
                metrics.breakerTransition(endpoint: endpoint, to: "open")
            case .halfOpened:
                logger.info("circuit breaker half-open: probing the endpoint", metadata: ["endpoint": .string(endpoint)])
                metrics.breakerTransition(endpoint: endpoint, to: "half_open")
            case .closed:
                logger.info("circuit breaker closed: the endpoint answers again", metadata: ["endpoint": .string(endpoint)])
                metrics.breakerTransition(endpoint: endpoint, to: "closed")
            }
        }
        var dataStore: Store?
        var recorder: EventRecorder?
        var cluster: ClusterMembership?
        if let index = keyIndex {
            let opened = try await Self.openStore(config.database, logger: logger)
            do {
                try await KeySync.load(store: opened, into: index)
                try await BudgetSeed.load(store: opened, config: config, ledger: limits.budgets)
                try await BlockSync.load(store: opened, into: limits.blocks)
            } catch {
                await opened.close()
                throw StoreError.unavailable("cannot read the keys, budgets or blocks from the database: \(error)")
            }
            if limits.budgets.leased {
                let membership = ClusterMembership(store: opened, cell: limits.cluster, logger: logger)
                do {
                    try await membership.join()
                } catch {
                    await opened.close()
                    throw StoreError.unavailable("cannot join the instances sharing the database: \(error)")
                }
                cluster = membership
            }
            dataStore = opened
            recorder = EventRecorder(
                store: opened, limit: config.database.eventQueueLimit, logger: logger,
                retentionDays: config.database.eventRetentionDays
            ) { metrics.eventsDropped($0) }
            logger.info(
                "store",
                metadata: [
                    "kind": .string(opened.kind.rawValue), "managed_keys": .stringConvertible(index.count),
                    "location": .string(config.database.url.map(Store.redacted) ?? config.database.path),
                ])
        }
        self.storage.withLock { $0 = dataStore }
        var admin: AdminAPI?
        if let dataStore, let keyIndex, config.admin.enabled {
            admin = try await makeAdmin(config: config.admin, store: dataStore, keys: keyIndex, state: store, blocks: limits.blocks)
        }

        // Whoever answers a request accounts for it here: metrics, the request log, analytics.
        let threatLogger = logger
        let threats = ThreatObserver(
            limits: limits, store: store,
            onBlock: { block, threshold in
                metrics.blocked(reason: block.reason)
                threatLogger.warning(
                    "address blocked",
                    metadata: [
                        "address": .string(block.address), "reason": .string(block.reason), "threshold": .stringConvertible(threshold),
                        "seconds": .stringConvertible((block.expiresAt - block.createdAt) / 1000), "strikes": .stringConvertible(block.strikes),
                    ])
            },
            onAnomaly: { anomaly, subject in
                metrics.anomaly(kind: anomaly.rawValue)
                threatLogger.warning("anomaly", metadata: ["kind": .string(anomaly.rawValue), "subject": .string(subject)])
            })
        var observers: [any RequestObserver] = [LimitSettlement(), threats, metrics, RequestLogObserver(store: store, logger: requestLogger)]
        if tracing != nil { observers.append(TraceObserver()) }
        if let recorder { observers.append(AnalyticsObserver(events: recorder)) }
        let requests = RequestRecorder(observers)
        let responder = GatewayResponder(
            store: store, readiness: readiness, metrics: metrics, recorder: requests, keys: keyIndex, admin: admin,
            events: recorder, startedAt: .now)
        let transport = PooledTransport(pool: client.pool)
        let logger = self.logger
        let connections = ConnectionLimiter()
        OpenFileLimit.raise(toServe: config.server.maxConnections, logger: logger)
        // In a TLS mode the engine listens on the HTTPS port and the HTTP port redirects to it.
        let certificates = config.tls.isEnabled ? try makeCertificates(config: config) : nil
        let hsts = config.tls.effectiveHSTSMaxAge
        let httpsPort = config.tls.httpsPort(serverPort: config.server.port)
        let app = Application(
            responder: responder,
            server: HTTPServerBuilder { respond in
                let http = GatewayHTTPChannel(responder: respond, store: store, connections: connections) {
                    HTTP1ProxyDriver(store: store, transport: transport, recorder: requests)
                }
                guard let certificates else { return http }
                var secure = http
                secure.transport = .tls(hstsMaxAge: hsts)
                return GatewayTLSChannel(http: secure, box: certificates.box)
            },
            configuration: .init(
                address: .hostname(config.server.host, port: certificates == nil ? config.server.port : httpsPort), serverName: nil, backlog: 1024),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.server.port
                let scheme = certificates == nil ? "http" : "https"
                logger.info("listening", metadata: ["address": .string("\(scheme)://\(config.server.host):\(port)")])
                if let certificates {
                    certificates.redirect.httpsPort.set(port)
                    await onListeningHTTPS(port)
                } else {
                    await onListening(port)
                }
            },
            logger: Logger(label: "llmproxy.http", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        var redirect: Application<HTTPSRedirect>?
        if let certificates {
            redirect = Application(
                responder: certificates.redirect,
                configuration: .init(address: .hostname(config.server.host, port: config.server.port), serverName: nil, backlog: 256),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? config.server.port
                    logger.info("redirecting to https", metadata: ["address": .string("http://\(config.server.host):\(port)")])
                    await onListening(port)
                },
                logger: Logger(label: "llmproxy.redirect", factory: { _ in SwiftLogNoOpLogHandler() })
            )
        }

        // Graceful shutdown runs in reverse order: the server drains before the recorder
        // writes the events the last requests left.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // First, so it stops last: the spans of the last requests are exported.
        if let tracing { services.append(.init(service: tracing.service)) }
        if let recorder { services.append(.init(service: recorder)) }
        // Sampled always (cheap, once a second), so a reload may turn memory or CPU shedding on.
        services.append(.init(service: ResourceSampler(shedder: limits.shedder)))
        if let dataStore, let keyIndex { services.append(.init(service: KeySync(store: dataStore, index: keyIndex, logger: logger))) }
        if let dataStore { services.append(.init(service: BlockSync(store: dataStore, blocks: limits.blocks, logger: logger))) }
        if let dataStore {
            services.append(
                .init(service: CacheSync(store: dataStore, state: store, instance: cluster?.instance ?? ClusterMembership.newInstanceID(), logger: logger)))
        }
        if let dataStore, limits.budgets.leased { services.append(.init(service: BudgetBroker(store: dataStore, ledger: limits.budgets, logger: logger))) }
        // Before the server: it leaves the list only once the server has drained.
        if let cluster { services.append(.init(service: cluster)) }
        if let certificates { services.append(.init(service: certificates.service)) }
        if let redirect, serveHTTP { services.append(.init(service: redirect)) }
        if let tunnelKey {
            let environment = TunnelEnvironment(
                store: store, transport: transport, recorder: requests, key: tunnelKey, config: config.tunnel,
                logger: Logger(label: "llmproxy.tunnel"))
            services.append(.init(service: TunnelServer(environment: environment, group: client.pool.group, drain: config.server.drainTimeout, onListening: onListeningTunnel)))
        }
        if serveHTTP { services.append(.init(service: app)) }
        services += [
            .init(service: monitor),
            .init(service: DrainMarker(readiness: readiness, logger: logger, drain: config.server.drainTimeout)),
        ]
        if handleSignals {
            services.append(
                .init(
                    service: ReloadService(
                        gateway: self, store: store, catalog: catalog, health: health, logger: logger,
                        onReload: { certificates?.service.reloadSoon() })))
        }
        var groupConfig = ServiceGroupConfiguration(services: services, logger: Logger(label: "llmproxy.lifecycle", factory: { _ in SwiftLogNoOpLogHandler() }))
        if handleSignals { groupConfig.gracefulShutdownSignals = [.sigterm, .sigint] }
        groupConfig.maximumGracefulShutdownDuration = .milliseconds(Int64(config.server.drainTimeout * 1000))
        groupConfig.maximumCancellationDuration = .seconds(5)
        let serviceGroup = ServiceGroup(configuration: groupConfig)
        group.withLock { $0 = serviceGroup }

        var failure: (any Error)?
        do {
            try await serviceGroup.run()
        } catch {
            failure = Self.explained(error, config: config)
            logger.error("stopped with an error", metadata: ["error": .string("\(failure!)")])
        }
        try? await client.shutdown()
        await dataStore?.close()
        logger.info("stopped")
        // The caller exits with an error (a port already taken is not a clean stop); a drain
        // that ran out of time and was cancelled is still a stop that was asked for.
        if let failure, !(failure is CancellationError) { throw failure }
    }

    /// A service's failure in words an operator can act on: a listening address already in
    /// use names the ports and how to change them.
    static func explained(_ error: any Error, config: GatewayConfig) -> any Error {
        guard let io = error as? IOError, io.errnoCode == EADDRINUSE else { return error }
        var ports = ["server.port \(config.server.port) on \(config.server.host)"]
        if config.tls.isEnabled { ports.append("the HTTPS port \(config.tls.httpsPort(serverPort: config.server.port))") }
        if config.tunnel.enabled { ports.append("tunnel.port \(config.tunnel.port)") }
        return StartFailure(
            description:
                "cannot listen: an address is already in use (\(ports.joined(separator: ", "))); stop the process holding it or choose another port (--port, LLMPROXY_PORT)"
        )
    }

    /// Why the gateway could not keep running, for the operator.
    package struct StartFailure: Error, CustomStringConvertible {
        package var description: String
    }

    /// The TLS mode's certificate (read, reused or made now), the service that keeps it
    /// current, and the redirecting responder of the plain-HTTP port.
    func makeCertificates(config: GatewayConfig) throws -> (box: TLSContextBox, service: CertificateService, redirect: HTTPSRedirect) {
        let tls = config.tls
        let directory = CertificateDirectory(root: config.tlsDirectory)
        var source = CertificateSource(config: tls, directory: directory)
        let bundle: CertificateBundle
        do {
            bundle = try source.initial()
        } catch {
            throw CertificateSourceError.unreadable("\(tls.mode.rawValue): \(error)")
        }
        let box = try TLSContextBox(bundle: bundle, http2: tls.http2)
        var metadata: Logger.Metadata = [
            "mode": .string(tls.mode.rawValue), "names": .string(bundle.names.joined(separator: ",")),
            "not_after": .string(CertificateBundle.text(bundle.notValidAfter)), "sha256": .string(bundle.fingerprint),
        ]
        if tls.mode == .packagedCA { metadata["root_ca"] = .string(directory.path("ca", "root.pem")) }
        if tls.mode != .https { metadata["directory"] = .string(directory.root) }
        logger.info("certificate", metadata: metadata)
        if tls.mode == .devSelfSigned {
            FileHandle.standardError.write(Data("llm-proxy: self-signed certificate, SHA-256 fingerprint \(bundle.fingerprint)\n".utf8))
        }
        let challenges = ChallengeResponses()
        var acme: (client: ACMEClient, solver: any ACMEChallengeSolver)?
        if tls.mode == .httpsACME {
            let client = ACMEClient(directoryURL: tls.acmeDirectoryURL, email: tls.email, caFile: tls.acmeCAFile, storage: directory)
            acme = (client, tls.acmeDNSHook.map { DNSHookSolver(hook: $0) } ?? HTTP01Solver(responses: challenges))
        }
        let service = CertificateService(source: source, box: box, logger: logger, acme: acme)
        return (box, service, HTTPSRedirect(httpsPort: tls.httpsPort(serverPort: config.server.port), challenges: challenges))
    }

    /// Stops accepting connections, lets requests in flight finish (up to the drain time),
    /// then returns from ``run(onListening:)``.
    package func shutdown() async {
        let group = self.group.withLock { $0 }
        await group?.triggerGracefulShutdown()
    }

    /// Re-reads the configuration and swaps it in if valid. Returns the problems when not
    /// (the old configuration stays).
    @discardableResult
    package func reload() -> [String] {
        guard let store = store.withLock({ $0 }) else { return ["the gateway is not running"] }
        return ReloadService.reload(loader: loader, store: store, logger: logger)
    }

    /// The admin API: account, session secret (configured or generated once and kept in the
    /// store), and its views of the running gateway.
    func makeAdmin(config: AdminConfig, store: Store, keys: ManagedKeyIndex, state: StateStore, blocks: BlockList) async throws -> AdminAPI {
        let credentials = try await AdminCredentials.resolve(config: config, store: store) { username, password in
            // Shown once, on the terminal, never in the JSON log.
            FileHandle.standardError.write(
                Data(
                    """
                    llm-proxy: the admin account is "\(username)" with the generated password  \(password)
                    llm-proxy: it is shown only now and stored only as a hash; set LLMPROXY_ADMIN_USER and LLMPROXY_ADMIN_PASSWORD to choose your own.

                    """.utf8))
        }
        let secret: String
        if let configured = config.jwtSecret {
            secret = configured
        } else {
            secret = try await store.settingOrInsert("jwt_secret", value: KeyIssuer.randomHex(bytes: 32))
        }
        let sessions = await AdminSessions(secret: secret, lifetimeHours: config.sessionHours)
        let upstreams = UpstreamsView(state: state)
        return AdminAPI(
            store: store, sessions: sessions, credentials: credentials,
            settings: { state.state.config.admin }, upstreams: { upstreams.render() },
            reload: { [weak self] in self?.reload() ?? ["the gateway is not running"] },
            onKeyChanged: { keys.upsert(hash: $0.hash, identity: $0.identity) }, blocks: blocks)
    }

    /// Opens the configured store: PostgreSQL when `url` is set, else the SQLite file.
    package static func openStore(_ config: DatabaseConfig, logger: Logger) async throws -> Store {
        if let url = config.url { return try await Store.openPostgres(url: url, logger: logger) }
        return try await Store.openSQLite(path: config.path, logger: logger)
    }

    func announce(_ state: GatewayState) {
        let providers = state.routes.providers
        if providers.isEmpty {
            logger.warning(
                "no upstream is configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY, start a local engine (Ollama on 11434, vLLM on 8000, LM Studio on 1234, llama.cpp on 8080), or pass -c with a configuration file (see examples/llmproxy.yaml)"
            )
        }
        for provider in providers {
            var metadata: Logger.Metadata = [
                "name": .string(provider.name),
                "type": .string(provider.type.rawValue),
                "base_url": .string(provider.type == .mock ? "mock" : provider.baseURL.description),
                "endpoints": .stringConvertible(provider.endpoints.count),
            ]
            if provider.isDiscoveredEngine { metadata["discovered"] = .stringConvertible(true) }
            if let host = provider.hostName { metadata["host"] = .string(host + (provider.hostPathPrefix ?? "")) }
            logger.info("upstream", metadata: metadata)
        }
        if !state.config.upstream.fastPath {
            logger.warning("upstream.fast_path has no effect any more: every proxied request goes through the one proxy engine (plain and TLS upstreams alike); remove the key")
        }
        if state.authenticator.isOpen {
            logger.warning(
                "no client key is configured: every request is accepted; \(state.config.server.allowUnauthenticatedPublicBind ? "public bind allowed by configuration" : "listening on loopback only")"
            )
        }
    }
}

/// Flips readiness to "not ready" as soon as a graceful shutdown starts, so load balancers
/// stop sending new requests while the ones in flight drain.
struct DrainMarker: Service {
    let readiness: Readiness
    let logger: Logger
    let drain: Double

    func run() async throws {
        try? await gracefulShutdown()
        readiness.startDraining()
        logger.info("draining: no new connections; requests in flight may finish", metadata: ["drain_timeout_s": .stringConvertible(drain)])
    }
}
