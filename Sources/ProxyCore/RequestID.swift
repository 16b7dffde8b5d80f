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
        hex(processPrefix) + hex(counter.add(1, ordering: .relaxed).newValue)
    }

    private static let processPrefix = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(UInt64.random(in: 0..<1 << 32))

    private static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
