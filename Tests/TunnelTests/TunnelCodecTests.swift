import Crypto
import Dialects
import Foundation
import NIOCore
import ProxyConfig
import Testing
import Upstreams

@testable import Tunnel

/// The tunnel's codecs, ciphers and allowlist, without sockets.
@Suite("Tunnel codecs")
struct TunnelCodecTests {
    static let key = TunnelKey(bytes: Array(repeating: 7, count: 32))

    static func sealedDocument(_ inner: String, key: TunnelKey = key) throws -> ByteBuffer {
        let sealed = try key.sealV1(Array(inner.utf8))
        return ByteBuffer(string: #"{"proxy_url":"http://x:50051","request_object":["# + sealed.map(String.init).joined(separator: ",") + "]}")
    }

    @Test("v1: a request document opens to its method, url, headers and body; the response document opens back")
    func v1RoundTrip() throws {
        let document = try Self.sealedDocument(
            #"{"method":"POST","url":"https://api.openai.com/v1/chat/completions","headers":{"authorization":"Bearer k","x-q":"a\"b\u00e9"},"body":[123,125]}"#)
        let sealed = try XLLMDocument.sealedRequest(document, limit: 1 << 20)
        let request = try XLLMDocument.request(sealed, key: Self.key, bodyLimit: 1 << 20)
        #expect(request.method == "POST")
        #expect(request.url == "https://api.openai.com/v1/chat/completions")
        #expect(request.headers.map(\.name) == ["authorization", "x-q"])
        #expect(request.headers[1].value == "a\"bé")
        #expect(request.body.map { String(buffer: $0) } == "{}")

        let response = XLLMDocument.response(
            status: 201, headers: [("a", "1"), ("a", "2"), ("b", "x\ny")], body: ByteBuffer(string: "héllo"), key: Self.key)
        let outer = try #require(try JSONSerialization.jsonObject(with: Data(response.readableBytesView)) as? [String: Any])
        let numbers = try #require(outer["response_object"] as? [Int])
        let plain = try Self.key.openV1(numbers.map { UInt8($0) })
        let inner = try #require(try JSONSerialization.jsonObject(with: plain) as? [String: Any])
        #expect(inner["status_code"] as? Int == 201)
        #expect((inner["headers"] as? [String: String]) == ["a": "1, 2", "b": "x\ny"])
        #expect(String(decoding: (inner["body"] as? [Int] ?? []).map { UInt8($0) }, as: UTF8.self) == "héllo")
    }

    @Test("v1: tampering, another key, bad shapes and over-long arrays are errors, never traps")
    func v1Refusals() throws {
        var tampered = try Self.sealedDocument(#"{"method":"GET","url":"http://a/","headers":{},"body":[]}"#)
        let sealed = try XLLMDocument.sealedRequest(tampered, limit: 1 << 20)
        var flipped = sealed
        flipped.setInteger(sealed.getInteger(at: 14, as: UInt8.self)! ^ 1, at: 14)
        #expect(throws: XLLMDocument.Failure.self) { try XLLMDocument.request(flipped, key: Self.key, bodyLimit: 1 << 20) }
        #expect(throws: XLLMDocument.Failure.self) {
            try XLLMDocument.request(sealed, key: TunnelKey(bytes: Array(repeating: 8, count: 32)), bodyLimit: 1 << 20)
        }
        for text in [
            "", "{", "[]", #"{"request_object":[256]}"#, #"{"request_object":[-1]}"#, #"{"request_object":[1.5]}"#,
            #"{"request_object":"abc"}"#, #"{"proxy_url":"x"}"#, #"{"request_object":[1,2]} trailing"#,
            String(repeating: "[", count: 10_000), #"{"a":"\ud800","request_object":[]}"#,
        ] {
            #expect(throws: XLLMDocument.Failure.self, "\(text.prefix(40))") { try XLLMDocument.sealedRequest(ByteBuffer(string: text), limit: 1 << 20) }
        }
        tampered = ByteBuffer(string: #"{"request_object":[1,2,3,4,5]}"#)
        #expect(throws: XLLMDocument.Failure.self) { try XLLMDocument.sealedRequest(tampered, limit: 4) }
    }

    @Test("the JSON reader survives 2,000 random and mutated documents")
    func readerFuzz() {
        var random = SystemRandomNumberGenerator()
        let seed = Array(#"{"method":"POST","url":"http://a/b","headers":{"k":"v\n"},"body":[1,2,255],"x":[true,null,{"y":-1.5e3}]}"#.utf8)
        for round in 0..<2000 {
            var bytes = seed
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            bytes.withUnsafeBytes { raw in
                var reader = TunnelJSONReader(raw)
                _ = try? reader.skipValue()
            }
            var scanner = DocumentEnd()
            _ = bytes.withUnsafeBytes { scanner.scan($0) }
        }
    }

    @Test("the end of a document is found as its bytes arrive, strings and escapes respected")
    func documentEnd() {
        var scanner = DocumentEnd()
        let parts = [#"{"a":"}]\"{""#, #","b":[1,2"#, #"]}"#]
        #expect(!parts[0].utf8.withContiguousStorageIfAvailable { scanner.scan(UnsafeRawBufferPointer($0)) }!)
        #expect(!parts[1].utf8.withContiguousStorageIfAvailable { scanner.scan(UnsafeRawBufferPointer($0)) }!)
        #expect(parts[2].utf8.withContiguousStorageIfAvailable { scanner.scan(UnsafeRawBufferPointer($0)) }!)
    }

    @Test("v2 frames: sealed and opened in order; a replayed, reordered, tampered or foreign frame does not open")
    func v2Frames() throws {
        let hello = TunnelV2.clientHello()
        let salt = TunnelV2.randomBytes(32)
        let keys = Self.key.sessionKeys(clientHello: hello, serverSalt: salt)
        var sender = FrameCipher(key: keys.clientToServer)
        var receiver = FrameCipher(key: keys.clientToServer)
        func split(_ frame: ByteBuffer) -> (UInt32, ByteBuffer) {
            var frame = frame
            let length = frame.readInteger(as: UInt32.self)!
            return (length, frame)
        }
        let first = try sender.seal(.request, stream: 9, payload: ByteBuffer(string: "one"), timestamp: 42)
        let second = try sender.seal(.cancel, stream: 9, payload: nil)
        let (length, sealed) = split(first)
        let opened = try receiver.open(length: length, sealed: sealed.readableBytesView)
        #expect(opened.type == .request && opened.stream == 9 && opened.timestamp == 42 && String(buffer: opened.payload) == "one")
        // The first frame again: the receiver expects number 1 now.
        #expect(throws: TunnelV2Error.decryptFailed) { try receiver.open(length: length, sealed: sealed.readableBytesView) }
        // Out of order, on a fresh receiver: the second frame first.
        var fresh = FrameCipher(key: keys.clientToServer)
        let (length2, sealed2) = split(second)
        #expect(throws: TunnelV2Error.decryptFailed) { try fresh.open(length: length2, sealed: sealed2.readableBytesView) }
        // A length prefix changed (associated data), and another connection's keys.
        var other = FrameCipher(key: keys.clientToServer)
        #expect(throws: TunnelV2Error.decryptFailed) { try other.open(length: length + 1, sealed: sealed.readableBytesView) }
        var foreign = FrameCipher(key: Self.key.sessionKeys(clientHello: hello, serverSalt: TunnelV2.randomBytes(32)).clientToServer)
        #expect(throws: TunnelV2Error.decryptFailed) { try foreign.open(length: length, sealed: sealed.readableBytesView) }
        // The two directions have different keys.
        #expect(keys.clientToServer != keys.serverToClient)
    }

    @Test("the replay cache refuses a hello seen before and one outside the window, and stays bounded")
    func replayCache() {
        let cache = ReplayCache(windowSeconds: 60, limit: 100)
        let now = TunnelV2.nowMs()
        let salt = TunnelV2.randomBytes(32)
        #expect((try? cache.admit(salt: salt, timestamp: now, now: now).get()) != nil)
        #expect((try? cache.admit(salt: salt, timestamp: now, now: now).get()) == nil)
        #expect((try? cache.admit(salt: TunnelV2.randomBytes(32), timestamp: now - 61_000, now: now).get()) == nil)
        #expect((try? cache.admit(salt: TunnelV2.randomBytes(32), timestamp: now + 61_000, now: now).get()) == nil)
        for _ in 0..<1000 { _ = cache.admit(salt: TunnelV2.randomBytes(32), timestamp: now, now: now) }
    }

    @Test("tunnel URLs are parsed strictly: user info, other schemes, spaces and bad hosts are refused")
    func urls() throws {
        let good = try TunnelURL.parse("https://API.openai.com/v1/chat/completions?x=1#frag").get()
        #expect(good.origin.host == "api.openai.com" && good.origin.port == 443 && good.path == "/v1/chat/completions" && good.query == "x=1")
        let v6 = try TunnelURL.parse("http://[::1]:8080").get()
        #expect(v6.origin.host == "::1" && v6.origin.port == 8080 && v6.path == "/")
        for bad in [
            "http://allowed.example@evil.example/", "http://a:b@host/", "ftp://host/", "http://host/a b", "http://ho%73t/", "http://host:99999/",
            "//host/", "http://", "http://host\\@evil/",
        ] {
            #expect(throws: GatewayError.self, "\(bad)") { try TunnelURL.parse(bad).get() }
        }
    }

    @Test("targets: a provider's origin and path, the native provider among several, allowed hosts, private addresses refused")
    func targets() throws {
        var openai = ProviderConfig(name: "oa", type: .openai, baseURL: "https://api.example.com/v1")
        openai.apiKeys = [WeightedKey(key: "k")]
        let anthropic = ProviderConfig(name: "an", type: .anthropic, baseURL: "https://api.example.com")
        var config = TunnelConfig()
        config.allowHosts = ["other.example", "10.1.2.3:8000", "internal.example:8443"]
        let targets = TunnelTargets(providers: [Provider(config: openai), Provider(config: anthropic)], config: config)
        func resolve(_ url: String, _ dialect: Dialect = .openai) -> TunnelTargets.Resolution { targets.resolve(try! TunnelURL.parse(url).get(), dialect: dialect) }
        guard case .providers(let chat) = resolve("https://api.example.com/v1/chat/completions") else {
            Issue.record("no provider")
            return
        }
        #expect(chat.map(\.name) == ["oa"])
        guard case .providers(let messages) = resolve("https://api.example.com/v1/messages", .anthropic) else {
            Issue.record("no provider")
            return
        }
        #expect(messages.map(\.name) == ["an"])
        guard case .allowedHost(let other) = resolve("https://other.example/v1/chat/completions") else {
            Issue.record("not allowed")
            return
        }
        #expect(other.baseURL.publicOnly)
        for refused in ["http://api.example.com/v1/chat/completions", "https://evil.example/", "http://10.1.2.3:8000/", "https://other.example:444/"] {
            guard case .refused = resolve(refused) else {
                Issue.record("\(refused) was not refused")
                continue
            }
        }
        config.allowPrivateNetworks = true
        let open = TunnelTargets(providers: [], config: config)
        guard case .allowedHost(let inside) = open.resolve(try TunnelURL.parse("http://10.1.2.3:8000/x").get(), dialect: .openai) else {
            Issue.record("private allowed host refused")
            return
        }
        #expect(!inside.baseURL.publicOnly)
    }

    @Test("non-public addresses: private, loopback, link-local, mapped and unique-local ones; public ones not")
    func nonPublic() {
        for address in ["10.0.0.1", "127.0.0.1", "169.254.169.254", "192.168.1.1", "172.16.0.1", "100.64.0.1", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "0.0.0.0"] {
            #expect(CIDR.isNonPublic(address) == true, "\(address)")
        }
        for address in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] { #expect(CIDR.isNonPublic(address) == false, "\(address)") }
        #expect(CIDR.isNonPublic("example.com") == nil)
    }

    @Test("keys: hex and base64 of 32 bytes accepted; anything else refused with the fix; keygen makes valid ones")
    func keys() {
        #expect(TunnelConfig.keyBytes(String(repeating: "ab", count: 32)) == Array(repeating: 0xab, count: 32))
        #expect(TunnelConfig.keyBytes(Data(repeating: 1, count: 32).base64EncodedString()) == Array(repeating: 1, count: 32))
        #expect(TunnelConfig.keyBytes("  " + String(repeating: "0", count: 64) + "\n") != nil)
        #expect(TunnelConfig.keyBytes(String(repeating: "ab", count: 31)) == nil)
        #expect(TunnelConfig.keyBytes("not a key") == nil)
        #expect(TunnelConfig.keyBytes(TunnelKey.generateHex()) != nil)
        var config = TunnelConfig()
        guard case .failure(let problem) = config.resolvedKey() else {
            Issue.record("no key accepted")
            return
        }
        #expect(problem.path == "tunnel.key" && problem.message.contains("keygen"))
        config.key = "short"
        guard case .failure(let bad) = config.resolvedKey() else {
            Issue.record("bad key accepted")
            return
        }
        #expect(bad.message.contains("32-byte"))
    }

    @Test("allowlist entries: host, host:port and [v6]:port; schemes, paths, user info and wildcards refused")
    func hostRules() {
        #expect(TunnelHostRule("API.example.com")?.matches(host: "api.example.com", port: 443) == true)
        #expect(TunnelHostRule("api.example.com")?.matches(host: "api.example.com", port: 8443) == false)
        #expect(TunnelHostRule("api.example.com:8443")?.matches(host: "api.example.com", port: 8443) == true)
        #expect(TunnelHostRule("[::1]:80")?.matches(host: "::1", port: 80) == true)
        for bad in ["https://a", "a/b", "u@a", "*.a", "a:0", "a:x", ""] { #expect(TunnelHostRule(bad) == nil, "\(bad)") }
    }
}
