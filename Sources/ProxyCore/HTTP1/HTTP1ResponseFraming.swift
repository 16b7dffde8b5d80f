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

    /// `HTTP/1.1 <code> <reason>`, the fields, the empty line: one buffer, one copy per line.
    package static func head(status: HTTPResponse.Status, fields: HTTPFields, allocator: ByteBufferAllocator) -> ByteBuffer {
        var size = 32 + status.reasonPhrase.utf8.count
        for field in fields { size += field.name.rawName.utf8.count + field.value.utf8.count + 4 }
        var buffer = allocator.buffer(capacity: size)
        buffer.writeStaticString("HTTP/1.1 ")
        let code = status.code
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(code / 100 % 10))
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(code / 10 % 10))
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(code % 10))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\n")
        writeFields(fields, into: &buffer)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    /// A chunk's size line: hex length and CRLF.
    package static func chunkPrefix(_ length: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 18)
        var shift = (Int.bitWidth - length.leadingZeroBitCount - 1) / 4 * 4
        while shift >= 0 {
            let nibble = UInt8((length >> shift) & 0xF)
            buffer.writeInteger(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
            shift -= 4
        }
        buffer.writeStaticString("\r\n")
        return buffer
    }

    /// The last chunk and the trailer section.
    package static func lastChunk(trailers: HTTPFields?, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard let trailers, !trailers.isEmpty else { return ByteBuffer(staticString: "0\r\n\r\n") }
        var buffer = allocator.buffer(capacity: 64)
        buffer.writeStaticString("0\r\n")
        writeFields(trailers, into: &buffer)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    /// Field lines, `name: value` CRLF each (names and values are valid: HTTPTypes checks
    /// names and legalises values).
    private static func writeFields(_ fields: HTTPFields, into buffer: inout ByteBuffer) {
        for field in fields {
            buffer.writeString(field.name.rawName)
            buffer.writeStaticString(": ")
            field.withUnsafeBytesOfValue { _ = buffer.writeBytes($0) }
            buffer.writeStaticString("\r\n")
        }
    }
}
