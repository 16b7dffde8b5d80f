import Crypto
import Dialects
import NIOCore

/// What identifies a cacheable request: the SHA-256 of its scope, its route and its body in
/// canonical JSON (see ``JSON/canonicalText``). A collision-resistant digest, not a fast
/// hash: two requests with one key get one answer, so a key must never be forgeable across
/// scopes. The client's key (when the scope is `key` or `owner` without a managed key) goes
/// into the digest and nowhere else.
package struct CacheKey: Hashable, Sendable {
    let a: UInt64
    let b: UInt64
    let c: UInt64
    let d: UInt64

    /// - Parameters:
    ///   - scope: who may share the answer ("" for everyone).
    ///   - route: what decides where the request goes and what it asks (method, path, the
    ///     route's providers, the query without credentials).
    ///   - body: the request body; JSON is normalised, anything else taken as it is.
    package init(scope: String, route: [String], body: ByteBuffer?) {
        var hasher = SHA256()
        func field(_ text: String) {
            var length = UInt64(text.utf8.count).littleEndian
            withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
            hasher.update(data: Array(text.utf8))
        }
        field("llmproxy-cache-v1")
        field(scope)
        for part in route { field(part) }
        if let body {
            let canonical = body.withUnsafeReadableBytes { bytes -> String? in
                guard case .success(let json) = JSON.parse(bytes) else { return nil }
                return json.canonicalText
            }
            if let canonical {
                field("json")
                field(canonical)
            } else {
                field("raw")
                body.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            }
        } else {
            field("none")
        }
        var words: [UInt64] = []
        hasher.finalize().withUnsafeBytes { digest in
            for index in 0..<4 { words.append(digest.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
        }
        (a, b, c, d) = (words[0], words[1], words[2], words[3])
    }

    /// The digest in hex (64 characters): the key's name in the store's second level.
    package var hex: String {
        [a, b, c, d].map { word in
            let digits = String(word, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
    }

    /// A key read back from the store; nil unless exactly 64 hex digits.
    package init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64, utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        var words: [UInt64] = []
        for index in 0..<4 {
            guard let word = UInt64(String(decoding: utf8[(index * 16)..<(index * 16 + 16)], as: UTF8.self), radix: 16) else { return nil }
            words.append(word)
        }
        (a, b, c, d) = (words[0], words[1], words[2], words[3])
    }
}
