import Crypto
import Dialects

/// Decides whether a presented client key may use the gateway, and which providers it may
/// reach. Keys are held only as SHA-256 digests and compared in constant time.
///
/// Rules (the multi-provider seed's, closed): a key is valid for a provider when it is a
/// global key or one of that provider's `auth_keys`. Only a gateway with no client key
/// configured anywhere is open; once any key exists, a provider without `auth_keys` of its
/// own takes the global (and managed) keys only — never no key at all.
package struct ClientAuthenticator: Sendable {
    let global: [KeyDigest]
    let perProvider: [String: [KeyDigest]]

    /// - Parameters:
    ///   - globalKeys: keys as configured (plain, `sha256:<hex>` or 64-hex digests).
    ///   - providerKeys: provider name → its `auth_keys`.
    package init(globalKeys: [String], providerKeys: [String: [String]]) {
        global = globalKeys.map(KeyDigest.init(configured:))
        perProvider = providerKeys.filter { !$0.value.isEmpty }.mapValues { $0.map(KeyDigest.init(configured:)) }
    }

    /// No key is configured anywhere: every request is accepted.
    package var isOpen: Bool { global.isEmpty && perProvider.isEmpty }

    /// The verdict before routing: `.accepted` for a global key (or when nothing is
    /// configured), `.needsProvider` when only provider keys could still accept it.
    package enum Verdict: Equatable {
        case accepted, needsProvider
        case rejected(missing: Bool)
    }

    package func check(_ presented: String?) -> Verdict {
        check(presented, digest: nil)
    }

    /// ``check(_:)`` with the presented key's digest when the caller has it already.
    func check(_ presented: String?, digest known: KeyDigest?) -> Verdict {
        if isOpen { return .accepted }
        guard let presented, !presented.isEmpty else { return .rejected(missing: true) }
        let digest = known ?? KeyDigest(presented: presented)
        if Self.contains(global, digest) { return .accepted }
        return perProvider.isEmpty && !global.isEmpty ? .rejected(missing: false) : .needsProvider
    }

    /// After routing: may `presented` use `provider`?
    package func allows(_ presented: String?, provider: String) -> Bool {
        if isOpen { return true }
        let own = perProvider[provider] ?? []
        guard let presented, !presented.isEmpty else { return false }
        let digest = KeyDigest(presented: presented)
        return Self.contains(global, digest) || Self.contains(own, digest)
    }

    /// Whether `presented` is one of any provider's `auth_keys` (or a global key): what opens
    /// the surfaces that span providers, such as the model listings.
    package func allowsAnyProvider(_ presented: String?) -> Bool {
        if isOpen { return true }
        guard let presented, !presented.isEmpty else { return false }
        let digest = KeyDigest(presented: presented)
        var found = Self.contains(global, digest)
        for keys in perProvider.values { found = Self.contains(keys, digest) || found }
        return found
    }

    /// Compares against every configured digest without stopping early, so the time taken
    /// does not reveal which (or whether a) key matched.
    static func contains(_ keys: [KeyDigest], _ digest: KeyDigest) -> Bool {
        var found = false
        for key in keys { found = key.constantTimeEquals(digest) || found }
        return found
    }
}

/// A SHA-256 digest of a client key.
struct KeyDigest: Sendable {
    let bytes: [UInt8]

    init(presented key: String) {
        bytes = Array(SHA256.hash(data: Array(key.utf8)))
    }

    /// A configured key: `sha256:<hex>` and bare 64-hex strings are digests already.
    init(configured key: String) {
        var hex = Substring(key)
        if hex.lowercased().hasPrefix("sha256:") { hex = hex.dropFirst(7) }
        if hex.count == 64, let decoded = Self.decodeHex(hex) {
            bytes = decoded
        } else {
            bytes = Array(SHA256.hash(data: Array(key.utf8)))
        }
    }

    func constantTimeEquals(_ other: KeyDigest) -> Bool {
        guard bytes.count == other.bytes.count else { return false }
        var difference: UInt8 = 0
        for index in bytes.indices { difference |= bytes[index] ^ other.bytes[index] }
        return difference == 0
    }

    static func decodeHex(_ hex: Substring) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(hex.count / 2)
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let h = nibble(high), let l = nibble(low) else { return nil }
            result.append(h << 4 | l)
        }
        return result
    }

    static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
