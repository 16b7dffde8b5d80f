/// What the configuration may put into an upstream request's head: header names, values and
/// keys. Checked when the configuration loads, because the upstream leg writes these bytes as
/// they are — a line break in a key would end its header line and start one of the config's
/// choosing (RFC 9110 §5.1, §5.5).
package enum HeaderText {
    /// A field name: one or more token characters.
    package static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(isTokenByte)
    }

    /// A field value: visible characters, obs-text, spaces and tabs inside, none at either end,
    /// and no other control character (CR, LF and NUL included).
    package static func isValue(_ text: String) -> Bool {
        let bytes = text.utf8
        if let first = bytes.first, first == 0x20 || first == 0x09 { return false }
        if let last = bytes.last, last == 0x20 || last == 0x09 { return false }
        return bytes.allSatisfy(isValueByte)
    }

    /// How a value must look, for the message of every key that holds one.
    package static let valueRule = "must be one line of visible characters without a line break, control character or surrounding spaces"

    /// Names the gateway frames or routes by itself: set by configuration, they would contradict
    /// the request's own framing (`content-length`, `transfer-encoding`) or its connection.
    package static let reservedNames: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "upgrade", "expect",
    ]

    /// The problem with one configured header, or nil: for a `ConfigProblem` at `…headers.<name>`.
    package static func problem(name: String, value: String) -> String? {
        if !isName(name) {
            return "is not a header name: use letters, digits and !#$%&'*+-.^_`|~ only (got \"\(name)\")"
        }
        if reservedNames.contains(name.lowercased()) {
            return "is set by the gateway for each request and cannot be configured; remove it"
        }
        if !isValue(value) { return valueRule }
        return nil
    }

    /// tchar (RFC 9110 section 5.6.2): the characters of a token (method, field name). The
    /// request parser's byte table is built from this.
    package static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// A byte a field value may hold: visible characters, obs-text, space and tab, and no other
    /// control character (NUL and DEL included).
    package static func isValueByte(_ byte: UInt8) -> Bool { byte >= 0x20 ? byte != 0x7F : byte == 0x09 }
}
