import AsyncHTTPClient
import Foundation
import LLMProxy
import Logging
import NIOCore
import NIOHTTP1
import ProxyConfig
import ProxyCore
import Synchronization

/// A gateway running inside the test process on a free port, in front of mock upstreams.
final class GatewayHarness: Sendable {
    let gateway: Gateway
    let port: Int
    /// The tunnel's port, when the configuration enables it (0 otherwise).
    let tunnelPort: Int
    private let task: Task<Void, any Error>
    /// The folder of the SQLite file made for this gateway (nil when the test chose a
    /// database), removed when it stops.
    private let scratch: String?

    /// Starts a gateway from YAML (with `discovery.local_engines` off unless the YAML says
    /// otherwise), on 127.0.0.1 and a free port.
    static func start(
        yaml: String, environment: [String: String] = [:], logRequests: Bool = false, configPath: String? = nil,
        extraGuards: [any AdmissionGuard] = []
    ) async throws -> GatewayHarness {
        var config = try GatewayConfig.parse(yaml: yaml)
        if !yaml.contains("local_engines") { config.discovery.localEngines = false }
        try config.applyEnvironment(environment)
        config.server.host = "127.0.0.1"
        config.server.port = 0
        config.logging.requests = logRequests
        // Each gateway gets its own SQLite file unless the test chose a database.
        var scratch: String?
        if !yaml.contains("database:") && environment["LLMPROXY_DATABASE_URL"] == nil {
            let folder = NSTemporaryDirectory() + "llmproxy-test-\(UUID().uuidString)"
            config.database.path = folder + "/llmproxy.sqlite"
            scratch = folder
        }
        if config.tunnel.enabled {
            config.tunnel.host = "127.0.0.1"
            config.tunnel.port = 0
        }
        // No admin account configured: one whose password nobody knows, instead of a password
        // generated and bcrypt-hashed at every start (a hundred gateways in one test run
        // queue seconds of hashing ahead of the sign-ins the admin tests time).
        if config.admin.password == nil, config.admin.passwordHash == nil {
            config.admin.passwordHash = "$2b$04$" + String(repeating: "N", count: 22) + String(repeating: "x", count: 31)
        }
        config.assignProviderNames()
        let problems = config.validate()
        if !problems.isEmpty { throw ConfigError(problems) }
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let gateway = Gateway(
            config: config, loader: ConfigLoader(path: configPath, environment: [:]), logger: quiet, requestLogger: quiet,
            handleSignals: false, extraGuards: extraGuards)
        let ready = AsyncStream<Int>.makeStream()
        let tunnelReady = AsyncStream<Int>.makeStream()
        let task = Task {
            defer {
                ready.continuation.finish()
                tunnelReady.continuation.finish()
            }
            try await gateway.run(
                onListening: { port in ready.continuation.yield(port) }, onListeningTunnel: { port in tunnelReady.continuation.yield(port) })
        }
        var port = 0
        for await bound in ready.stream {
            port = bound
            break
        }
        var tunnelPort = 0
        if config.tunnel.enabled, port != 0 {
            for await bound in tunnelReady.stream {
                tunnelPort = bound
                break
            }
        }
        if port == 0 {
            // The gateway stopped before listening: report why instead of waiting forever.
            defer { scratch.map { try? FileManager.default.removeItem(atPath: $0) } }
            try await task.value
            throw ConfigError([ConfigProblem(path: "(test)", message: "the gateway stopped before it listened")])
        }
        return GatewayHarness(gateway: gateway, port: port, tunnelPort: tunnelPort, task: task, scratch: scratch)
    }

    private init(gateway: Gateway, port: Int, tunnelPort: Int, task: Task<Void, any Error>, scratch: String?) {
        self.gateway = gateway
        self.port = port
        self.tunnelPort = tunnelPort
        self.task = task
        self.scratch = scratch
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func stop() async {
        await gateway.shutdown()
        _ = try? await task.value
        if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
    }
}

/// A response read whole, for assertions.
struct TestResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }
}

enum TestHTTP {
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(5), read: .seconds(30))))

    static func send(_ method: HTTPMethod = .POST, _ url: String, headers: [(String, String)] = [], body: String? = nil) async throws -> TestResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { request.headers.add(name: "content-type", value: "application/json") }
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return TestResponse(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }
}

/// Runs `body` with mock upstreams and a gateway, stopping all of them afterwards.
func withGateway(
    upstreams names: [String] = ["primary"],
    yaml: (_ upstreams: [String: MockUpstream]) -> String,
    _ body: (_ gateway: GatewayHarness, _ upstreams: [String: MockUpstream]) async throws -> Void
) async throws {
    var upstreams: [String: MockUpstream] = [:]
    for name in names {
        let upstream = MockUpstream(name: name, requiredKey: "upstream-key-\(name)")
        try await upstream.start()
        upstreams[name] = upstream
    }
    do {
        let gateway = try await GatewayHarness.start(yaml: yaml(upstreams))
        do {
            try await body(gateway, upstreams)
        } catch {
            await gateway.stop()
            throw error
        }
        await gateway.stop()
    } catch {
        for upstream in upstreams.values { await upstream.stop() }
        throw error
    }
    for upstream in upstreams.values { await upstream.stop() }
}

/// Polls `condition` until it holds or `timeout` passes (20 s by default: prompt when the
/// condition comes true, and patient with a loaded CI machine when it is late).
func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
