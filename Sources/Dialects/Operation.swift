import HTTPTypes

/// What a request asks for, decided from its method and path alone. The dialect of the
/// operation decides the error shape of every answer on that path.
package struct Operation: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        // OpenAI
        case chatCompletions, completions, embeddings, listModels, retrieveModel
        /// `POST /v1/responses` (the Responses API).
        case responses
        /// Any other `/v1/*` path: forwarded as is to the route's upstream.
        case openAIPassthrough
        // Anthropic
        case messages, countTokens, anthropicPassthrough
        // Gemini
        case geminiListModels, geminiGetModel, generateContent, streamGenerateContent
        case geminiCountTokens, embedContent, geminiAction, geminiPassthrough
    }

    package var kind: Kind
    package var dialect: Dialect
    /// The model named in the path (Gemini `models/{model}:action`, OpenAI `models/{id}`).
    package var pathModel: String?
    /// Whether the model comes from the JSON body (`model` field).
    package var modelInBody: Bool {
        switch kind {
        case .chatCompletions, .completions, .embeddings, .messages, .countTokens, .responses: return true
        default: return false
        }
    }

    /// OpenAI operations whose streams report usage only on request
    /// (`stream_options.include_usage`).
    package var asksStreamUsage: Bool { kind == .chatCompletions || kind == .completions }

    /// The operation's name in the OpenTelemetry GenAI conventions (`gen_ai.operation.name`),
    /// for the operations they name.
    package var genAIName: String? {
        switch kind {
        case .chatCompletions, .messages, .responses: return "chat"
        case .completions: return "text_completion"
        case .embeddings, .embedContent: return "embeddings"
        case .generateContent, .streamGenerateContent: return "generate_content"
        default: return nil
        }
    }

    package init(kind: Kind, dialect: Dialect, pathModel: String? = nil) {
        self.kind = kind
        self.dialect = dialect
        self.pathModel = pathModel
    }

    /// Classifies `path` (without query). Returns nil for paths outside every API surface.
    /// A wrong method on a known path is reported as a ``GatewayError`` 405.
    package static func classify(method: HTTPRequest.Method, path: String) -> Result<Operation, GatewayError>? {
        func post(_ kind: Kind, _ dialect: Dialect, model: String? = nil) -> Result<Operation, GatewayError> {
            method == .post
                ? .success(Operation(kind: kind, dialect: dialect, pathModel: model))
                : .failure(.methodNotAllowed(method, path: path, allowed: "POST"))
        }
        func get(_ kind: Kind, _ dialect: Dialect, model: String? = nil) -> Result<Operation, GatewayError> {
            method == .get || method == .head
                ? .success(Operation(kind: kind, dialect: dialect, pathModel: model))
                : .failure(.methodNotAllowed(method, path: path, allowed: "GET"))
        }
        switch path {
        case "/v1/chat/completions": return post(.chatCompletions, .openai)
        case "/v1/completions": return post(.completions, .openai)
        case "/v1/embeddings": return post(.embeddings, .openai)
        case "/v1/models": return get(.listModels, .openai)
        case "/v1/messages": return post(.messages, .anthropic)
        case "/v1/responses": return post(.responses, .openai)
        case "/v1/messages/count_tokens": return post(.countTokens, .anthropic)
        case "/v1beta/models": return get(.geminiListModels, .gemini)
        default: break
        }
        if path.hasPrefix("/v1beta/models/") || path.hasPrefix("/v1/models/") {
            let rest = path.hasPrefix("/v1beta/") ? path.dropFirst("/v1beta/models/".count) : path.dropFirst("/v1/models/".count)
            if let colon = rest.lastIndex(of: ":") {
                let model = String(rest[..<colon])
                let kind: Kind
                switch rest[rest.index(after: colon)...] {
                case "generateContent": kind = .generateContent
                case "streamGenerateContent": kind = .streamGenerateContent
                case "countTokens": kind = .geminiCountTokens
                case "embedContent", "batchEmbedContents": kind = .embedContent
                default: kind = .geminiAction
                }
                return post(kind, .gemini, model: model)
            }
            if path.hasPrefix("/v1beta/") { return get(.geminiGetModel, .gemini, model: String(rest)) }
            return .success(Operation(kind: method == .get ? .retrieveModel : .openAIPassthrough, dialect: .openai, pathModel: String(rest)))
        }
        if path.hasPrefix("/v1/messages/") { return .success(Operation(kind: .anthropicPassthrough, dialect: .anthropic)) }
        if path.hasPrefix("/v1beta/") { return .success(Operation(kind: .geminiPassthrough, dialect: .gemini)) }
        if path.hasPrefix("/v1/") { return .success(Operation(kind: .openAIPassthrough, dialect: .openai)) }
        return nil
    }

    /// Why a request path must be refused before it is routed, or nil when it is plain.
    /// Dot segments, empty segments and percent-encoded dots, slashes or backslashes are
    /// refused: an upstream that normalises `/v1beta/models/a/../b:generateContent` serves
    /// model `b` while the gateway checked and routed `a`.
    package static func pathProblem(_ path: String) -> GatewayError? {
        var previous: UInt8 = 0
        var segmentLength = 0
        var segmentDots = 0
        let utf8 = path.utf8
        var index = utf8.startIndex
        func endSegment() -> Bool { segmentLength > 0 && segmentLength == segmentDots && segmentDots <= 2 }
        while index != utf8.endIndex {
            let byte = utf8[index]
            switch byte {
            case UInt8(ascii: "/"):
                if endSegment() || (previous == UInt8(ascii: "/") && index != utf8.startIndex) { return unsafe(path) }
                segmentLength = 0
                segmentDots = 0
            case UInt8(ascii: "\\"):
                return unsafe(path)
            case UInt8(ascii: "%"):
                let next = utf8.index(after: index)
                if next != utf8.endIndex, utf8.index(after: next) != utf8.endIndex {
                    let high = utf8[next] | 0x20, low = utf8[utf8.index(after: next)] | 0x20
                    // %2e . %2f / %5c \
                    if (high == UInt8(ascii: "2") && (low == UInt8(ascii: "e") || low == UInt8(ascii: "f"))) || (high == UInt8(ascii: "5") && low == UInt8(ascii: "c")) {
                        return unsafe(path)
                    }
                }
                segmentLength += 1
            case UInt8(ascii: "."):
                segmentLength += 1
                segmentDots += 1
            default:
                segmentLength += 1
            }
            previous = byte
            index = utf8.index(after: index)
        }
        return endSegment() ? unsafe(path) : nil
    }

    private static func unsafe(_ path: String) -> GatewayError {
        .badRequest("The request path may not contain '.' or '..' segments, empty segments, or encoded dots, slashes or backslashes")
    }

    /// The request shape translation reads, for the operations it translates (chats in the
    /// four shapes); nil for everything else, which only a provider of the client's own
    /// dialect serves.
    package var wireFormat: WireFormat? {
        switch kind {
        case .chatCompletions: return .openAIChat
        case .responses: return .openAIResponses
        case .messages: return .anthropicMessages
        case .generateContent, .streamGenerateContent: return .gemini
        default: return nil
        }
    }

    /// Whether the response will be a stream, from the path (Gemini) or the body flag.
    package func isStreaming(bodyFlag: Bool?) -> Bool {
        kind == .streamGenerateContent || bodyFlag == true
    }
}
