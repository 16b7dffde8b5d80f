import Foundation
import NIOCore
import ProxyCore

/// Protocol v1, the xllm client's wire format: one JSON document each way per connection.
///
/// Request: `{"proxy_url": String, "request_object": [bytes]}`, the bytes being a 12-byte
/// nonce ‖ AES-256-GCM ciphertext ‖ tag of `{"method", "url", "headers": {String: String},
/// "body": [bytes]}`. Response: `{"response_object": [bytes]}` sealed the same way around
/// `{"status_code", "headers", "body"}`. Byte arrays are JSON arrays of numbers (serde's
/// `Vec<u8>`).
enum XLLMDocument {
    enum Failure: Error {
        /// Not a document of this shape (the reason, for the log and the error body).
        case malformed(String)
        /// The object does not open with the key: tampered, or sealed with another key.
        case decryptFailed
    }

    /// The encrypted inner request of a request document.
    static func sealedRequest(_ document: ByteBuffer, limit: Int) throws(Failure) -> ByteBuffer {
        do {
            return try document.withUnsafeReadableBytes { raw in
                var reader = TunnelJSONReader(raw)
                var object: ByteBuffer?
                try reader.object { key, reader in
                    switch key {
                    case "request_object":
                        var buffer = ByteBuffer()
                        try reader.byteArray(into: &buffer, limit: limit)
                        object = buffer
                    case "proxy_url": _ = try reader.string()
                    default: try reader.skipValue()
                    }
                }
                try reader.end()
                guard let object else { throw TunnelJSONError(description: "no request_object") }
                return object
            }
        } catch let error as TunnelJSONError {
            throw .malformed(error.description)
        } catch {
            throw .malformed("\(error)")
        }
    }

    /// Opens and reads the inner request.
    static func request(_ sealed: ByteBuffer, key: TunnelKey, bodyLimit: Int) throws(Failure) -> TunnelRequest {
        let plain: Data
        do {
            plain = try key.openV1(sealed.readableBytesView)
        } catch {
            throw .decryptFailed
        }
        do {
            return try plain.withUnsafeBytes { raw in
                var reader = TunnelJSONReader(raw)
                var method: String?
                var url: String?
                var headers: [(name: String, value: String)] = []
                var body: ByteBuffer?
                try reader.object { key, reader in
                    switch key {
                    case "method": method = try reader.string()
                    case "url": url = try reader.string()
                    case "headers": headers = reader.isNull() ? [] : try reader.stringMap()
                    case "body":
                        if !reader.isNull() {
                            var buffer = ByteBuffer()
                            try reader.byteArray(into: &buffer, limit: bodyLimit)
                            body = buffer
                        }
                    default: try reader.skipValue()
                    }
                }
                try reader.end()
                guard let method, let url else { throw TunnelJSONError(description: "the inner request lacks method or url") }
                return TunnelRequest(method: method, url: url, headers: headers, body: body)
            }
        } catch let error as TunnelJSONError {
            throw .malformed("inner request: \(error.description)")
        } catch {
            throw .malformed("\(error)")
        }
    }

    /// The response document for `status`, `headers` and `body`, sealed with `key`.
    static func response(status: Int, headers: [(name: String, value: String)], body: ByteBuffer, key: TunnelKey) -> ByteBuffer {
        var inner = ByteBuffer()
        inner.reserveCapacity(body.readableBytes * 4 + 256)
        inner.writeStaticString("{\"status_code\":")
        inner.writeString(String(status))
        inner.writeStaticString(",\"headers\":")
        TunnelJSONWriter.writeStringMap(joined(headers), into: &inner)
        inner.writeStaticString(",\"body\":")
        TunnelJSONWriter.writeBytes(body.readableBytesView, into: &inner)
        inner.writeStaticString("}")
        // Sealing cannot fail for a 256-bit key and a random nonce; an empty object would
        // only make the client report a decryption error.
        let sealed = (try? key.sealV1(inner.readableBytesView)) ?? Data()
        var document = ByteBuffer()
        document.reserveCapacity(sealed.count * 4 + 32)
        document.writeStaticString("{\"response_object\":")
        TunnelJSONWriter.writeBytes(sealed, into: &document)
        document.writeStaticString("}")
        return document
    }

    /// One value per name (the client reads a map): repeated headers joined with ", ".
    static func joined(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var order: [String] = []
        var values: [String: String] = [:]
        for (name, value) in headers {
            if let existing = values[name] {
                values[name] = existing + ", " + value
            } else {
                order.append(name)
                values[name] = value
            }
        }
        return order.map { ($0, values[$0] ?? "") }
    }
}
