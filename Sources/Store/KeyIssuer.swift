import Crypto

/// Makes new client keys: `sk-` + 64 hex characters from the system's cryptographic random
/// source. Only the SHA-256 and a short hint are kept; the key itself is returned once.
package enum KeyIssuer {
    package static func issue(username: String, name: String?, expiresAt: Int64?, limits: KeyLimits, now: Int64) -> (key: ManagedKey, secret: String) {
        let secret = "sk-" + randomHex(bytes: 32)
        let id = "key_" + randomHex(bytes: 8)
        let key = ManagedKey(
            id: id, hash: sha256Hex(secret), hint: hint(secret), username: username, name: name,
            createdAt: now, expiresAt: expiresAt, limits: limits)
        return (key, secret)
    }

    /// `bytes` bytes from the system's cryptographic random source, as lowercase hex.
    package static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    package static func sha256Hex(_ text: String) -> String {
        hex(Array(SHA256.hash(data: Array(text.utf8))))
    }

    /// `sk-1a2b…9f8e`: enough to recognise a key, far too little to use it.
    static func hint(_ secret: String) -> String {
        String(secret.prefix(7)) + "…" + String(secret.suffix(4))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The longest lifetime a key may be given: 100 years (36500 days), in ms.
    package static let maxLifetimeMs: Int64 = 36_500 * 86_400_000

    /// Parses a lifetime like `30d`, `12h`, `90m` or `3600s` into milliseconds; nil when it is
    /// malformed, not above 0, or longer than ``maxLifetimeMs`` (checked without overflow,
    /// since the text comes from a request).
    package static func duration(_ text: String) -> Int64? {
        guard let unit = text.last, let value = Int64(text.dropLast()), value > 0 else { return nil }
        let scale: Int64
        switch unit {
        case "d": scale = 86_400_000
        case "h": scale = 3_600_000
        case "m": scale = 60_000
        case "s": scale = 1000
        default: return nil
        }
        let (ms, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow, ms <= maxLifetimeMs else { return nil }
        return ms
    }
}
