/// A deterministic 64-bit digest of a request's cacheable prefix (see
/// ``TopLevelFields/PrefixRanges``): the instructions and tools (up to 16 KiB each) and the
/// first 1 KiB of the conversation. Requests of one conversation, and conversations that
/// share a long system prompt, get the same digest, so prompt-cache affinity sends them to
/// the same endpoint. The same on every instance (no per-process seed), so instances sharing
/// upstreams agree.
package enum PrefixHash {
    static let instructionsLimit = 16 * 1024
    static let conversationLimit = 1024

    /// nil when the body has none of the fields.
    package static func of(_ bytes: UnsafeRawBufferPointer, prefix: TopLevelFields.PrefixRanges) -> UInt64? {
        guard !prefix.isEmpty else { return nil }
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15
        for (range, limit, tag) in [
            (prefix.instructions, instructionsLimit, UInt64(1)), (prefix.tools, instructionsLimit, 2), (prefix.conversation, conversationLimit, 3),
        ] {
            guard let range, range.lowerBound >= 0, range.upperBound <= bytes.count else { continue }
            hash = mix(hash ^ tag)
            let end = range.lowerBound + min(range.count, limit)
            var index = range.lowerBound
            // Eight bytes at a time, then the rest.
            while index + 8 <= end {
                var word: UInt64 = 0
                for offset in 0..<8 { word |= UInt64(bytes[index + offset]) << (offset * 8) }
                hash = mix(hash ^ word)
                index += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while index < end {
                tail |= UInt64(bytes[index]) << shift
                shift += 8
                index += 1
            }
            hash = mix(hash ^ tail ^ (UInt64(end - range.lowerBound) << 1))
        }
        return hash
    }

    /// A strong 64-bit mixer (the finaliser of SplitMix64).
    package static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The digest of a session key the client sent (`x-llmproxy-session`).
    package static func of(session: String) -> UInt64 {
        var hash: UInt64 = 0x51ED_2701_F3A5_C7B9
        for byte in session.utf8 { hash = mix(hash ^ UInt64(byte)) }
        return hash
    }
}
