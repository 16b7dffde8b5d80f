import Synchronization

/// The random draws of load balancing: uniform enough to spread traffic by weight, and cheap.
/// `Double.random(in:)` asks the kernel (`getrandom`) on every call — one system call per
/// proxied request for a choice that needs no secrecy. A SplitMix64 sequence over one atomic
/// counter, seeded once from the system generator, costs an atomic add and a few multiplies.
package enum BalancerRandom {
    private static let state = Atomic<UInt64>(UInt64.random(in: .min ... .max))

    /// A draw in [0, 1).
    package static func next() -> Double {
        var z = state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        // The top 53 bits, as a double's mantissa allows.
        return Double(z >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }
}
