#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128).
/// IPv4-mapped IPv6 client addresses (`::ffff:10.1.2.3`) match IPv4 networks.
package struct CIDR: Sendable, Equatable, CustomStringConvertible {
    /// 16 bytes; IPv4 networks are stored IPv4-mapped.
    let network: [UInt8]
    /// Prefix length over the 16 bytes.
    let bits: Int
    package let description: String

    package init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let address = Self.bytes(first) else { return nil }
        let isV4 = !first.contains(":")
        let maximum = isV4 ? 32 : 128
        var prefix = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value) else { return nil }
            prefix = value
        }
        bits = isV4 ? prefix + 96 : prefix
        network = Self.masked(address, bits: bits)
        description = text
    }

    /// Whether `address` (textual, v4 or v6) lies in this network.
    package func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address) else { return false }
        return Self.masked(bytes, bits: bits) == network
    }

    /// Whether an address already turned into 16 bytes (``bytes(_:)``) lies in this network,
    /// without allocating.
    package func contains(bytes address: [UInt8]) -> Bool {
        guard address.count == 16 else { return false }
        var index = 0
        var remaining = bits
        while remaining > 0 {
            let keep = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - keep))
            if address[index] & mask != network[index] { return false }
            remaining -= keep
            index += 1
        }
        return true
    }

    /// 16 bytes for an IPv4 (mapped) or IPv6 address, nil when it is neither.
    package static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            let value = UInt32(bigEndian: v4.s_addr)
            return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func masked(_ bytes: [UInt8], bits: Int) -> [UInt8] {
        var result = bytes
        for index in 0..<16 {
            let keep = max(0, min(8, bits - index * 8))
            result[index] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        return result
    }
}

extension CIDR {
    /// Networks that are not the public internet: this host, private ranges (RFC 1918,
    /// unique-local), carrier-grade NAT, link-local, multicast and reserved ranges. A
    /// relay that must not lead into its own network refuses them.
    package static let nonPublic: [CIDR] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10",
        "ff00::/8", "64:ff9b::/96",
    ].compactMap(CIDR.init)

    /// Whether the textual address lies outside the public internet (nil when `text` is not
    /// an address at all).
    package static func isNonPublic(_ text: String) -> Bool? {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        guard let bytes = bytes(String(text)) else { return nil }
        return nonPublic.contains { $0.contains(bytes: bytes) }
    }
}
