/// What an encoder of answers needs beyond the answer itself.
package struct TranslationContext: Sendable, Equatable {
    /// Unix seconds for `created` fields.
    package var created: Int
    /// The model to name when the upstream does not (the model the request was sent for).
    package var model: String?
    /// The OpenAI client asked for the usage chunk of its stream.
    package var includeUsage: Bool
    /// The tool the gateway added to make an Anthropic model answer in JSON (the client asked
    /// for a response format Anthropic has no switch for): its call is the answer's text.
    package var jsonToolName: String?

    package init(created: Int, model: String?, includeUsage: Bool = false, jsonToolName: String? = nil) {
        self.created = created
        self.model = model
        self.includeUsage = includeUsage
        self.jsonToolName = jsonToolName
    }
}

extension UpstreamFailure {
    private var asGatewayError: GatewayError {
        GatewayError(status: .init(code: status), code: .upstreamRefused, message: message)
    }
    /// The OpenAI error `type` for this failure.
    var openAIType: String { asGatewayError.openAIType }
    var anthropicType: String { type.flatMap { Self.anthropicTypes.contains($0) ? $0 : nil } ?? asGatewayError.anthropicType }
    var googleStatus: String { asGatewayError.googleStatus }

    static let anthropicTypes: Set<String> = [
        "invalid_request_error", "authentication_error", "permission_error", "not_found_error", "request_too_large", "rate_limit_error",
        "api_error", "overloaded_error", "timeout_error", "billing_error",
    ]

    /// The status an error type inside a stream stands for.
    static func status(forType type: String?) -> Int {
        switch type {
        case "invalid_request_error", "INVALID_ARGUMENT": return 400
        case "authentication_error", "UNAUTHENTICATED": return 401
        case "permission_error", "PERMISSION_DENIED": return 403
        case "not_found_error", "NOT_FOUND": return 404
        case "rate_limit_error", "RESOURCE_EXHAUSTED": return 429
        case "overloaded_error": return 529
        case "UNAVAILABLE": return 503
        case "timeout_error", "DEADLINE_EXCEEDED": return 504
        default: return 500
        }
    }

    /// Reads an upstream's error body, whatever its dialect (the three shapes differ enough
    /// to tell apart).
    package static func read(status: Int, body: [UInt8]) -> UpstreamFailure {
        guard case .success(let json) = JSON.parse(body) else {
            let text = String(decoding: body.prefix(512), as: UTF8.self)
            return UpstreamFailure(status: status, type: nil, message: text.isEmpty ? "The upstream answered HTTP \(status)" : text)
        }
        // OpenAI {error:{message,type}}, Anthropic {type:error,error:{type,message}},
        // Gemini {error:{code,message,status}}; some servers send a bare {message} or {detail}.
        let error = json["error"]?.object
        let message = error?["message"]?.string ?? json["error"]?.string ?? json["message"]?.string ?? json["detail"]?.string
        let type = error?["type"]?.string ?? error?["status"]?.string ?? error?["code"]?.string
        return UpstreamFailure(status: status, type: type, message: message ?? "The upstream answered HTTP \(status)")
    }

    /// The error body in `dialect`'s shape.
    package func body(in dialect: Dialect) -> String {
        switch dialect {
        case .openai:
            let object: JSONObject = ["message": .string(message), "type": .string(openAIType), "param": .null, "code": type.map(JSON.string) ?? .null]
            return JSON.object(["error": .object(object)]).text
        case .anthropic:
            return JSON.object(["type": "error", "error": .object(["type": .string(anthropicType), "message": .string(message)])]).text
        case .gemini:
            return JSON.object(["error": .object(["code": JSON(status), "message": .string(message), "status": .string(googleStatus)])]).text
        }
    }

    /// The status the client sees: Anthropic's 529 (overloaded) is 503 in the other dialects.
    package func clientStatus(in dialect: Dialect) -> Int {
        status == 529 && dialect != .anthropic ? 503 : status
    }
}
