import Dialects
import HTTPTypes

/// Finds the key a client presented. Every surface accepts all four places, so any SDK works
/// on any route: `Authorization: Bearer` (scheme case-insensitive), `x-api-key`,
/// `x-goog-api-key`, and the `key` query parameter.
package enum ClientKey {
    static let xAPIKey = HTTPField.Name("x-api-key")!
    static let xGoogAPIKey = HTTPField.Name("x-goog-api-key")!

    package static func extract(from headers: HTTPFields, query: Substring?) -> String? {
        if let value = headers.value(of: xAPIKey), !value.isEmpty { return value }
        if let value = headers.value(of: .authorization), let token = bearerToken(value) { return token }
        if let value = headers.value(of: xGoogAPIKey), !value.isEmpty { return value }
        if let query {
            for pair in query.split(separator: "&") where pair.hasPrefix("key=") {
                let raw = pair.dropFirst(4)
                if !raw.isEmpty { return String(raw).removingPercentEncoding() }
            }
        }
        return nil
    }

    /// The token of `Bearer <token>` (scheme in any case, spaces around it skipped), read over
    /// the bytes: this runs on every request, and counting characters and lowercasing a copy
    /// of the scheme cost more than the rest of the key check.
    static func bearerToken(_ value: String) -> String? {
        let utf8 = value.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex, utf8[index] == UInt8(ascii: " ") { utf8.formIndex(after: &index) }
        for expected in "bearer".utf8 {
            // ASCII letters only: setting bit 5 lowercases them and maps nothing else onto one.
            guard index != utf8.endIndex, utf8[index] | 0x20 == expected else { return nil }
            utf8.formIndex(after: &index)
        }
        guard index != utf8.endIndex, utf8[index] == UInt8(ascii: " ") else { return nil }
        while index != utf8.endIndex, utf8[index] == UInt8(ascii: " ") { utf8.formIndex(after: &index) }
        guard index != utf8.endIndex else { return nil }
        return String(Substring(utf8[index...]))
    }
}

extension String {
    /// Decodes `%XX` escapes (and `+` as space) in a query value; invalid escapes stay as is.
    func removingPercentEncoding() -> String {
        guard contains("%") || contains("+") else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                bytes.append(0x20)
                continue
            }
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                let h = KeyDigest.nibble(high), let l = KeyDigest.nibble(low)
            else {
                bytes.append(byte)
                continue
            }
            bytes.append(h << 4 | l)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
