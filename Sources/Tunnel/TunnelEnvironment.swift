import Dialects
import HTTPTypes
import Logging
import NIOCore
import ProxyConfig
import ProxyCore
import Synchronization

/// What every tunnel connection shares: the engine (state, transport, recorder), the key,
/// the replay cache, the limits of the tunnel's configuration when it started, a logger
/// for refusals, and the count of open connections.
package final class TunnelEnvironment: Sendable {
    let store: StateStore
    let transport: any UpstreamTransport
    let recorder: RequestRecorder
    let key: TunnelKey
    let config: TunnelConfig
    let replay: ReplayCache
    let logger: Logger
    let open = Atomic<Int>(0)

    package init(store: StateStore, transport: any UpstreamTransport, recorder: RequestRecorder, key: TunnelKey, config: TunnelConfig, logger: Logger) {
        self.store = store
        self.transport = transport
        self.recorder = recorder
        self.key = key
        self.config = config
        self.replay = ReplayCache(windowSeconds: config.replayWindow)
        self.logger = logger
    }

    /// Accounts for a tunnel request refused before it could be read (it never reached the
    /// planner): the request log, the metrics and a plain warning with the reason.
    func refused(_ error: GatewayError, reason: String, peer: SocketAddress?, version: Int) -> RequestRecord {
        var record = RequestRecord(id: RequestIdentifier.generate(), method: "TUNNEL", path: "/", start: .now)
        record.rule = "tunnel"
        record.dialect = Dialect.openai.rawValue
        record.errorCode = error.code
        record.status = error.status.code
        record.rejectedBy = "tunnel"
        record.origin = RequestOrigin(peer: peer, forwardedFor: nil, trustedProxies: [], userAgent: nil, query: nil)
        logger.warning(
            "tunnel request refused",
            metadata: [
                "peer": .string(peer?.ipAddress ?? "?"), "protocol": .stringConvertible(version), "code": .string(error.code.description),
                "reason": .string(reason),
            ])
        return record
    }
}

extension HTTPFields {
    /// The fields as name/value pairs (names lowercased), for the tunnel's documents.
    var pairs: [(name: String, value: String)] { map { ($0.name.canonicalName, $0.value) } }
}
