import Dialects
import Guards
import HTTPTypes
import NIOCore
import ProxyConfig
import Synchronization
import Upstreams

@testable import ProxyCore

/// Configuration snapshots and requests for driving the engine without sockets.
enum EngineFixtures {
    static let key = "client-key-123456"

    static func state(_ yaml: String = defaultYAML, keys: ManagedKeyIndex? = nil, extra: [any AdmissionGuard] = []) throws -> GatewayState {
        var config = try GatewayConfig.parse(yaml: yaml)
        config.discovery.localEngines = false
        config.assignProviderNames()
        let environment = EngineEnvironment(keys: keys, extraGuards: extra, isLocalSurface: { $0 == "/health" || $0.hasPrefix("/admin") })
        return GatewayState(config: config, engines: [], catalog: ModelCatalog(), health: HealthRegistry(), environment: environment)
    }

    static let defaultYAML = """
        auth:
          keys: ["\(key)"]
        routing:
          aliases: {fast: gpt-4o-mini}
        providers:
          - name: oa
            type: openai
            base_url: http://127.0.0.1:9/v1
            api_key: upstream-secret
            models: ["gpt-4o-mini", "gpt-4.1"]
          - name: an
            type: anthropic
            base_url: https://127.0.0.1:9
            models: ["claude-*"]
        server:
          max_request_size: 1000
        """

    static func request(_ path: String, key: String? = key, headers: [(String, String)] = []) -> HTTPRequest {
        request(.post, path, key: key, headers: headers)
    }

    static func request(_ method: HTTPRequest.Method, _ path: String, key: String? = key, headers: [(String, String)] = []) -> HTTPRequest {
        var fields = HTTPFields()
        if let key { fields[.authorization] = "Bearer \(key)" }
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        return HTTPRequest(method: method, scheme: nil, authority: "gw", path: path, headerFields: fields)
    }

    /// Runs both planning steps for a request with `body`.
    static func plan(_ request: HTTPRequest, body: String?, state: GatewayState) -> Outcome {
        switch RequestPlanner.head(request, peer: ConnectionPeer(try? SocketAddress(ipAddress: "127.0.0.1", port: 1)), state: state) {
        case .notProxied: return .notProxied
        case .reject(let rejection): return .rejected(rejection, atHead: true)
        case .answer(let response, _): return .answered(response)
        case .readBody(let pending):
            switch RequestPlanner.body(pending, body: body.map { ByteBuffer(string: $0) }) {
            case .reject(let rejection): return .rejected(rejection, atHead: false)
            case .forward(let plan): return .forward(plan)
            }
        }
    }

    enum Outcome {
        case notProxied
        case rejected(RequestPlanner.Rejection, atHead: Bool)
        case answered(LocalResponse)
        case forward(ForwardPlan)

        var rejection: RequestPlanner.Rejection? {
            if case .rejected(let rejection, _) = self { return rejection }
            return nil
        }
        var forward: ForwardPlan? {
            if case .forward(let plan) = self { return plan }
            return nil
        }
    }
}

/// A stateful guard that counts how often each stage asks it, and can refuse.
final class CountingGuard: AdmissionGuard {
    let heads = Atomic<Int>(0)
    let routed = Atomic<Int>(0)
    let refuseRouted: Bool

    init(refuseRouted: Bool = false) { self.refuseRouted = refuseRouted }

    var name: String { "counting" }

    func admitHead(_ admission: inout Admission) -> GuardVerdict {
        heads.add(1, ordering: .relaxed)
        return .admit
    }

    func admitRouted(_ admission: inout Admission) -> GuardVerdict {
        routed.add(1, ordering: .relaxed)
        return refuseRouted ? .reject(GatewayError(status: .tooManyRequests, code: .rateLimited, message: "slow down", retryAfter: 2)) : .admit
    }
}
