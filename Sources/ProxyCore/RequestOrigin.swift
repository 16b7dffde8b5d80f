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

    package convenience init(peer: SocketAddress?, forwardedFor: String?, trustedProxies: [CIDR], userAgent: String?, query: Substring?) {
        self.init(peer: ConnectionPeer(peer), forwardedFor: forwardedFor, trustedProxies: trustedProxies, userAgent: userAgent, query: query)
    }

    package init(peer: ConnectionPeer, forwardedFor: String?, trustedProxies: [CIDR], userAgent: String?, query: Substring?) {
        self.peer = peer.address
        self.userAgent = userAgent
        self.query = query
        let address = ClientAddress.resolve(peer: peer.text, forwardedFor: forwardedFor, trusted: trustedProxies)
        clientAddress = address
        clientBytes = address == peer.text ? peer.bytes : address.flatMap(CIDR.bytes)
    }

    /// Whether the client's address lies in any of `networks`.
    package func isIn(_ networks: [CIDR]) -> Bool {
        guard let clientBytes else { return false }
        return networks.contains { $0.contains(bytes: clientBytes) }
    }
}

/// A connection's peer address, formatted and parsed once for all the requests the
/// connection carries (formatting it with `inet_ntop` and parsing it back cost ~3,600
/// instructions per request; issue 16).
package struct ConnectionPeer: Sendable {
    package let address: SocketAddress?
    /// The address as text (no port).
    package let text: String?
    /// ``text`` as 16 bytes (IPv4 mapped).
    package let bytes: [UInt8]?

    package init(_ address: SocketAddress?) {
        self.address = address
        text = address?.ipAddress
        bytes = text.flatMap(CIDR.bytes)
    }
}
