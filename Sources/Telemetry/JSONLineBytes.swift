import Dialects

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A JSON log line built as UTF-8 bytes. The request log writes one per request: built with
/// `String` appends and interpolation it cost ~45,000 instructions (each append takes
/// String's general path; the timestamp alone was seven small strings), as bytes ~10,000
/// (issue 16, `bench/instructions.py`). The output is byte for byte what the `String`
/// helpers wrote: ``JSONText/quoted(_:)``'s escapes, `Double.description` for milliseconds.
package struct JSONLineBytes {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 384) {
        bytes.reserveCapacity(capacity)
    }

    /// Text that needs no escaping: keys, punctuation, fixed values.
    package mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `text` as a JSON string literal, quotes included, escaped as ``JSONText/quoted(_:)`` does.
    package mutating func quoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most values (ids, paths, model names) need no escape: one copy.
        if let copied = text.utf8.withContiguousStorageIfAvailable({ utf8 -> Bool in
            guard !utf8.contains(where: JSONText.needsEscape) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }), copied {
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case UInt8(ascii: "\n"): append("\\n")
            case UInt8(ascii: "\r"): append("\\r")
            case UInt8(ascii: "\t"): append("\\t")
            case 0..<0x20:
                append("\\u00")
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `key` (its comma, quotes and colon included) and `value`, when there is one.
    package mutating func field(_ key: StaticString, quoted value: String?) {
        guard let value else { return }
        raw(key)
        quoted(value)
    }

    /// `key` and `value`, when there is one.
    package mutating func field(_ key: StaticString, integer value: Int?) {
        guard let value else { return }
        raw(key)
        integer(value)
    }

    /// `key` and `value` (milliseconds, see ``milliseconds(_:)``), when there is one.
    package mutating func field(_ key: StaticString, milliseconds value: Double?) {
        guard let value else { return }
        raw(key)
        milliseconds(value)
    }

    /// A decimal integer.
    package mutating func integer(_ value: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        digits(value.magnitude, width: 1)
    }

    /// A duration in milliseconds already rounded to three places (``RequestRecord/milliseconds(_:)``),
    /// as `Double.description` writes it: `12.0`, `0.25`, `1234.567`. Below 10¹² ms the
    /// nearest double to a number of thousandths prints as those thousandths, trailing zeros
    /// cut; anything else (never a real duration) takes `description` itself.
    package mutating func milliseconds(_ value: Double) {
        guard value.isFinite, value >= 0, value < 1e12 else {
            bytes.append(contentsOf: value.description.utf8)
            return
        }
        let thousandths = UInt64((value * 1000).rounded())
        digits(thousandths / 1000, width: 1)
        bytes.append(UInt8(ascii: "."))
        var fraction = thousandths % 1000
        if fraction == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var width = 3
        while fraction % 10 == 0 {
            fraction /= 10
            width -= 1
        }
        digits(fraction, width: width)
    }

    /// The current time as the log's RFC 3339 UTC timestamp with milliseconds, quoted
    /// (``Timestamp/now()``'s format).
    package mutating func quotedTimestamp() {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var time = spec.tv_sec
        var parts = tm()
        gmtime_r(&time, &parts)
        bytes.append(UInt8(ascii: "\""))
        digits(UInt64(max(0, parts.tm_year + 1900)), width: 4)
        bytes.append(UInt8(ascii: "-"))
        digits(UInt64(max(0, parts.tm_mon + 1)), width: 2)
        bytes.append(UInt8(ascii: "-"))
        digits(UInt64(max(0, parts.tm_mday)), width: 2)
        bytes.append(UInt8(ascii: "T"))
        digits(UInt64(max(0, parts.tm_hour)), width: 2)
        bytes.append(UInt8(ascii: ":"))
        digits(UInt64(max(0, parts.tm_min)), width: 2)
        bytes.append(UInt8(ascii: ":"))
        digits(UInt64(max(0, parts.tm_sec)), width: 2)
        bytes.append(UInt8(ascii: "."))
        digits(UInt64(max(0, spec.tv_nsec / 1_000_000)), width: 3)
        append("Z\"")
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func append(_ text: StaticString) { raw(text) }

    /// `value` in decimal, zero-padded to at least `width` digits.
    private mutating func digits(_ value: some UnsignedInteger, width: Int) {
        var value = UInt64(value)
        // 24 bytes hold any UInt64's 20 digits.
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &buffer) { scratch in
            var end = scratch.count
            repeat {
                end -= 1
                scratch[end] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            } while value > 0
            while scratch.count - end < width, end > 0 {
                end -= 1
                scratch[end] = UInt8(ascii: "0")
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[end...]))
        }
    }
}
