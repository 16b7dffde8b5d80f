import HTTPTypes
import ProxyConfig

/// Reads one complete request head — its bytes up to and including the empty line, already
/// checked to use CRLF line ends — into an `HTTPRequest` and the facts framing needs.
struct HeadReader {
    let bytes: UnsafeRawBufferPointer
    let secure: Bool
    private var index = 0

    init(bytes: UnsafeRawBufferPointer, secure: Bool) {
        self.bytes = bytes
        self.secure = secure
    }

    private static let space = UInt8(ascii: " ")
    private static let tab = UInt8(ascii: "\t")
    private static let cr = UInt8(0x0D)

    mutating func read() throws(HTTP1ParseError) -> (request: HTTPRequest, facts: HTTP1RequestFacts) {
        // The request line: method SP request-target SP HTTP-version CRLF, single spaces.
        let methodEnd = scanToken(from: 0)
        guard methodEnd > 0, methodEnd < bytes.count, bytes[methodEnd] == Self.space else { throw .badRequestLine }
        let targetStart = methodEnd + 1
        var targetEnd = targetStart
        while targetEnd < bytes.count, bytes[targetEnd] > 0x20, bytes[targetEnd] < 0x7F { targetEnd += 1 }
        guard targetEnd > targetStart, targetEnd < bytes.count, bytes[targetEnd] == Self.space else { throw .badRequestLine }
        let minor = try version(at: targetEnd + 1)
        index = targetEnd + 11

        guard let method = Self.method(UnsafeRawBufferPointer(rebasing: bytes[0..<methodEnd])) else { throw .unsupportedMethod }

        var fields = HTTPFields()
        var authority: String?
        var hostCount = 0
        var contentLength: Int?
        var chunked = false
        var transferEncoding = false
        var close = false
        var keepAliveToken = false
        while let (name, value) = try fieldLine() {
            switch name {
            case .known(FieldName.host):
                hostCount += 1
                if authority == nil { authority = String(decoding: value, as: UTF8.self) }
                continue
            case .known(.contentLength):
                guard contentLength == nil, let length = Self.decimal(value) else { throw .badContentLength }
                contentLength = length
            case .known(.transferEncoding):
                // Only `chunked` alone; given once.
                guard !transferEncoding else { throw .ambiguousFraming }
                transferEncoding = true
                guard FieldBytes.equalsIgnoringCase(value, "chunked") else { throw .unsupportedTransferEncoding }
                chunked = true
            case .known(.connection):
                FieldBytes.forEachToken(value) { token in
                    if FieldBytes.equalsIgnoringCase(token, "close") { close = true }
                    if FieldBytes.equalsIgnoringCase(token, "keep-alive") { keepAliveToken = true }
                }
            default:
                break
            }
            fields.append(HTTPField(name: name.name, value: value))
        }
        guard minor == 1 ? hostCount == 1 : hostCount <= 1 else { throw .badHost }
        if transferEncoding, contentLength != nil || minor == 0 { throw .ambiguousFraming }
        let framing: HTTP1RequestFacts.Framing = chunked ? .chunked : contentLength.map { $0 > 0 ? .length($0) : .none } ?? .none

        let path = try Self.path(UnsafeRawBufferPointer(rebasing: bytes[targetStart..<targetEnd]))
        let request = HTTPRequest(method: method, scheme: secure ? "https" : "http", authority: authority, path: path, headerFields: fields)
        let facts = HTTP1RequestFacts(
            minorVersion: minor, framing: framing, keepAlive: minor == 1 ? !close : keepAliveToken && !close, isHead: method == .head)
        return (request, facts)
    }

    /// The fields of a trailer section (the bytes after the last chunk, up to the empty line).
    /// Framing and routing fields are not allowed there (RFC 9110 §6.5.1); they are refused.
    mutating func trailerFields() throws(HTTP1ParseError) -> HTTPFields? {
        var fields = HTTPFields()
        while let (name, value) = try fieldLine() {
            switch name {
            case .known(FieldName.host), .known(.contentLength), .known(.transferEncoding), .known(.connection): throw .badChunk
            default: fields.append(HTTPField(name: name.name, value: value))
            }
        }
        return fields.isEmpty ? nil : fields
    }

    /// `HTTP/1.0` or `HTTP/1.1` then CRLF at `start`: the minor version.
    private func version(at start: Int) throws(HTTP1ParseError) -> Int {
        guard start + 10 <= bytes.count else { throw .badRequestLine }
        let text = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + 8)])
        guard bytes[start + 8] == Self.cr, bytes[start + 9] == 0x0A else { throw .badRequestLine }
        guard text.starts(with: "HTTP/".utf8), Self.isDigit(text[5]), text[6] == UInt8(ascii: "."), Self.isDigit(text[7]) else {
            throw .badRequestLine
        }
        guard text[5] == UInt8(ascii: "1"), text[7] <= UInt8(ascii: "1") else { throw .unsupportedVersion }
        return Int(text[7] - UInt8(ascii: "0"))
    }

    /// The next field line's name and value (value without surrounding whitespace); nil at
    /// the empty line that ends the section.
    private mutating func fieldLine() throws(HTTP1ParseError) -> (FieldName, UnsafeRawBufferPointer)? {
        guard index + 1 < bytes.count else { throw .badField }
        if bytes[index] == Self.cr {
            // The empty line — a CR before anything else is a bare CR, refused: parsers that
            // take it as a line end would see the head end here.
            guard bytes[index + 1] == 0x0A else { throw .badField }
            index += 2
            return nil
        }
        if bytes[index] == Self.space || bytes[index] == Self.tab { throw .lineFolding }
        let nameEnd = scanToken(from: index)
        guard nameEnd > index, nameEnd < bytes.count, bytes[nameEnd] == UInt8(ascii: ":") else { throw .badField }
        let name = FieldName(UnsafeRawBufferPointer(rebasing: bytes[index..<nameEnd]))
        var start = nameEnd + 1
        while start < bytes.count, bytes[start] == Self.space || bytes[start] == Self.tab { start += 1 }
        var end = start
        while end < bytes.count, bytes[end] != Self.cr {
            guard FieldBytes.isValueByte(bytes[end]) else { throw .badField }
            end += 1
        }
        // Every LF is known to follow a CR; a CR must be followed by its LF.
        guard end + 1 < bytes.count, bytes[end + 1] == 0x0A else { throw .badField }
        index = end + 2
        while end > start, bytes[end - 1] == Self.space || bytes[end - 1] == Self.tab { end -= 1 }
        guard let name else { throw .badField }
        return (name, UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
    }

    private func scanToken(from start: Int) -> Int {
        var end = start
        while end < bytes.count, FieldBytes.isTokenByte(bytes[end]) { end += 1 }
        return end
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// One run of decimal digits (at most 18, so the value cannot overflow), or nil.
    static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// The methods an LLM gateway serves; others (CONNECT, WebDAV's, made-up ones) are
    /// answered 501 before anything routes them.
    private static let methods: [HTTPRequest.Method] = [.post, .get, .head, .options, .put, .patch, .delete]

    /// The method, matched without building a string; nil for one not served.
    static func method(_ bytes: UnsafeRawBufferPointer) -> HTTPRequest.Method? {
        methods.first { bytes.elementsEqual($0.rawValue.utf8) }
    }

    /// The request target as the request's path: origin-form as it is, absolute-form
    /// (`http://host/path`) reduced to its path and query, `*` (for `OPTIONS`) as it is.
    /// Authority-form (`CONNECT host:port`) and anything else are refused.
    static func path(_ target: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> String {
        let first = target[0]
        if first == UInt8(ascii: "/") { return String(decoding: target, as: UTF8.self) }
        if target.count == 1, first == UInt8(ascii: "*") { return "*" }
        for scheme in ["http://", "https://"] where target.count > scheme.utf8.count {
            let prefix = UnsafeRawBufferPointer(rebasing: target[0..<scheme.utf8.count])
            guard FieldBytes.equalsIgnoringCase(prefix, scheme) else { continue }
            let rest = target[scheme.utf8.count...]
            guard let cut = rest.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }), cut > rest.startIndex
            else {
                guard !rest.isEmpty else { throw .badRequestLine }
                return "/"
            }
            let tail = UnsafeRawBufferPointer(rebasing: target[cut...])
            if tail[0] == UInt8(ascii: "#") { return "/" }
            let text = String(decoding: tail, as: UTF8.self)
            return tail[0] == UInt8(ascii: "?") ? "/" + text : text
        }
        throw .badRequestLine
    }
}

/// A field name as read: one of the names the parser acts on, or any other, made once.
enum FieldName {
    case known(HTTPField.Name)
    case other(HTTPField.Name)

    var name: HTTPField.Name {
        switch self {
        case .known(let name), .other(let name): name
        }
    }

    /// `Host`, which HTTPTypes names only to say to use the request's authority instead.
    static let host = HTTPField.Name("host")!

    /// Names the gateway's own requests and the common clients send, matched without building a
    /// string; the rest go through `HTTPField.Name`'s validation (already tokens here).
    private static let common: [HTTPField.Name] = [
        host, .contentLength, .transferEncoding, .connection, .contentType, .authorization, .accept, .userAgent,
        .acceptEncoding, .expect, .cookie, .origin, .acceptLanguage, .cacheControl, .upgrade, .te, .traceparent,
        HTTPField.Name("x-forwarded-for")!, HTTPField.Name("x-api-key")!, HTTPField.Name("anthropic-version")!, HTTPField.Name("x-goog-api-key")!,
        HTTPField.Name("openai-organization")!, HTTPField.Name("x-request-id")!,
    ]

    /// ``common`` by length, each as its lowercase bytes: a field name is compared only with
    /// the few of its own length, byte by byte.
    private static let commonByLength: [[(lowercase: [UInt8], name: HTTPField.Name)]] = {
        var table = [[(lowercase: [UInt8], name: HTTPField.Name)]](repeating: [], count: 32)
        for name in common { table[name.canonicalName.utf8.count].append((Array(name.canonicalName.utf8), name)) }
        return table
    }()

    init?(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count < Self.commonByLength.count {
            for candidate in Self.commonByLength[bytes.count] where FieldBytes.equalsIgnoringCase(bytes, sameLength: candidate.lowercase) {
                self = .known(candidate.name)
                return
            }
        }
        guard let name = HTTPField.Name(String(decoding: bytes, as: UTF8.self)) else { return nil }
        self = .other(name)
    }
}

/// Byte classes of RFC 9110 §5.1, §5.5, for the parser.
package enum FieldBytes {
    /// tchar as a table (``HeaderText/isTokenByte(_:)``): the parser asks it for every byte
    /// of every name.
    private static let token: [Bool] = (0..<256).map { HeaderText.isTokenByte(UInt8($0)) }

    static func isTokenByte(_ byte: UInt8) -> Bool { token[Int(byte)] }

    static func isValueByte(_ byte: UInt8) -> Bool { HeaderText.isValueByte(byte) }

    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: String) -> Bool {
        var index = 0
        for expected in lowercase.utf8 {
            guard index < bytes.count else { return false }
            var byte = bytes[index]
            if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") { byte |= 0x20 }
            guard byte == expected else { return false }
            index += 1
        }
        return index == bytes.count
    }

    /// `bytes` (as many as `lowercase` holds) equal `lowercase` with ASCII letters folded.
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, sameLength lowercase: [UInt8]) -> Bool {
        lowercase.withUnsafeBufferPointer { expected in
            for index in 0..<expected.count {
                var byte = bytes[index]
                if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") { byte |= 0x20 }
                guard byte == expected[index] else { return false }
            }
            return true
        }
    }

    /// Each comma-separated token of a list value, without surrounding whitespace.
    static func forEachToken(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
            var low = start
            var high = end
            while low < high, bytes[low] == 0x20 || bytes[low] == 0x09 { low += 1 }
            while high > low, bytes[high - 1] == 0x20 || bytes[high - 1] == 0x09 { high -= 1 }
            if high > low { body(UnsafeRawBufferPointer(rebasing: bytes[low..<high])) }
            start = end + 1
        }
    }
}
