import NIOCore

/// The tunnel's JSON: documents of a few known shapes (strings, byte arrays spelt as JSON
/// numbers, string maps and pairs, integers), read and written without building a general
/// JSON tree — a v1 document spells every body byte as a number, and a tree of 40 million
/// numbers would cost gigabytes. Strict: anything else is an error naming what was wrong,
/// and nesting is bounded.
struct TunnelJSONError: Error, Equatable, CustomStringConvertible {
    var description: String
}

/// Reads one JSON document from contiguous bytes.
struct TunnelJSONReader {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private static let maxDepth = 32

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func fail(_ what: String) -> TunnelJSONError { TunnelJSONError(description: "\(what) at byte \(index)") }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0a, 0x0d: index += 1
            default: return
            }
        }
    }

    private mutating func peek() -> UInt8? {
        skipSpace()
        return index < bytes.count ? bytes[index] : nil
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws {
        guard peek() == byte else { throw fail("expected \(what)") }
        index += 1
    }

    /// Reads a whole object, calling `member` for each key with the reader at its value;
    /// `member` must consume the value (or call ``skipValue()``).
    mutating func object(_ member: (String, inout TunnelJSONReader) throws -> Void) throws {
        try expect(UInt8(ascii: "{"), "an object")
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            let key = try string()
            try expect(UInt8(ascii: ":"), "':'")
            try member(key, &self)
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    /// The document must end here (only whitespace may follow).
    mutating func end() throws {
        guard peek() == nil else { throw fail("unexpected bytes after the document") }
    }

    mutating func isNull() -> Bool {
        guard peek() == UInt8(ascii: "n"), index + 4 <= bytes.count, bytes[index + 1] == 0x75, bytes[index + 2] == 0x6c, bytes[index + 3] == 0x6c else {
            return false
        }
        index += 4
        return true
    }

    mutating func string() throws -> String {
        try expect(UInt8(ascii: "\""), "a string")
        var out: [UInt8] = []
        var start = index
        while true {
            guard index < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
                index += 1
                break
            }
            if byte < 0x20 { throw fail("control character in a string") }
            if byte == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
                index += 1
                guard index < bytes.count else { throw fail("unterminated escape") }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xd800..<0xdc00).contains(scalar) {
                        guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xdc00..<0xe000).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                    } else if (0xdc00..<0xe000).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default: throw fail("invalid escape")
                }
                start = index
                continue
            }
            index += 1
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw fail("a string that is not UTF-8") }
        return text
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x61...0x66: digit = byte - 0x61 + 10
            case 0x41...0x46: digit = byte - 0x41 + 10
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// A non-negative integer of at most `limit`.
    mutating func integer(max limit: Int) throws -> Int {
        guard let first = peek(), (0x30...0x39).contains(first) else { throw fail("expected a whole number") }
        var value = 0
        while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
            value = value * 10 + Int(bytes[index] - 0x30)
            guard value <= limit else { throw fail("a number over \(limit)") }
            index += 1
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") {
            throw fail("expected a whole number")
        }
        return value
    }

    /// An array of numbers 0–255 (how serde writes `Vec<u8>`), into `buffer`.
    mutating func byteArray(into buffer: inout ByteBuffer, limit: Int) throws {
        try expect(UInt8(ascii: "["), "an array of bytes")
        if peek() == UInt8(ascii: "]") {
            index += 1
            return
        }
        // Reserve roughly: each byte takes 2–4 characters.
        buffer.reserveCapacity(minimumWritableBytes: min(limit, (bytes.count - index) / 3))
        var count = 0
        while true {
            let value = try integer(max: 255)
            count += 1
            guard count <= limit else { throw fail("more than \(limit) bytes") }
            buffer.writeInteger(UInt8(value))
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default: throw fail("expected ',' or ']' in an array of bytes")
            }
        }
    }

    /// An object of string values, in document order.
    mutating func stringMap() throws -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        try object { (key, reader: inout TunnelJSONReader) throws in
            pairs.append((key, try reader.string()))
            if pairs.count > 1024 { throw TunnelJSONError(description: "more than 1024 headers") }
        }
        return pairs
    }

    /// An array of `[name, value]` string pairs.
    mutating func stringPairs() throws -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        try expect(UInt8(ascii: "["), "an array of [name, value] pairs")
        if peek() == UInt8(ascii: "]") {
            index += 1
            return pairs
        }
        while true {
            try expect(UInt8(ascii: "["), "a [name, value] pair")
            let name = try string()
            try expect(UInt8(ascii: ","), "','")
            let value = try string()
            try expect(UInt8(ascii: "]"), "']'")
            pairs.append((name, value))
            if pairs.count > 1024 { throw fail("more than 1024 headers") }
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return pairs
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    /// Skips any JSON value (for members this reader does not know), bounded in depth.
    mutating func skipValue(depth: Int = 0) throws {
        guard depth < Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
        switch peek() {
        case UInt8(ascii: "\"")?: _ = try string()
        case UInt8(ascii: "{")?:
            try object { (_, reader: inout TunnelJSONReader) throws in try reader.skipValue(depth: depth + 1) }
        case UInt8(ascii: "[")?:
            index += 1
            if peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                try skipValue(depth: depth + 1)
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return
                default: throw fail("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "t")?, UInt8(ascii: "f")?, UInt8(ascii: "n")?:
            for word in ["true", "false", "null"] {
                let utf8 = Array(word.utf8)
                if index + utf8.count <= bytes.count, zip(utf8.indices, utf8).allSatisfy({ bytes[index + $0.0] == $0.1 }) {
                    index += utf8.count
                    return
                }
            }
            throw fail("invalid literal")
        case let byte? where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte):
            index += 1
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) || [0x2e, 0x65, 0x45, 0x2b, 0x2d].contains(bytes[index]) { index += 1 }
        default:
            throw fail("expected a value")
        }
    }
}

/// Writes the tunnel's JSON documents.
enum TunnelJSONWriter {
    /// "0" … "255", so a byte array is written without formatting numbers.
    private static let decimals: [[UInt8]] = (0...255).map { Array(String($0).utf8) }

    static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case 0x0a: buffer.writeStaticString("\\n")
            case 0x0d: buffer.writeStaticString("\\r")
            case 0x09: buffer.writeStaticString("\\t")
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hex[Int(byte >> 4)])
                buffer.writeInteger(hex[Int(byte & 0xf)])
            default: buffer.writeInteger(byte)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    static func writeBytes(_ bytes: some Sequence<UInt8>, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "["))
        var first = true
        for byte in bytes {
            if !first { buffer.writeInteger(UInt8(ascii: ",")) }
            first = false
            buffer.writeBytes(decimals[Int(byte)])
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    static func writeStringMap(_ pairs: [(name: String, value: String)], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "{"))
        for (index, pair) in pairs.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            writeString(pair.name, into: &buffer)
            buffer.writeInteger(UInt8(ascii: ":"))
            writeString(pair.value, into: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    static func writeStringPairs(_ pairs: [(name: String, value: String)], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "["))
        for (index, pair) in pairs.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeInteger(UInt8(ascii: "["))
            writeString(pair.name, into: &buffer)
            buffer.writeInteger(UInt8(ascii: ","))
            writeString(pair.value, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "]"))
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }
}
