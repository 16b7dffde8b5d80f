import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import ProxyCore

/// What a parser made of one input.
enum ParseOutcome: Equatable, CustomStringConvertible {
    /// A whole request: method, request target (or path), header lines (names lowercased,
    /// `Host` first when given), body.
    case request(method: String, target: String, fields: [String], body: [UInt8])
    /// No error, but not a whole request either.
    case incomplete
    case rejected

    var description: String {
        switch self {
        case .request(let method, let target, let fields, let body): "\(method) \(target) \(fields) body \(body.count) bytes"
        case .incomplete: "incomplete"
        case .rejected: "rejected"
        }
    }

    var isRejected: Bool { self == .rejected }
}

/// The gateway's parser over `bytes`, given whole or in pieces of `piece` bytes.
func ours(_ bytes: [UInt8], piece: Int = .max, maxHeadSize: Int = 64 * 1024) -> (ParseOutcome, HTTP1RequestFacts?) {
    var parser = HTTP1RequestParser(maxHeadSize: maxHeadSize)
    var buffer = ByteBuffer()
    var head: HTTPRequest?
    var facts: HTTP1RequestFacts?
    var body: [UInt8] = []
    var offset = 0
    repeat {
        let end = offset + min(piece, bytes.count - offset)
        buffer.writeBytes(bytes[offset..<end])
        offset = end
        do {
            while let event = try parser.next(&buffer) {
                switch event {
                case .head(let request, let found):
                    head = request
                    facts = found
                case .body(let part):
                    body += part.readableBytesView
                case .end:
                    guard let head else { return (.rejected, nil) }
                    var fields = head.authority.map { ["host: \($0)"] } ?? []
                    fields += head.headerFields.map { "\($0.name.canonicalName): \($0.value)" }
                    return (.request(method: head.method.rawValue, target: head.path ?? "", fields: fields, body: body), facts)
                }
            }
        } catch {
            return (.rejected, nil)
        }
    } while offset < bytes.count
    return (.incomplete, facts)
}

/// NIO's llhttp-based decoder over `bytes`: the parser the gateway's replaces.
func llhttp(_ bytes: [UInt8]) -> ParseOutcome {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
    defer { _ = try? channel.finish() }
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    do {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        while let part: HTTPServerRequestPart = try channel.readInbound() {
            switch part {
            case .head(let found): head = found
            case .body(let buffer): body += buffer.readableBytesView
            case .end:
                guard let head else { return .rejected }
                return llhttpOutcome(head, body: body)
            }
        }
    } catch {
        return .rejected
    }
    return .incomplete
}

/// Every request a parser reads from `bytes` in turn, and whether it refused what followed.
struct ParsedSequence {
    var requests: [ParseOutcome] = []
    var rejected = false
}

/// The gateway's parser over the whole of `bytes`: request after request.
func oursAll(_ bytes: [UInt8]) -> ParsedSequence {
    var parser = HTTP1RequestParser()
    var buffer = ByteBuffer(bytes: bytes)
    var result = ParsedSequence()
    var head: HTTPRequest?
    var body: [UInt8] = []
    do {
        while let event = try parser.next(&buffer) {
            switch event {
            case .head(let request, _):
                head = request
                body = []
            case .body(let part):
                body += part.readableBytesView
            case .end:
                guard let request = head else { return result }
                var fields = request.authority.map { ["host: \($0)"] } ?? []
                fields += request.headerFields.map { "\($0.name.canonicalName): \($0.value)" }
                result.requests.append(.request(method: request.method.rawValue, target: request.path ?? "", fields: fields, body: body))
                head = nil
            }
        }
    } catch {
        result.rejected = true
    }
    return result
}

/// llhttp over the whole of `bytes`.
func llhttpAll(_ bytes: [UInt8]) -> ParsedSequence {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
    defer { _ = try? channel.finish() }
    var result = ParsedSequence()
    do {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    } catch {
        result.rejected = true
    }
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    while let part: HTTPServerRequestPart = try? channel.readInbound() {
        switch part {
        case .head(let found):
            head = found
            body = []
        case .body(let buffer): body += buffer.readableBytesView
        case .end:
            if let found = head { result.requests.append(llhttpOutcome(found, body: body)) }
            head = nil
        }
    }
    return result
}

/// An llhttp head as the gateway's outcome lists it: `Host` first, names lowercased.
func llhttpOutcome(_ head: HTTPRequestHead, body: [UInt8]) -> ParseOutcome {
    // llhttp keeps a value's trailing whitespace, which is not part of it (RFC 9110 §5.5);
    // the gateway's parser drops it.
    func trimmed(_ value: String) -> Substring {
        var value = Substring(value)
        while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
        return value
    }
    let hosts = head.headers.filter { $0.name.lowercased() == "host" }.prefix(1).map { "host: \(trimmed($0.value))" }
    var skippedHost = false
    let others = head.headers.compactMap { field -> String? in
        if !skippedHost, field.name.lowercased() == "host" {
            skippedHost = true
            return nil
        }
        return "\(field.name.lowercased()): \(trimmed(field.value))"
    }
    return .request(method: head.method.rawValue, target: head.uri, fields: hosts + others, body: body)
}

@Suite("The HTTP/1.1 request parser")
struct HTTP1RequestParserTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Inputs both parsers accept, read the same.
    static let valid: [String] = [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bc\"}\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"q v\";b=c\r\nhello\r\n0\r\n\r\n",
        "GET /health HTTP/1.0\r\n\r\n",
        "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET /a?b=c&d=%20e HTTP/1.1\r\nHost: a\r\nX-Spaces:   padded value \t \r\nX-Empty:\r\nX-Tab:\tx\ty\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\nCookie: a=b; c=d\r\nConnection: keep-alive, Close\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "DELETE /v1/keys/7 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer sk-1\r\n\r\n",
        "GET /\u{00e9}t\u{00e9} HTTP/1.1\r\nHost: a\r\n\r\n".replacingOccurrences(of: "\u{00e9}", with: "%C3%A9"),
        "GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\u{00e9}\r\n\r\n",
    ]

    /// Inputs llhttp refuses: the gateway must refuse them too.
    static let malformed: [String] = [
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nX(a): b\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{7f}\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/9.1\r\nHost: a\r\n\r\n",
        "GET / FOO/1.1\r\nHost: a\r\n\r\n",
        "\u{1}GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
    ]

    /// Inputs the gateway refuses although llhttp (as NIO configures it) may let them through:
    /// each is a known disagreement between parsers that smuggling relies on, or is not HTTP
    /// the gateway serves.
    static let refusedByUsOnly: [String] = [
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\rX: b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\\\"c\"\r\nhello\r\n0;\r\n\r\n",
        "GET / HTTP/1.1\nHost: a\n\n",
        "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n",
        "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        "get / HTTP/1.1\r\nHost: a\r\n\r\n",
        "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
        "PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 70_000) + "\r\n\r\n",
    ]

    @Test("well-formed requests read the same as llhttp reads them, whole and a byte at a time")
    func valid() {
        for text in Self.valid {
            let input = Self.bytes(text)
            let reference = llhttp(input)
            let (whole, _) = ours(input)
            #expect(whole == reference, "\(text.debugDescription)")
            #expect(ours(input, piece: 1).0 == whole, "byte at a time: \(text.debugDescription)")
            #expect(ours(input, piece: 7).0 == whole, "7 bytes at a time: \(text.debugDescription)")
            if case .rejected = whole { Issue.record("refused: \(text.debugDescription)") }
        }
    }

    @Test("what llhttp refuses is refused")
    func malformed() {
        for text in Self.malformed {
            let input = Self.bytes(text)
            #expect(llhttp(input).isRejected, "llhttp accepts \(text.debugDescription): the corpus entry belongs in refusedByUsOnly")
            #expect(ours(input).0.isRejected, "accepted: \(text.debugDescription)")
            #expect(ours(input, piece: 1).0.isRejected, "accepted a byte at a time: \(text.debugDescription)")
        }
    }

    @Test("framing llhttp may let through but smuggling relies on, and methods the gateway does not serve, are refused")
    func stricter() {
        for text in Self.refusedByUsOnly {
            let input = Self.bytes(text)
            #expect(ours(input).0.isRejected, "accepted: \(text.debugDescription)")
            #expect(ours(input, piece: 3).0.isRejected, "accepted in pieces: \(text.debugDescription)")
        }
    }

    /// Random edits of valid requests (bytes replaced, inserted or removed, with a bias to
    /// the bytes framing depends on): whenever llhttp refuses, the gateway must; whenever both
    /// accept, they must read the same request.
    @Test("differential: 20,000 mutated requests, never accepted where llhttp refuses, never read differently")
    func differential() {
        var random = SplitMix(seed: 0x5EED_1234)
        let special = Array("\r\n :;\t,\u{0}\u{7f}0aF-".utf8) + [0x80, 0xFF, 0x0B, 0x0C]
        var disagreements: [String] = []
        var compared = 0
        for round in 0..<20_000 {
            var input = Self.bytes(Self.valid[round % Self.valid.count])
            for _ in 0..<(1 + Int(random.next() % 3)) {
                let at = Int(random.next() % UInt64(input.count))
                let byte = random.next() % 2 == 0 ? special[Int(random.next() % UInt64(special.count))] : UInt8(truncatingIfNeeded: random.next())
                switch random.next() % 3 {
                case 0: input[at] = byte
                case 1: input.insert(byte, at: at)
                default: input.remove(at: at)
                }
            }
            let reference = llhttpAll(input)
            let mine = oursAll(input)
            // Never a request llhttp does not read, and each read the same: the gateway's
            // requests are the first of llhttp's (fewer where it is stricter).
            let shown = String(decoding: input, as: UTF8.self).debugDescription
            if mine.requests.count > reference.requests.count {
                disagreements.append("accepted what llhttp refuses: \(shown)")
                continue
            }
            for (index, request) in mine.requests.enumerated() {
                compared += 1
                guard case .request(let method, let target, let fields, let body) = reference.requests[index],
                    case .request(let myMethod, let myTarget, let myFields, let myBody) = request
                else { continue }
                // An absolute-form target is reduced to its path; compare the rest.
                let sameTarget = target == myTarget || !target.hasPrefix("/")
                if method != myMethod || !sameTarget || fields != myFields || body != myBody {
                    disagreements.append("read differently: \(shown): \(reference.requests[index]) vs \(request)")
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements, first: \(disagreements.prefix(12))")
        // The mutations must leave enough requests intact for the comparison to mean something.
        #expect(compared > 1_000, "only \(compared) requests accepted by both")
    }

    @Test("facts: version, keep-alive, framing, HEAD")
    func facts() throws {
        let cases: [(String, HTTP1RequestFacts)] = [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", .init(minorVersion: 1, framing: .none, keepAlive: true, isHead: false)),
            ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", .init(minorVersion: 1, framing: .none, keepAlive: false, isHead: false)),
            ("HEAD / HTTP/1.0\r\n\r\n", .init(minorVersion: 0, framing: .none, keepAlive: false, isHead: true)),
            ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", .init(minorVersion: 0, framing: .none, keepAlive: true, isHead: false)),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", .init(minorVersion: 1, framing: .length(3), keepAlive: true, isHead: false)),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                .init(minorVersion: 1, framing: .chunked, keepAlive: true, isHead: false)
            ),
        ]
        for (text, expected) in cases {
            let (outcome, facts) = ours(Self.bytes(text))
            #expect(!outcome.isRejected, "\(text.debugDescription)")
            #expect(facts == expected, "\(text.debugDescription)")
        }
    }

    @Test("absolute-form targets become paths; the authority is the Host header's")
    func absoluteForm() {
        let (outcome, _) = ours(Self.bytes("GET HTTP://up.example:8080/v1/models?x=1 HTTP/1.1\r\nHost: gw\r\n\r\n"))
        #expect(outcome == .request(method: "GET", target: "/v1/models?x=1", fields: ["host: gw"], body: []))
        let (bare, _) = ours(Self.bytes("GET http://up.example HTTP/1.1\r\nHost: gw\r\n\r\n"))
        #expect(bare == .request(method: "GET", target: "/", fields: ["host: gw"], body: []))
        let (query, _) = ours(Self.bytes("GET http://up.example?q HTTP/1.1\r\nHost: gw\r\n\r\n"))
        #expect(query == .request(method: "GET", target: "/?q", fields: ["host: gw"], body: []))
    }

    @Test("a head past the limit is refused once the limit is passed, not when it ends; a dribbled head is scanned once")
    func headLimit() throws {
        var parser = HTTP1RequestParser(maxHeadSize: 1024)
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\nX: ")
        #expect(try parser.next(&buffer) == nil)
        buffer.writeString(String(repeating: "v", count: 1000))
        #expect(throws: HTTP1ParseError.headTooLarge) { try parser.next(&buffer) }
        // Two requests in one buffer come out one after the other, and the second waits for
        // its last byte.
        var two = HTTP1RequestParser()
        var both = ByteBuffer(string: "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r")
        guard case .head(let first, _) = try two.next(&both) else { throw Failure("no first head") }
        #expect(first.path == "/1")
        guard case .end = try two.next(&both) else { throw Failure("no first end") }
        #expect(try two.next(&both) == nil)
        both.writeString("\n")
        guard case .head(let second, _) = try two.next(&both) else { throw Failure("no second head") }
        #expect(second.path == "/2")
    }

    @Test("response framing: length, chunked, none for HEAD/204/304, until close for HTTP/1.0; Connection lines")
    func responseFraming() {
        let http11 = HTTP1RequestFacts(minorVersion: 1, framing: .none, keepAlive: true, isHead: false)
        let http10 = HTTP1RequestFacts(minorVersion: 0, framing: .none, keepAlive: true, isHead: false)
        var withLength = HTTPFields()
        withLength[.contentLength] = "3"
        let (length, lengthFields) = HTTP1ResponseFraming.decide(HTTPResponse(status: .ok, headerFields: withLength), facts: http11)
        #expect(length == .init(body: .length, closeAfter: false) && lengthFields[.transferEncoding] == nil)
        let (chunked, chunkedFields) = HTTP1ResponseFraming.decide(HTTPResponse(status: .ok), facts: http11)
        #expect(chunked == .init(body: .chunked, closeAfter: false) && chunkedFields[.transferEncoding] == "chunked")
        let (head, _) = HTTP1ResponseFraming.decide(
            HTTPResponse(status: .ok, headerFields: withLength), facts: .init(minorVersion: 1, framing: .none, keepAlive: true, isHead: true))
        #expect(head.body == .none)
        #expect(HTTP1ResponseFraming.decide(HTTPResponse(status: .noContent), facts: http11).0.body == .none)
        #expect(HTTP1ResponseFraming.decide(HTTPResponse(status: .notModified), facts: http11).0.body == .none)
        let (untilClose, closeFields) = HTTP1ResponseFraming.decide(HTTPResponse(status: .ok), facts: http10)
        #expect(untilClose == .init(body: .untilClose, closeAfter: true) && closeFields[.connection] == "close")
        let (keepAlive10, keepFields) = HTTP1ResponseFraming.decide(HTTPResponse(status: .ok, headerFields: withLength), facts: http10)
        #expect(keepAlive10 == .init(body: .length, closeAfter: false) && keepFields[.connection] == "keep-alive")
        var closing = withLength
        closing[.connection] = "close"
        #expect(HTTP1ResponseFraming.decide(HTTPResponse(status: .ok, headerFields: closing), facts: http11).0.closeAfter)

        let allocator = ByteBufferAllocator()
        let written = HTTP1ResponseFraming.head(status: .ok, fields: lengthFields, allocator: allocator)
        #expect(String(buffer: written) == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
        // Several fields, a value with obs-text, a reason of the upstream's own: each byte
        // where it belongs (the head is measured first, then written in one piece).
        var several = HTTPFields()
        several[.contentType] = "text/event-stream"
        several[HTTPField.Name("x-note")!] = "caf\u{E9} \u{1F600}"
        several[.cacheControl] = "no-cache"
        let custom = HTTP1ResponseFraming.head(status: .init(code: 299, reasonPhrase: "Fine Enough"), fields: several, allocator: allocator)
        #expect(
            String(buffer: custom)
                == "HTTP/1.1 299 Fine Enough\r\nContent-Type: text/event-stream\r\nx-note: caf\u{E9} \u{1F600}\r\nCache-Control: no-cache\r\n\r\n")
        #expect(String(buffer: HTTP1ResponseFraming.head(status: .noContent, fields: HTTPFields(), allocator: allocator)) == "HTTP/1.1 204 No Content\r\n\r\n")
        var trailers = HTTPFields()
        trailers[HTTPField.Name("x-usage")!] = "12"
        #expect(String(buffer: HTTP1ResponseFraming.lastChunk(trailers: trailers, allocator: allocator)) == "0\r\nx-usage: 12\r\n\r\n")
        #expect(String(buffer: HTTP1ResponseFraming.lastChunk(trailers: nil, allocator: allocator)) == "0\r\n\r\n")
        for length in [1, 9, 10, 15, 16, 255, 4096, 1 << 40, Int.max] {
            #expect(String(buffer: HTTP1ResponseFraming.chunkPrefix(length, allocator: allocator)) == String(length, radix: 16) + "\r\n")
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A small seeded generator, so a failing mutation reproduces.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
