/// The few top-level fields of a JSON request body the gateway decides on, found by one pass
/// over the bytes instead of a full decode (a chat request can carry megabytes of messages
/// the gateway never needs to look at).
///
/// The pass is also a strict RFC 8259 validator, because the gateway and the upstream must
/// agree on every field the gateway decides on: a body the gateway forwards means the same
/// to any real JSON parser. So it refuses what parsers disagree on — invalid UTF-8, lone
/// surrogates, control characters in strings, bad numbers, trailing data, nesting past
/// ``maxDepth`` — and, at the top level, two keys that are equal once escapes are decoded
/// and case is folded the way Go's `encoding/json` folds it (`"model"`, `"mod\u0065l"`,
/// `"Model"`): Python keeps the last duplicate, Go matches keys case-insensitively, and
/// either would otherwise serve a different model than the one the gateway checked.
package struct TopLevelFields: Sendable, Equatable {
    /// The `model` string, unescaped.
    package var model: String?
    /// Byte offsets of the `model` value, quotes included, for rewriting an alias.
    package var modelRange: Range<Int>?
    /// The `stream` flag (`null` reads as absent).
    package var stream: Bool?
    /// `stream_options.include_usage` as the client sent it (`null` reads as absent).
    package var includeUsage: Bool?
    /// Byte offsets of the `stream_options` value (an object, braces included, or `null`).
    package var streamOptionsRange: Range<Int>?
    /// Byte offsets of each member of `stream_options` other than `include_usage`
    /// (`"key":value`), kept verbatim when the gateway rewrites the object.
    package var streamOptionsMembers: [Range<Int>] = []

    /// Whether `stream_options` is present (as an object or `null`).
    package var hasStreamOptions: Bool { streamOptionsRange != nil }
    /// The output allowance the request names: the largest of `max_tokens`,
    /// `max_completion_tokens` (OpenAI) and `max_output_tokens` (Responses API) that is a
    /// whole number; nil when none is. Only used to charge limits and budgets up front.
    package var maxOutputTokens: Int?
    /// Where the conversation's cacheable prefix is, for prompt-cache affinity
    /// (``PrefixRanges``).
    package var prefix = PrefixRanges()

    /// Byte offsets of the values a provider's prompt cache keys on: the instructions
    /// (`system` in Anthropic's, `systemInstruction` in Gemini's, `instructions` in the
    /// Responses dialect), `tools`, and the conversation (`messages`, `contents`, `input`),
    /// whose first bytes hold OpenAI's system message.
    package struct PrefixRanges: Sendable, Equatable {
        package var instructions: Range<Int>?
        package var tools: Range<Int>?
        package var conversation: Range<Int>?

        package var isEmpty: Bool { instructions == nil && tools == nil && conversation == nil }
    }

    /// Containers nested deeper than this are refused: no legitimate request needs it, and
    /// recursive parsers upstream would spend their stack on it.
    package static let maxDepth = 128

    /// Top-level fields whose meaning the gateway decides on; their case variants are
    /// refused even alone (a Go upstream would read `"Model"` as `model`).
    static let decidedFields: [[UInt8]] = [
        Array("model".utf8), Array("stream".utf8), Array("stream_options".utf8), Array("max_tokens".utf8), Array("max_output_tokens".utf8),
        Array("max_completion_tokens".utf8),
    ]

    package init() {}

    /// What is wrong with a body, for the 400 answer.
    package struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        package var message: String
        package var description: String { message }
    }

    /// Scans `bytes`, which must hold exactly one JSON object.
    package static func check(_ bytes: UnsafeRawBufferPointer) -> Result<TopLevelFields, Problem> {
        var scanner = StrictJSONScanner(bytes: bytes)
        do {
            return .success(try scanner.scanTopLevel())
        } catch {
            return .failure(error)
        }
    }

    package static func check(_ bytes: [UInt8]) -> Result<TopLevelFields, Problem> {
        bytes.withUnsafeBytes { check($0) }
    }

    /// The fields, or nil when the body is refused (see ``check(_:)-(UnsafeRawBufferPointer)`` for why).
    package static func scan(_ bytes: UnsafeRawBufferPointer) -> TopLevelFields? {
        try? check(bytes).get()
    }

    package static func scan(_ bytes: [UInt8]) -> TopLevelFields? {
        bytes.withUnsafeBytes { scan($0) }
    }
}

/// A single-pass validating JSON scanner that reports only what ``TopLevelFields`` needs.
/// Recursion is bounded by ``TopLevelFields/maxDepth``.
private struct StrictJSONScanner {
    typealias Problem = TopLevelFields.Problem
    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    func problem(_ what: String) -> Problem {
        Problem(message: "The request body is not valid JSON: \(what) at byte \(index)")
    }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func scanTopLevel() throws(Problem) -> TopLevelFields {
        var fields = TopLevelFields()
        skipSpace()
        guard current == UInt8(ascii: "{") else {
            throw Problem(message: "The request body must be a JSON object")
        }
        // Keys are compared by a hash of their decoded, folded bytes: no allocation per key
        // for the usual plain key. Two different keys with equal hashes would be refused as
        // duplicates, a harmless false positive at odds of 2^-64 per pair.
        var seen = KeyHashes()
        try scanObject(depth: 1) { scanner, key, keyHasEscapes, memberStart throws(Problem) in
            let decoded: [UInt8]? = keyHasEscapes ? try scanner.decodedKey(key) : nil
            let hash = decoded.map { name in name.withUnsafeBytes { Self.foldedHash($0) } } ?? Self.foldedHash(key)
            func name() -> String { decoded.map { String(decoding: $0, as: UTF8.self) } ?? String(decoding: key, as: UTF8.self) }
            guard seen.insert(hash) else {
                throw Problem(message: "The request body names the field \"\(name())\" twice (keys are compared after decoding escapes and ignoring case); send each field once")
            }
            guard let decided = Self.decidedHashes.firstIndex(of: hash) else {
                let start = scanner.index
                try scanner.skipValue(depth: 1)
                if let slot = Self.prefixHashes.firstIndex(of: hash) {
                    let range = start..<scanner.index
                    switch slot {
                    case 0, 1, 2, 3: fields.prefix.instructions = range
                    case 4: fields.prefix.tools = range
                    default: fields.prefix.conversation = range
                    }
                }
                return
            }
            let exact = TopLevelFields.decidedFields[decided]
            let isExact = decoded.map { $0 == exact } ?? key.elementsEqual(exact)
            if !isExact {
                throw Problem(message: "The field \"\(name())\" must be written \"\(String(decoding: exact, as: UTF8.self))\" (lowercase): upstreams disagree on other spellings")
            }
            try scanner.readDecided(exact, into: &fields)
        }
        skipSpace()
        guard index == bytes.count else { throw problem("data after the JSON object") }
        return fields
    }

    mutating func readDecided(_ name: [UInt8], into fields: inout TopLevelFields) throws(Problem) {
        let valueStart = index
        switch name.count {
        case 5: // model
            guard current == UInt8(ascii: "\"") else {
                if try readNull() { return }
                throw Problem(message: "The field \"model\" must be a string")
            }
            fields.model = try readString()
            fields.modelRange = valueStart..<index
        case 6: // stream
            guard let flag = try readOptionalBool() else { return }
            fields.stream = flag
        case 10, 17, 21: // max_tokens, max_output_tokens, max_completion_tokens
            // Any JSON value passes (the upstream judges it); a whole number is remembered.
            let start = index
            try skipValue(depth: 1)
            if let value = Self.wholeNumber(bytes[start..<index]) { fields.maxOutputTokens = max(fields.maxOutputTokens ?? 0, value) }
        default: // stream_options
            if try readNull() {
                fields.streamOptionsRange = valueStart..<index
                return
            }
            guard current == UInt8(ascii: "{") else { throw Problem(message: "The field \"stream_options\" must be an object") }
            var members: [Range<Int>] = []
            var includeUsage: Bool?
            var seen = KeyHashes()
            try scanObject(depth: 2) { scanner, key, keyHasEscapes, memberStart throws(Problem) in
                let name = keyHasEscapes ? try scanner.decodedKey(key) : Array(key)
                let hash = name.withUnsafeBytes { Self.foldedHash($0) }
                guard seen.insert(hash) else {
                    throw Problem(message: "\"stream_options\" names the field \"\(String(decoding: name, as: UTF8.self))\" twice; send each field once")
                }
                if hash == Self.includeUsageHash {
                    guard name == Array("include_usage".utf8) else { throw Problem(message: "The field \"stream_options.include_usage\" must be written in lowercase") }
                    includeUsage = try scanner.readOptionalBool()
                } else {
                    try scanner.skipValue(depth: 2)
                    members.append(memberStart..<scanner.index)
                }
            }
            fields.includeUsage = includeUsage
            fields.streamOptionsRange = valueStart..<index
            fields.streamOptionsMembers = members
        }
    }

    /// A non-negative integer written as plain digits (at most 9 of them), else nil.
    static func wholeNumber(_ digits: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard !digits.isEmpty, digits.count <= 9 else { return nil }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// `true`/`false`, nil for `null`; anything else is refused.
    mutating func readOptionalBool() throws(Problem) -> Bool? {
        if matchLiteral("true") { return true }
        if matchLiteral("false") { return false }
        if matchLiteral("null") { return nil }
        throw Problem(message: "The request body's boolean fields (stream, stream_options.include_usage) must be true, false or null")
    }

    mutating func readNull() throws(Problem) -> Bool {
        matchLiteral("null")
    }

    /// Walks an object whose `{` is at `index`, calling `member` with each raw key (between
    /// its quotes), whether it holds escapes, and where the member began; `member` must
    /// consume the value. Leaves `index` after the `}`.
    mutating func scanObject(depth: Int, _ member: (inout StrictJSONScanner, UnsafeRawBufferPointer, Bool, Int) throws(Problem) -> Void) throws(Problem) {
        guard depth <= TopLevelFields.maxDepth else { throw Problem(message: "The request body nests objects and arrays deeper than \(TopLevelFields.maxDepth) levels") }
        index += 1
        skipSpace()
        if current == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipSpace()
            guard current == UInt8(ascii: "\"") else { throw problem("expected a quoted key") }
            let memberStart = index
            let keyStart = index + 1
            let hasEscapes = try skipString()
            let key = UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(index - 1)])
            skipSpace()
            guard current == UInt8(ascii: ":") else { throw problem("expected ':' after a key") }
            index += 1
            skipSpace()
            guard index < bytes.count else { throw problem("unexpected end") }
            try member(&self, key, hasEscapes, memberStart)
            skipSpace()
            guard let next = current else { throw problem("unexpected end inside an object") }
            index += 1
            if next == UInt8(ascii: ",") { continue }
            if next == UInt8(ascii: "}") { return }
            throw problem("expected ',' or '}'")
        }
    }

    mutating func skipArray(depth: Int) throws(Problem) {
        guard depth <= TopLevelFields.maxDepth else { throw Problem(message: "The request body nests objects and arrays deeper than \(TopLevelFields.maxDepth) levels") }
        index += 1
        skipSpace()
        if current == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            skipSpace()
            try skipValue(depth: depth)
            skipSpace()
            guard let next = current else { throw problem("unexpected end inside an array") }
            index += 1
            if next == UInt8(ascii: ",") { continue }
            if next == UInt8(ascii: "]") { return }
            throw problem("expected ',' or ']'")
        }
    }

    /// Validates and skips one value at `index`; `depth` is that of the container holding it.
    mutating func skipValue(depth: Int) throws(Problem) {
        guard let first = current else { throw problem("expected a value") }
        switch first {
        case UInt8(ascii: "\""):
            _ = try skipString()
        case UInt8(ascii: "{"):
            try scanObject(depth: depth + 1) { scanner, _, _, _ throws(Problem) in try scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            try skipArray(depth: depth + 1)
        case UInt8(ascii: "t"):
            guard matchLiteral("true") else { throw problem("invalid literal") }
        case UInt8(ascii: "f"):
            guard matchLiteral("false") else { throw problem("invalid literal") }
        case UInt8(ascii: "n"):
            guard matchLiteral("null") else { throw problem("invalid literal") }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try skipNumber()
        default:
            throw problem("unexpected character")
        }
    }

    /// RFC 8259 number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func skipNumber() throws(Problem) {
        if current == UInt8(ascii: "-") { index += 1 }
        guard let lead = current, isDigit(lead) else { throw problem("invalid number") }
        index += 1
        if lead != UInt8(ascii: "0") { skipDigits() }
        if current == UInt8(ascii: ".") {
            index += 1
            guard let digit = current, isDigit(digit) else { throw problem("invalid number") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let digit = current, isDigit(digit) else { throw problem("invalid number") }
            skipDigits()
        }
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    mutating func skipDigits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }

    mutating func matchLiteral(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { return false }
        index += count
        return true
    }

    /// Validates and skips a string whose opening quote is at `index`; leaves `index` after
    /// the closing quote. Returns whether it held escapes.
    mutating func skipString() throws(Problem) -> Bool {
        index += 1
        var escapes = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return escapes
            }
            if byte == UInt8(ascii: "\\") {
                escapes = true
                _ = try readEscape()
            } else if byte < 0x20 {
                throw problem("a control character inside a string (escape it)")
            } else if byte < 0x80 {
                index += 1
            } else {
                try skipUTF8Sequence()
            }
        }
        throw problem("an unterminated string")
    }

    /// Validates one multi-byte UTF-8 sequence at `index` (RFC 3629: no overlong forms, no
    /// surrogates, nothing above U+10FFFF) and skips it.
    mutating func skipUTF8Sequence() throws(Problem) {
        let lead = bytes[index]
        let count: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: count = 2
        case 0xE0:
            count = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED:
            count = 3
            high = 0x9F
        case 0xF0:
            count = 4
            low = 0x90
        case 0xF1...0xF3: count = 4
        case 0xF4:
            count = 4
            high = 0x8F
        default: throw problem("invalid UTF-8")
        }
        guard index + count <= bytes.count else { throw problem("invalid UTF-8") }
        let second = bytes[index + 1]
        guard second >= low && second <= high else { throw problem("invalid UTF-8") }
        for offset in 2..<max(2, count) where bytes[index + offset] & 0xC0 != 0x80 { throw problem("invalid UTF-8") }
        index += count
    }

    /// Reads the escape at `index` (its backslash) and returns the scalar it stands for.
    /// Lone surrogates are refused: parsers turn them into different strings.
    mutating func readEscape() throws(Problem) -> Unicode.Scalar {
        index += 1
        guard let escaped = current else { throw problem("an unterminated escape") }
        index += 1
        switch escaped {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try readHex4()
            if (0xDC00..<0xE000).contains(unit) { throw problem("a lone low surrogate escape") }
            guard (0xD800..<0xDC00).contains(unit) else { return Unicode.Scalar(unit)! }
            guard matchLiteral("\\u") else { throw problem("a lone high surrogate escape") }
            let second = try readHex4()
            guard (0xDC00..<0xE000).contains(second) else { throw problem("a lone high surrogate escape") }
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (second - 0xDC00))!
        default:
            throw problem("an invalid escape")
        }
    }

    mutating func readHex4() throws(Problem) -> UInt32 {
        guard index + 4 <= bytes.count else { throw problem("a short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw problem("a \\u escape with a non-hex digit")
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Reads and unescapes the (already validated or not) string at `index`.
    mutating func readString() throws(Problem) -> String {
        let start = index + 1
        let escapes = try skipString()
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(index - 1)])
        if !escapes { return String(decoding: raw, as: UTF8.self) }
        return String(decoding: try decodedKey(raw), as: UTF8.self)
    }

    /// The UTF-8 of a validated string body (between its quotes) with escapes decoded.
    func decodedKey(_ raw: UnsafeRawBufferPointer) throws(Problem) -> [UInt8] {
        var inner = StrictJSONScanner(bytes: raw)
        var utf8: [UInt8] = []
        utf8.reserveCapacity(raw.count)
        while inner.index < raw.count {
            let byte = raw[inner.index]
            if byte == UInt8(ascii: "\\") {
                let scalar = try inner.readEscape()
                UTF8.encode(scalar) { utf8.append($0) }
            } else {
                utf8.append(byte)
                inner.index += 1
            }
        }
        return utf8
    }

    static let decidedHashes: [UInt64] = TopLevelFields.decidedFields.map { name in name.withUnsafeBytes { foldedHash($0) } }

    static let includeUsageHash: UInt64 = Array("include_usage".utf8).withUnsafeBytes { foldedHash($0) }

    /// The keys of ``TopLevelFields/PrefixRanges``, in the order its slots are filled.
    static let prefixHashes: [UInt64] = ["system", "systemInstruction", "system_instruction", "instructions", "tools", "messages", "contents", "input"].map {
        Array($0.utf8).withUnsafeBytes { foldedHash($0) }
    }

    /// FNV-1a of a key folded as Go's `encoding/json` matches keys — ASCII case, plus the two
    /// non-ASCII letters whose simple case folding reaches ASCII (U+017F ſ → s, U+212A Kelvin
    /// → k) — without building the folded copy.
    static func foldedHash(_ name: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func add(_ byte: UInt8) { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        var index = 0
        while index < name.count {
            let byte = name[index]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") {
                add(byte | 0x20)
            } else if byte == 0xC5, index + 1 < name.count, name[index + 1] == 0xBF {
                add(UInt8(ascii: "s")) // U+017F
                index += 1
            } else if byte == 0xE2, index + 2 < name.count, name[index + 1] == 0x84, name[index + 2] == 0xAA {
                add(UInt8(ascii: "k")) // U+212A
                index += 2
            } else {
                add(byte)
            }
            index += 1
        }
        return hash
    }
}

/// The hashes of the keys seen in one object: a short array for the usual handful, a set once
/// there are many (so ten thousand keys cost linear time, not quadratic).
private struct KeyHashes {
    private var few: [UInt64] = []
    private var many: Set<UInt64>?

    /// False when `hash` was seen already.
    mutating func insert(_ hash: UInt64) -> Bool {
        if many != nil { return many!.insert(hash).inserted }
        if few.contains(hash) { return false }
        few.append(hash)
        if few.count > 16 {
            many = Set(few)
            few = []
        }
        return true
    }
}
