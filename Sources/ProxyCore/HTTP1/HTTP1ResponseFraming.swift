import HTTPTypes
import NIOCore

/// How one response goes on the wire of an HTTP/1.x connection, decided from the request's
/// facts and the response's fields — and its head, written in one buffer.
package struct HTTP1ResponseFraming: Equatable, Sendable {
    package enum Body: Equatable, Sendable {
        /// No body: `HEAD`, 1xx, 204, 304. Body parts written anyway are dropped.
        case none
        /// `Content-Length` given: parts go out as they are.
        case length
        /// Chunk-encoded (HTTP/1.1 with no length given).
        case chunked
        /// Delimited by closing the connection (HTTP/1.0 with no length given).
        case untilClose
    }

    package var body: Body
    /// The connection is closed once the response is written.
    package var closeAfter: Bool

    /// The framing of `response` to a request with `facts`, and the fields to send: the
    /// response's own plus the `Transfer-Encoding` and `Connection` lines the framing needs.
    package static func decide(_ response: HTTPResponse, facts: HTTP1RequestFacts) -> (HTTP1ResponseFraming, HTTPFields) {
        var fields = response.headerFields
        let code = response.status.code
        let responseCloses = fields[values: .connection].contains { $0.lowercased().contains("close") }
        var body: Body
        if code < 200 {
            return (HTTP1ResponseFraming(body: .none, closeAfter: false), fields)
        } else if facts.isHead || code == 204 || code == 304 {
            body = .none
            if code == 204 { fields[.contentLength] = nil }
            fields[.transferEncoding] = nil
        } else if fields[.contentLength] != nil {
            body = .length
            fields[.transferEncoding] = nil
        } else if facts.minorVersion >= 1 {
            body = .chunked
            fields[.transferEncoding] = "chunked"
        } else {
            body = .untilClose
            fields[.transferEncoding] = nil
        }
        let closeAfter = !facts.keepAlive || responseCloses || body == .untilClose
        if closeAfter {
            if !responseCloses { fields[.connection] = "close" }
        } else if facts.minorVersion == 0 {
            fields[.connection] = "keep-alive"
        }
        return (HTTP1ResponseFraming(body: body, closeAfter: closeAfter), fields)
    }

    /// `HTTP/1.1 <code> <reason>`, the fields, the empty line: one buffer, measured first and
    /// filled in one write. (A `ByteBuffer` write per piece costs a bounds check, a uniqueness
    /// check and an exclusivity check each: four per header line were 14,000 instructions per
    /// response in the profile.)
    package static func head(status: HTTPResponse.Status, fields: HTTPFields, allocator: ByteBufferAllocator) -> ByteBuffer {
        let reason = status.reasonPhrase
        // "HTTP/1.1 " (9), three digits, a space, the reason, CRLF; the fields; CRLF.
        let size = 15 + reason.utf8.count + fieldsSize(fields) + 2
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var writer = ByteWriter(out)
            writer.append("HTTP/1.1 ")
            let code = status.code
            writer.append(UInt8(ascii: "0") + UInt8(code / 100 % 10))
            writer.append(UInt8(ascii: "0") + UInt8(code / 10 % 10))
            writer.append(UInt8(ascii: "0") + UInt8(code % 10))
            writer.append(UInt8(ascii: " "))
            writer.append(reason)
            writer.append("\r\n")
            writeFields(fields, into: &writer)
            writer.append("\r\n")
            return writer.count
        }
        return buffer
    }

    /// A chunk's size line: hex length and CRLF.
    package static func chunkPrefix(_ length: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 18)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 18) { out in
            var writer = ByteWriter(out)
            var shift = (Int.bitWidth - length.leadingZeroBitCount - 1) / 4 * 4
            while shift >= 0 {
                let nibble = UInt8((length >> shift) & 0xF)
                writer.append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
                shift -= 4
            }
            writer.append("\r\n")
            return writer.count
        }
        return buffer
    }

    /// The last chunk and the trailer section.
    package static func lastChunk(trailers: HTTPFields?, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard let trailers, !trailers.isEmpty else { return ByteBuffer(staticString: "0\r\n\r\n") }
        let size = 3 + fieldsSize(trailers) + 2
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var writer = ByteWriter(out)
            writer.append("0\r\n")
            writeFields(trailers, into: &writer)
            writer.append("\r\n")
            return writer.count
        }
        return buffer
    }

    /// The bytes of `fields` as field lines.
    private static func fieldsSize(_ fields: HTTPFields) -> Int {
        var size = 0
        for field in fields { size += field.name.rawName.utf8.count + field.withUnsafeBytesOfValue { $0.count } + 4 }
        return size
    }

    /// Field lines, `name: value` CRLF each (names and values are valid: HTTPTypes checks
    /// names and legalises values).
    private static func writeFields(_ fields: HTTPFields, into writer: inout ByteWriter) {
        for field in fields {
            writer.append(field.name.rawName)
            writer.append(": ")
            field.withUnsafeBytesOfValue { writer.append(UnsafeRawBufferPointer($0)) }
            writer.append("\r\n")
        }
    }
}

/// Fills memory measured beforehand (`ByteBuffer.writeWithUnsafeMutableBytes`), piece by
/// piece; running past the end is a programming error and traps.
struct ByteWriter {
    private let out: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(_ out: UnsafeMutableRawBufferPointer) { self.out = out }

    mutating func append(_ byte: UInt8) {
        precondition(count < out.count, "ByteWriter: past the measured size")
        out[count] = byte
        count += 1
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(bytes.count <= out.count - count, "ByteWriter: past the measured size")
        (out.baseAddress! + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }
}
