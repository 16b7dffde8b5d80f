import Crypto
import Foundation

/// The tunnel's two protocols written from their description (docs/TUNNEL.md and the xllm
/// wire format), independently of the gateway's own code, so the tests check the wire and
/// not the implementation against itself.
enum XLLMWire {
    /// A request document: `{"proxy_url": …, "request_object": [nonce ‖ ciphertext ‖ tag]}`
    /// around `{"method", "url", "headers": {…}, "body": [bytes]}`.
    static func requestDocument(method: String, url: String, headers: [String: String], body: String, key: SymmetricKey) throws -> [UInt8] {
        let inner: [String: Any] = ["method": method, "url": url, "headers": headers, "body": Array(body.utf8).map(Int.init)]
        let plain = try JSONSerialization.data(withJSONObject: inner)
        let sealed = try AES.GCM.seal(plain, using: key).combined!
        return try document(sealedObject: Array(sealed))
    }

    static func document(sealedObject: [UInt8]) throws -> [UInt8] {
        let outer: [String: Any] = ["proxy_url": "http://tunnel.test:50051", "request_object": sealedObject.map(Int.init)]
        return Array(try JSONSerialization.data(withJSONObject: outer))
    }

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    /// Opens a response document; nil when it is not one or does not open with `key`.
    static func response(_ bytes: [UInt8], key: SymmetricKey) -> Response? {
        guard let outer = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let numbers = outer["response_object"] as? [Int],
            let box = try? AES.GCM.SealedBox(combined: Data(numbers.map { UInt8($0) })),
            let plain = try? AES.GCM.open(box, using: key),
            let inner = try? JSONSerialization.jsonObject(with: plain) as? [String: Any],
            let status = inner["status_code"] as? Int
        else { return nil }
        let body = (inner["body"] as? [Int] ?? []).map { UInt8($0) }
        return Response(status: status, headers: inner["headers"] as? [String: String] ?? [:], body: String(decoding: body, as: UTF8.self))
    }
}

/// Protocol v2 from its description: hello, HKDF session keys, sealed frames with counter
/// nonces and the length as associated data.
struct V2Wire {
    enum FrameType: UInt8 {
        case request = 1
        case head, body, end, cancel, error, ping, pong
    }

    let key: SymmetricKey
    var clientHello: [UInt8] = []
    var sendKey: SymmetricKey?
    var receiveKey: SymmetricKey?
    var sendCounter: UInt64 = 0
    var receiveCounter: UInt64 = 0

    init(key: SymmetricKey) { self.key = key }

    static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    mutating func hello(timestamp: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) -> [UInt8] {
        var salt = [UInt8](repeating: 0, count: 32)
        for index in salt.indices { salt[index] = UInt8.random(in: 0...255) }
        clientHello = Array("LLMT".utf8) + [2, 0, 0, 0] + Self.bigEndian(timestamp) + salt
        return clientHello
    }

    /// Reads the server hello (40 bytes) and derives the keys.
    mutating func accept(serverHello: [UInt8]) -> Bool {
        guard serverHello.count >= 40, Array(serverHello[0..<4]) == Array("LLMT".utf8), serverHello[4] == 2 else { return false }
        let salt = clientHello + Array(serverHello[8..<40])
        sendKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: salt, info: Array("llmproxy tunnel v2 client to server".utf8), outputByteCount: 32)
        receiveKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: salt, info: Array("llmproxy tunnel v2 server to client".utf8), outputByteCount: 32)
        return true
    }

    static func nonce(_ counter: UInt64) -> AES.GCM.Nonce { try! AES.GCM.Nonce(data: [0, 0, 0, 0] + bigEndian(counter)) }

    mutating func frame(_ type: FrameType, stream: UInt32, payload: [UInt8], timestamp: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) -> [UInt8] {
        let plain = [type.rawValue] + Self.bigEndian(stream) + Self.bigEndian(timestamp) + payload
        let length = Self.bigEndian(UInt32(plain.count + 16))
        let box = try! AES.GCM.seal(plain, using: sendKey!, nonce: Self.nonce(sendCounter), authenticating: length)
        sendCounter += 1
        return length + Array(box.ciphertext) + Array(box.tag)
    }

    static func requestPayload(method: String, url: String, headers: [(String, String)], body: String) -> [UInt8] {
        let header: [String: Any] = ["method": method, "url": url, "headers": headers.map { [$0.0, $0.1] }]
        let json = Array(try! JSONSerialization.data(withJSONObject: header))
        return bigEndian(UInt32(json.count)) + json + Array(body.utf8)
    }

    struct Frame {
        var type: UInt8
        var stream: UInt32
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any] ?? [:] }
    }

    /// Opens the frames in `bytes` (after the 40-byte server hello), from `offset`; returns
    /// the frames and the offset after the last whole one.
    mutating func frames(in bytes: [UInt8], from offset: Int) -> (frames: [Frame], next: Int)? {
        var index = offset
        var result: [Frame] = []
        while bytes.count - index >= 4 {
            let length = Int(bytes[index..<index + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard bytes.count - index - 4 >= length else { break }
            let sealed = Array(bytes[index + 4..<index + 4 + length])
            let aad = Array(bytes[index..<index + 4])
            guard let box = try? AES.GCM.SealedBox(nonce: Self.nonce(receiveCounter), ciphertext: sealed.dropLast(16), tag: sealed.suffix(16)),
                let plain = try? AES.GCM.open(box, using: receiveKey!, authenticating: aad)
            else { return nil }
            receiveCounter += 1
            let raw = Array(plain)
            result.append(Frame(type: raw[0], stream: raw[1..<5].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }, payload: Array(raw[13...])))
            index += 4 + length
        }
        return (result, index)
    }
}
