import Synchronization

/// Request ids: the client's own when it sent a sane one (so its logs and ours correlate),
/// otherwise a fresh random one.
package enum RequestIdentifier {
    /// Accepts 1–128 characters of `[A-Za-z0-9._:-]`; anything else could inject into logs.
    package static func sanitized(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128 else { return nil }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"):
                continue
            default:
                return nil
            }
        }
        return value
    }

    /// 32 lowercase hex characters: a random per-process prefix and a counter. Unique
    /// without a random-number syscall per request; ids need not be unpredictable.
    package static func generate() -> String {
        let prefix = processPrefix
        let count = counter.add(1, ordering: .relaxed).newValue
        // Written straight into the string's storage: one allocation, no radix conversion.
        return String(unsafeUninitializedCapacity: 32) { buffer in
            for digit in 0..<16 {
                let shift = UInt64(60 - 4 * digit)
                buffer[digit] = hexDigit(prefix >> shift)
                buffer[16 + digit] = hexDigit(count >> shift)
            }
            return 32
        }
    }

    /// The lowercase hex digit of the low four bits.
    private static func hexDigit(_ value: UInt64) -> UInt8 {
        let nibble = UInt8(truncatingIfNeeded: value & 0xF)
        return nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    private static let processPrefix = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(UInt64.random(in: 0..<1 << 32))
}
