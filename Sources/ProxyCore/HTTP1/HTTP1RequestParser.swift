import HTTPTypes
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A strict HTTP/1.1 request parser over a connection's bytes, straight into HTTPTypes: the
/// head's fields are built once from the bytes (no llhttp callbacks into NIO's `HTTPHeaders`
/// and a second conversion to `HTTPFields`), body parts are slices of the read buffer.
///
/// Strictness is the point, since the gateway sits in front of other parsers: it refuses
/// everything llhttp (NIO's parser, which it replaces on the client side) refuses — the
/// differential test holds it to that — and more: bare LF or CR line ends, obsolete line
/// folding, whitespace before a field's colon, repeated `Content-Length`,
/// `Transfer-Encoding` next to `Content-Length` or in HTTP/1.0, codings other than
/// `chunked`, a missing or repeated `Host`. Every count and size is bounded.
///
/// A value type that is fed a buffer and returns one event at a time, so it is tested
/// without sockets; ``HTTP1ServerCodec`` in the gateway drives it.
package struct HTTP1RequestParser {
    /// What the parser read.
    package enum Event {
        case head(HTTPRequest, HTTP1RequestFacts)
        case body(ByteBuffer)
        /// The request is complete; trailer fields of a chunked body, if it had any.
        case end(HTTPFields?)
    }

    private enum State {
        /// Before a request line (or inside one whose end has not arrived).
        case head
        /// A body of known length; bytes still to come.
        case fixed(remaining: Int)
        /// Before a chunk's size line.
        case chunkSize
        /// Inside a chunk's data.
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkEnd
        /// After the last chunk: the trailer section.
        case trailers
    }

    /// The largest head (and trailer section) accepted, in bytes.
    package let maxHeadSize: Int
    /// Requests are marked `https`.
    package let secure: Bool
    private var state = State.head
    /// How much of the buffered head has been searched for its end already, so a head that
    /// arrives a byte at a time is scanned once, not once per byte.
    private var scanned = 0

    /// Chunk size lines (with extensions) longer than this are refused.
    static let maxChunkLine = 4096

    package init(maxHeadSize: Int = 64 * 1024, secure: Bool = false) {
        self.maxHeadSize = maxHeadSize
        self.secure = secure
    }

    /// Between requests: the next bytes start a request line.
    package var isAtRequestStart: Bool {
        if case .head = state { return true }
        return false
    }

    /// The next event from `buffer`'s readable bytes, which it consumes; nil when more bytes
    /// are needed first.
    package mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        switch state {
        case .head:
            return try head(&buffer)
        case .fixed(let remaining):
            if remaining == 0 {
                state = .head
                return .end(nil)
            }
            guard buffer.readableBytes > 0 else { return nil }
            let length = min(remaining, buffer.readableBytes)
            state = .fixed(remaining: remaining - length)
            return .body(buffer.readSlice(length: length)!)
        case .chunkSize:
            return try chunkSize(&buffer)
        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let length = min(remaining, buffer.readableBytes)
            state = remaining == length ? .chunkEnd : .chunkData(remaining: remaining - length)
            return .body(buffer.readSlice(length: length)!)
        case .chunkEnd:
            guard buffer.readableBytes >= 2 else { return nil }
            guard buffer.readInteger(as: UInt16.self) == Self.crlf else { throw .badChunk }
            state = .chunkSize
            return try chunkSize(&buffer)
        case .trailers:
            return try trailers(&buffer)
        }
    }

    // MARK: the head

    private static let crlf = UInt16(0x0D0A)

    private mutating func head(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        // Empty lines before a request line are skipped (RFC 9112 §2.2: a client may send
        // one after a POST body).
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == Self.crlf {
            buffer.moveReaderIndex(forwardBy: 2)
            scanned = 0
        }
        guard let length = try headLength(buffer) else { return nil }
        scanned = 0
        let parsed = try buffer.withUnsafeReadableBytes { bytes throws(HTTP1ParseError) in
            var reader = HeadReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<length]), secure: secure)
            return try reader.read()
        }
        buffer.moveReaderIndex(forwardBy: length)
        switch parsed.facts.framing {
        case .none: state = .fixed(remaining: 0)
        case .length(let count): state = .fixed(remaining: count)
        case .chunked: state = .chunkSize
        }
        return .head(parsed.request, parsed.facts)
    }

    /// The length of the head including its final empty line, once it is all in `buffer`;
    /// nil before. A LF without its CR is refused here, at once.
    private mutating func headLength(_ buffer: ByteBuffer) throws(HTTP1ParseError) -> Int? {
        let found: Int? = try buffer.withUnsafeReadableBytes { bytes throws(HTTP1ParseError) in
            guard let base = bytes.baseAddress else { return nil }
            var index = scanned
            while index < bytes.count {
                guard let hit = memchr(base + index, 0x0A, bytes.count - index) else { break }
                let at = base.distance(to: UnsafeRawPointer(hit))
                guard at > 0, bytes[at - 1] == 0x0D else { throw .badField }
                if at >= 3, bytes[at - 2] == 0x0A { return at + 1 }
                index = at + 1
            }
            return nil
        }
        if let found {
            guard found <= maxHeadSize else { throw .headTooLarge }
            return found
        }
        guard buffer.readableBytes <= maxHeadSize else { throw .headTooLarge }
        // The last byte may be the CR of a LF still to come.
        scanned = max(0, buffer.readableBytes - 1)
        return nil
    }

    // MARK: chunked bodies

    private mutating func chunkSize(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        let line: (size: Int, length: Int)? = try buffer.withUnsafeReadableBytes { bytes throws(HTTP1ParseError) in
            guard let base = bytes.baseAddress else { return nil }
            let window = min(bytes.count, Self.maxChunkLine)
            guard let hit = memchr(base, 0x0A, window) else {
                if bytes.count >= Self.maxChunkLine { throw .badChunk }
                return nil
            }
            let lf = base.distance(to: UnsafeRawPointer(hit))
            guard lf >= 2, bytes[lf - 1] == 0x0D else { throw .badChunk }
            var size = 0
            var index = 0
            while index < lf - 1, let digit = Self.hexValue(bytes[index]) {
                // 15 hex digits keep the size far from overflow; no body is that large.
                guard index < 15 else { throw .badChunk }
                size = size << 4 | digit
                index += 1
            }
            guard index > 0 else { throw .badChunk }
            try Self.checkExtensions(UnsafeRawBufferPointer(rebasing: bytes[index..<(lf - 1)]))
            return (size, lf + 1)
        }
        guard let line else { return nil }
        buffer.moveReaderIndex(forwardBy: line.length)
        if line.size == 0 {
            state = .trailers
            return try trailers(&buffer)
        }
        state = .chunkData(remaining: line.size)
        return try next(&buffer)
    }

    private mutating func trailers(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        guard buffer.readableBytes >= 2 else { return nil }
        if buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == Self.crlf {
            buffer.moveReaderIndex(forwardBy: 2)
            state = .head
            return .end(nil)
        }
        // Trailer fields, up to an empty line: the same rules as the head's fields, except
        // that a bare LF is a malformed chunk here rather than a malformed field.
        let found: Int?
        do { found = try headLength(buffer) } catch { throw error == .headTooLarge ? .headTooLarge : .badChunk }
        guard let found else { return nil }
        scanned = 0
        let fields = try buffer.withUnsafeReadableBytes { bytes throws(HTTP1ParseError) in
            var reader = HeadReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<found]), secure: secure)
            return try reader.trailerFields()
        }
        buffer.moveReaderIndex(forwardBy: found)
        state = .head
        return .end(fields)
    }

    /// Chunk extensions, which are ignored but must be well formed:
    /// `*( ";" token [ "=" ( token / quoted-string ) ] )`, without the optional whitespace
    /// RFC 9112 §7.1.1 tolerates (llhttp refuses it too).
    private static func checkExtensions(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) {
        var index = 0
        func token() -> Bool {
            let start = index
            while index < bytes.count, FieldBytes.isTokenByte(bytes[index]) { index += 1 }
            return index > start
        }
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: ";") else { throw .badChunk }
            index += 1
            guard token() else { throw .badChunk }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { continue }
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                index += 1
                var closed = false
                while index < bytes.count {
                    let byte = bytes[index]
                    index += 1
                    if byte == UInt8(ascii: "\"") {
                        closed = true
                        break
                    }
                    if byte == UInt8(ascii: "\\") {
                        guard index < bytes.count, bytes[index] == 0x09 || (bytes[index] >= 0x20 && bytes[index] != 0x7F) else { throw .badChunk }
                        index += 1
                    } else if !(byte == 0x09 || (byte >= 0x20 && byte != 0x7F)) {
                        throw .badChunk
                    }
                }
                guard closed else { throw .badChunk }
            } else {
                guard token() else { throw .badChunk }
            }
        }
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}

/// What the head says about the connection and the body, beyond the request itself.
package struct HTTP1RequestFacts: Equatable, Sendable {
    /// How the body is delimited.
    package enum Framing: Equatable, Sendable {
        case none
        case length(Int)
        case chunked
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    package var minorVersion: Int
    package var framing: Framing
    /// The connection stays open after the response: HTTP/1.1 without `Connection: close`,
    /// HTTP/1.0 with `Connection: keep-alive`.
    package var keepAlive: Bool
    /// `HEAD`: the response has no body whatever its fields say.
    package var isHead: Bool
}
