/// The few top-level fields of a JSON request body the gateway routes on, found by scanning
/// the bytes once instead of decoding the whole document (a chat request can carry megabytes
/// of messages the gateway never needs to look at).
public struct TopLevelFields: Sendable, Equatable {
    /// The `model` string, unescaped.
    public var model: String?
    /// Byte offsets of the `model` value, quotes included, for rewriting an alias.
    public var modelRange: Range<Int>?
    /// The `stream` flag when present as a JSON boolean.
    public var stream: Bool?
    /// Whether `stream_options` is present.
    public var hasStreamOptions = false

    public init() {}

    /// Scans `bytes`, which must hold one JSON object. Returns nil when the body is not a
    /// well-formed top-level object (nested values are skipped, not validated in depth).
    public static func scan(_ bytes: UnsafeRawBufferPointer) -> TopLevelFields? {
        var scanner = Scanner(bytes: bytes)
        return scanner.scanObject()
    }

    public static func scan(_ bytes: [UInt8]) -> TopLevelFields? {
        bytes.withUnsafeBytes { scan($0) }
    }
}

private struct Scanner {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func expect(_ byte: UInt8) -> Bool {
        skipSpace()
        guard current == byte else { return false }
        index += 1
        return true
    }

    mutating func scanObject() -> TopLevelFields? {
        var fields = TopLevelFields()
        guard expect(UInt8(ascii: "{")) else { return nil }
        skipSpace()
        if current == UInt8(ascii: "}") {
            index += 1
            return trailingIsEmpty() ? fields : nil
        }
        while true {
            skipSpace()
            guard current == UInt8(ascii: "\"") else { return nil }
            let keyStart = index + 1
            guard skipString() else { return nil }
            let key = UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(index - 1)])
            guard expect(UInt8(ascii: ":")) else { return nil }
            skipSpace()
            let valueStart = index
            if key.elementsEqual("model".utf8), current == UInt8(ascii: "\"") {
                guard let value = readString() else { return nil }
                fields.model = value
                fields.modelRange = valueStart..<index
            } else if key.elementsEqual("stream".utf8), let flag = readBool() {
                fields.stream = flag
            } else {
                if key.elementsEqual("stream_options".utf8) { fields.hasStreamOptions = true }
                guard skipValue() else { return nil }
            }
            skipSpace()
            guard let next = current else { return nil }
            index += 1
            if next == UInt8(ascii: ",") { continue }
            if next == UInt8(ascii: "}") { return trailingIsEmpty() ? fields : nil }
            return nil
        }
    }

    mutating func trailingIsEmpty() -> Bool {
        skipSpace()
        return index == bytes.count
    }

    /// Skips a string whose opening quote is at `index`; leaves `index` after the closing quote.
    mutating func skipString() -> Bool {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") { index += 2; continue }
            index += 1
            if byte == UInt8(ascii: "\"") { return true }
        }
        return false
    }

    mutating func readBool() -> Bool? {
        if matchLiteral("true") { return true }
        if matchLiteral("false") { return false }
        return nil
    }

    mutating func matchLiteral(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { return false }
        index += count
        return true
    }

    mutating func skipValue() -> Bool {
        guard let first = current else { return false }
        switch first {
        case UInt8(ascii: "\""):
            return skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    guard skipString() else { return false }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { index += 1; return true }
                default: break
                }
                index += 1
            }
            return false
        default:
            // number, true, false, null
            let start = index
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                    return index > start
                default: index += 1
                }
            }
            return index > start
        }
    }

    /// Reads and unescapes a string at `index` (which holds its opening quote).
    mutating func readString() -> String? {
        index += 1
        var utf8: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = current else { return nil }
                index += 1
                switch escaped {
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "u"):
                    guard var scalar = readHex4() else { return nil }
                    if (0xD800..<0xDC00).contains(scalar), matchLiteral("\\u"), let low = readHex4(), (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    utf8.append(contentsOf: String(Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8)
                default: utf8.append(escaped)
                }
            default:
                utf8.append(byte)
            }
        }
        return nil
    }

    mutating func readHex4() -> UInt32? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
