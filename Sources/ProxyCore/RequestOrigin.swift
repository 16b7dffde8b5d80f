import Guards
import NIOCore
import ProxyConfig

/// Where a request came from: the connection's peer, the `X-Forwarded-For` it carried (kept
/// only when trusted proxies are configured), its user agent and query, and the client's
/// address worked out once from them. One object per request shared by the admission and the
/// record (a reference, so copying the record costs one retain, not five), read by the
/// address guards and the detectors.
package final class RequestOrigin: Sendable {
    package let peer: SocketAddress?
    package let userAgent: String?
    package let query: Substring?
    /// The peer, or the first untrusted hop of `X-Forwarded-For` when the peer is a trusted proxy.
    package let clientAddress: String?
    /// ``clientAddress`` as 16 bytes (IPv4 mapped), for network lists without parsing per list entry.
    package let clientBytes: [UInt8]?

    package init(peer: SocketAddress?, forwardedFor: String?, trustedProxies: [CIDR], userAgent: String?, query: Substring?) {
        self.peer = peer
        self.userAgent = userAgent
        self.query = query
        let address = ClientAddress.resolve(peer: peer?.ipAddress, forwardedFor: forwardedFor, trusted: trustedProxies)
        clientAddress = address
        clientBytes = address.flatMap(CIDR.bytes)
    }

    /// Whether the client's address lies in any of `networks`.
    package func isIn(_ networks: [CIDR]) -> Bool {
        guard let clientBytes else { return false }
        return networks.contains { $0.contains(bytes: clientBytes) }
    }
}
