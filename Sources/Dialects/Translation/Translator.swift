/// A request translated for one upstream dialect: the body, where it goes, and what was left
/// out on the way.
package struct TranslatedRequest: Sendable, Equatable {
    package var body: String
    /// The path on the upstream's API (`/v1/messages`, `/v1beta/models/M:streamGenerateContent`).
    package var path: String
    package var query: String?
    package var notes: TranslationNotes
    /// Set when a JSON response format became a forced tool (Anthropic).
    package var jsonTool: String?
}

/// The pure entry points of translation: request bodies between dialects, and the
/// ``ResponseTranslator`` for answers. No sockets, no clocks unless given: golden transcripts
/// test every direction as functions.
package enum Translator {
    /// Reads a client's request in `client` format.
    package static func decode(_ body: JSON, from client: WireFormat, target: WireFormat, notes: inout TranslationNotes) throws(GatewayError) -> ChatRequest {
        switch client {
        case .openAIChat: return try OpenAIChatFormat.decodeRequest(body, notes: &notes, target: target)
        case .openAIResponses: return try ResponsesFormat.decodeRequest(body, notes: &notes, target: target)
        case .anthropicMessages: return try AnthropicFormat.decodeRequest(body, notes: &notes, target: target)
        case .gemini: return try GeminiFormat.decodeRequest(body, notes: &notes, target: target)
        }
    }

    /// Writes `request` for an upstream of `target` format, for `model`.
    package static func encode(_ request: ChatRequest, to target: WireFormat, model: String, notes: inout TranslationNotes) throws(GatewayError) -> TranslatedRequest {
        switch target {
        case .openAIChat:
            let body = OpenAIChatFormat.encodeRequest(request, model: model, notes: &notes)
            return TranslatedRequest(body: body.text, path: "/v1/chat/completions", query: nil, notes: notes, jsonTool: nil)
        case .anthropicMessages:
            let body = try AnthropicFormat.encodeRequest(request, model: model, notes: &notes)
            let forced = request.responseFormat != nil && request.responseFormat != .text
            return TranslatedRequest(body: body.text, path: "/v1/messages", query: nil, notes: notes, jsonTool: forced ? AnthropicFormat.jsonToolName : nil)
        case .gemini:
            let body = GeminiFormat.encodeRequest(request, notes: &notes)
            let action = request.stream ? "streamGenerateContent" : "generateContent"
            return TranslatedRequest(
                body: body.text, path: "/v1beta/models/\(model):\(action)", query: request.stream ? "alt=sse" : nil, notes: notes, jsonTool: nil)
        case .openAIResponses:
            // Responses upstreams are only ever sent Responses requests, untouched.
            throw .badRequest("Requests are not translated into the Responses API")
        }
    }

    /// Both steps, from the client's body bytes.
    package static func translate(
        _ bytes: UnsafeRawBufferPointer, from client: WireFormat, to target: WireFormat, model: String, stream: Bool
    ) -> Result<(TranslatedRequest, ChatRequest), GatewayError> {
        let json: JSON
        switch JSON.parse(bytes) {
        case .failure(let problem): return .failure(.badRequest(problem.message))
        case .success(let parsed): json = parsed
        }
        var notes = TranslationNotes()
        do {
            var request = try decode(json, from: client, target: target, notes: &notes)
            // Gemini streams by path, the others by flag: the operation decided.
            request.stream = stream
            return .success((try encode(request, to: target, model: model, notes: &notes), request))
        } catch {
            return .failure(error)
        }
    }
}

/// Turns one upstream answer into the client's dialect as it arrives: event streams event by
/// event (nothing held beyond an unfinished event), whole bodies and errors at their end.
/// One per attempt, on one event loop.
package struct ResponseTranslator {
    private enum Mode {
        case stream
        /// A whole JSON answer (or a stream the upstream answered in one piece).
        case whole
        case error(status: Int)
    }

    package let client: WireFormat
    package let upstream: WireFormat
    let streaming: Bool
    let context: TranslationContext
    let geminiArray: Bool
    private var mode = Mode.whole
    private var splitter = ServerSentEventSplitter()
    private var decoder: any StreamDecoder
    private var encoder: any StreamEncoder
    private var buffered: [UInt8] = []
    private var overflowed = false
    /// The counts the answer reported, normalised.
    package private(set) var usage = TokenCounts()
    package private(set) var failure: UpstreamFailure?

    /// Whole answers held at most before they are translated.
    package static let maxWholeBody = 32 * 1024 * 1024

    /// - Parameter geminiArray: a Gemini client streaming without `alt=sse` gets a JSON array.
    package init(client: WireFormat, upstream: WireFormat, streaming: Bool, context: TranslationContext, geminiArray: Bool = false) {
        self.client = client
        self.upstream = upstream
        self.streaming = streaming
        self.context = context
        self.geminiArray = geminiArray
        switch upstream {
        case .openAIChat, .openAIResponses: decoder = OpenAIChatStreamDecoder()
        case .anthropicMessages: decoder = AnthropicStreamDecoder(jsonTool: context.jsonToolName)
        case .gemini: decoder = GeminiStreamDecoder()
        }
        switch client {
        case .openAIChat: encoder = OpenAIChatStreamEncoder(context: context)
        case .openAIResponses: encoder = ResponsesStreamEncoder(context: context)
        case .anthropicMessages: encoder = AnthropicStreamEncoder(context: context)
        case .gemini: encoder = GeminiStreamEncoder(context: context, asArray: geminiArray)
        }
    }

    /// The status and content type the client gets for the upstream's head.
    package mutating func head(status: Int, contentType: String?) -> (status: Int, contentType: String) {
        if status >= 400 {
            mode = .error(status: status)
            return (UpstreamFailure(status: status, type: nil, message: "").clientStatus(in: client.dialect), "application/json")
        }
        let isStream = contentType?.lowercased().contains("text/event-stream") == true
        mode = streaming && isStream ? .stream : .whole
        if streaming { return (status, geminiArray ? "application/json" : "text/event-stream") }
        return (status, "application/json")
    }

    /// What to send the client for this piece of the upstream's body.
    package mutating func body(_ bytes: some Collection<UInt8>) -> String? {
        switch mode {
        case .stream:
            var out = ""
            for event in splitter.feed(bytes) { apply(decoder.decode(event), into: &out) }
            if splitter.overflowed, !encoder.ended {
                apply([.error(UpstreamFailure(status: 502, type: nil, message: "The upstream sent an event larger than the gateway's limit")), .end], into: &out)
            }
            return out.isEmpty ? nil : out
        case .whole, .error:
            if buffered.count + bytes.count > Self.maxWholeBody {
                overflowed = true
            } else {
                buffered.append(contentsOf: bytes)
            }
            return nil
        }
    }

    /// The rest, once the upstream's body ended.
    package mutating func end() -> String? {
        var out = ""
        switch mode {
        case .stream:
            if let last = splitter.finish() { apply(decoder.decode(last), into: &out) }
            // An upstream that ends its body without its end event still ends the client's stream.
            if !encoder.ended { apply([.end], into: &out) }
        case .error(let status):
            let failure = UpstreamFailure.read(status: status, body: buffered)
            self.failure = failure
            out = failure.body(in: client.dialect)
        case .whole:
            if overflowed {
                let failure = UpstreamFailure(status: 502, type: nil, message: "The upstream's answer is larger than the gateway translates (\(Self.maxWholeBody) bytes)")
                self.failure = failure
                return failure.body(in: client.dialect)
            }
            let response: ChatResponse
            do throws(GatewayError) {
                guard case .success(let json) = JSON.parse(buffered) else { throw GatewayError.badGateway("The upstream's answer is not JSON") }
                response = try Self.decodeResponse(json, from: upstream, jsonTool: context.jsonToolName)
            } catch {
                let failure = UpstreamFailure(status: 502, type: nil, message: error.message)
                self.failure = failure
                return failure.body(in: client.dialect)
            }
            usage = response.usage
            if streaming {
                apply(Self.events(of: response), into: &out)
            } else {
                out = Self.encodeResponse(response, to: client, context: context).text
            }
        }
        buffered = []
        return out.isEmpty ? nil : out
    }

    private mutating func apply(_ events: [StreamEvent], into out: inout String) {
        for event in events {
            if case .usage(let counts) = event { usage.merge(counts) }
            if case .error(let failure) = event { self.failure = failure }
            encoder.encode(event, into: &out)
        }
    }

    package static func decodeResponse(_ json: JSON, from format: WireFormat, jsonTool: String?) throws(GatewayError) -> ChatResponse {
        switch format {
        case .openAIChat, .openAIResponses: return try OpenAIChatFormat.decodeResponse(json)
        case .anthropicMessages: return try AnthropicFormat.decodeResponse(json, jsonTool: jsonTool)
        case .gemini: return try GeminiFormat.decodeResponse(json)
        }
    }

    package static func encodeResponse(_ response: ChatResponse, to format: WireFormat, context: TranslationContext) -> JSON {
        switch format {
        case .openAIChat: return OpenAIChatFormat.encodeResponse(response, context: context)
        case .openAIResponses: return ResponsesFormat.encodeResponse(response, context: context)
        case .anthropicMessages: return AnthropicFormat.encodeResponse(response, context: context)
        case .gemini: return GeminiFormat.encodeResponse(response, context: context)
        }
    }

    /// A whole answer as the events a stream of it would have had.
    package static func events(of response: ChatResponse) -> [StreamEvent] {
        var events: [StreamEvent] = [.start(id: response.id, model: response.model), .usage(response.usage)]
        for part in response.parts {
            switch part {
            case .text(let text): events.append(.text(text))
            case .thinking(let text, let signature):
                events.append(.thinking(text))
                if let signature { events.append(.thinkingSignature(signature)) }
            case .redactedThinking(let data): events.append(.redactedThinking(data))
            case .toolCall(let id, let name, let arguments):
                events.append(.toolCall(id: id, name: name))
                events.append(.toolArguments(arguments))
            default: break
            }
        }
        events.append(.finish(response.finish))
        events.append(.end)
        return events
    }
}
