/// What a translation left out: request fields with no equivalent on the target, collected
/// while decoding and encoding and sent to the client as `x-llmproxy-warning`. What would
/// change a request's meaning is refused instead (a ``GatewayError`` 400).
package struct TranslationNotes: Sendable, Equatable {
    package private(set) var dropped: [String] = []

    package init() {}

    package mutating func drop(_ what: String) {
        if !dropped.contains(what) { dropped.append(what) }
    }

    /// The `x-llmproxy-warning` value, or nil when nothing was dropped.
    package func header(target: WireFormat) -> String? {
        guard !dropped.isEmpty else { return nil }
        return "dropped with no equivalent in \(target.displayName): " + dropped.joined(separator: ", ")
    }
}

extension WireFormat {
    package var displayName: String {
        switch self {
        case .openAIChat: return "OpenAI Chat Completions"
        case .openAIResponses: return "OpenAI Responses"
        case .anthropicMessages: return "Anthropic Messages"
        case .gemini: return "Gemini generateContent"
        }
    }
}

extension GatewayError {
    /// A request that cannot be translated without changing what it means.
    package static func untranslatable(_ what: String, target: WireFormat) -> GatewayError {
        GatewayError(
            status: .badRequest, code: .untranslatable,
            message: "\(what) cannot be translated to \(target.displayName), which serves this model; send it to a model of a provider that supports it")
    }

    /// A request body translation could not read.
    package static func invalidBody(_ message: String) -> GatewayError { .badRequest(message) }
}

/// Reading helpers shared by the decoders: each names the field it looked at, so a refusal
/// says exactly what was wrong.
extension JSONObject {
    func string(_ key: String, in context: String) throws(GatewayError) -> String? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let text = value.string else { throw .badRequest("\(context).\(key) must be a string") }
        return text
    }

    func int(_ key: String, in context: String) throws(GatewayError) -> Int? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let number = value.int else { throw .badRequest("\(context).\(key) must be an integer") }
        return number
    }

    func number(_ key: String, in context: String) throws(GatewayError) -> JSON? {
        guard let value = self[key], !value.isNull else { return nil }
        guard case .number = value else { throw .badRequest("\(context).\(key) must be a number") }
        return value
    }

    func bool(_ key: String, in context: String) throws(GatewayError) -> Bool? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let flag = value.bool else { throw .badRequest("\(context).\(key) must be true or false") }
        return flag
    }

    func array(_ key: String, in context: String) throws(GatewayError) -> [JSON]? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let items = value.array else { throw .badRequest("\(context).\(key) must be an array") }
        return items
    }

    func object(_ key: String, in context: String) throws(GatewayError) -> JSONObject? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let object = value.object else { throw .badRequest("\(context).\(key) must be an object") }
        return object
    }

    /// Records every member not in `known` as dropped.
    func dropUnknown(_ known: Set<String>, prefix: String = "", notes: inout TranslationNotes) {
        for key in keys where !known.contains(key) { notes.drop(prefix + key) }
    }
}

extension JSON {
    /// The object of a tool call's arguments text (`{}` for empty text), or nil when the text
    /// is not a JSON object.
    static func arguments(_ text: String) -> JSONObject? {
        let trimmed = text.trimmingWhitespace()
        if trimmed.isEmpty { return JSONObject() }
        guard case .success(.object(let object)) = JSON.parse(trimmed) else { return nil }
        return object
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}

/// Ids the gateway makes up where a dialect needs one the upstream did not give (Gemini's
/// calls, responses without an id): random, in the target's style.
package enum GeneratedID {
    package static func make(_ prefix: String) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        for _ in 0..<24 { bytes.append(alphabet[Int.random(in: 0..<alphabet.count)]) }
        return prefix + String(decoding: bytes, as: UTF8.self)
    }
}
