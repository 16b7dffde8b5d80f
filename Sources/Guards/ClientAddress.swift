import ProxyConfig

/// The address a request really comes from. Behind a reverse proxy the peer is the proxy; its
/// `X-Forwarded-For` names the client, but only a proxy the operator trusts
/// (`server.trusted_proxies`) may say so — anyone else could name any address and escape a
/// per-address limit.
package enum ClientAddress {
    /// Walks `X-Forwarded-For` from the right (the hop nearest to us) past trusted proxies;
    /// the first untrusted address is the client. An untrusted peer is the client itself.
    package static func resolve(peer: String?, forwardedFor: String?, trusted: [CIDR]) -> String? {
        guard let peer else { return nil }
        guard !trusted.isEmpty, let forwardedFor, trusted.contains(where: { $0.contains(peer) }) else { return peer }
        var client = peer
        // Bounded: a header with thousands of hops is not walked past the first 32.
        for hop in forwardedFor.split(separator: ",").reversed().prefix(32) {
            let address = hop.trimmingCharacters(in: " \t")
            guard CIDR(address) != nil else { return client }
            client = address
            if !trusted.contains(where: { $0.contains(address) }) { return address }
        }
        return client
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
