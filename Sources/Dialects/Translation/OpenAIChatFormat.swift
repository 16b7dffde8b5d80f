/// OpenAI Chat Completions (`POST /v1/chat/completions`) read into and written from the
/// neutral ``ChatRequest`` / ``ChatResponse`` / ``StreamEvent`` model.
package enum OpenAIChatFormat {
    static let knownRequestFields: Set<String> = [
        "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens", "max_completion_tokens", "temperature",
        "top_p", "stop", "stream", "stream_options", "response_format", "reasoning_effort", "seed", "presence_penalty",
        "frequency_penalty", "user", "n",
    ]

    // MARK: request

    package static func decodeRequest(_ body: JSON, notes: inout TranslationNotes, target: WireFormat) throws(GatewayError) -> ChatRequest {
        guard let root = body.object else { throw .badRequest("The request body must be a JSON object") }
        var request = ChatRequest()
        request.model = try root.string("model", in: "body")
        if let n = try root.int("n", in: "body"), n != 1 { throw .untranslatable("n = \(n) (several choices)", target: target) }
        if let modalities = try root.array("modalities", in: "body"), modalities.contains(where: { $0.string == "audio" }) {
            throw .untranslatable("Audio output (modalities)", target: target)
        }
        if root["audio"] != nil, root["audio"] != .null { throw .untranslatable("Audio output (audio)", target: target) }
        root.dropUnknown(knownRequestFields.union(["modalities", "audio"]), notes: &notes)
        guard let messages = try root.array("messages", in: "body") else { throw .badRequest("body.messages is required") }
        var callNames: [String: String] = [:]
        for (index, item) in messages.enumerated() {
            let where_ = "messages[\(index)]"
            guard let message = item.object else { throw .badRequest("\(where_) must be an object") }
            let role = try message.string("role", in: where_) ?? ""
            switch role {
            case "system", "developer":
                let text = try texts(message["content"], in: where_, target: target).joined(separator: "\n")
                request.system.append(text)
            case "user":
                let parts = try userParts(message["content"], in: where_, target: target)
                request.messages.append(ChatMessage(role: .user, parts: parts))
            case "assistant":
                var parts: [ContentPart] = []
                if let reasoning = message["reasoning_content"]?.string ?? message["reasoning"]?.string, !reasoning.isEmpty {
                    parts.append(.thinking(text: reasoning, signature: nil))
                }
                for text in try texts(message["content"], in: where_, target: target, allowRefusal: true) where !text.isEmpty {
                    parts.append(.text(text))
                }
                for (callIndex, call) in (try message.array("tool_calls", in: where_) ?? []).enumerated() {
                    let at = "\(where_).tool_calls[\(callIndex)]"
                    guard let call = call.object, let function = try call.object("function", in: at) else {
                        throw .badRequest("\(at) must be an object with a function")
                    }
                    let id = try call.string("id", in: at) ?? GeneratedID.make("call_")
                    let name = try function.string("name", in: "\(at).function") ?? ""
                    callNames[id] = name
                    parts.append(.toolCall(id: id, name: name, arguments: try function.string("arguments", in: "\(at).function") ?? "{}"))
                }
                if message["function_call"] != nil, message["function_call"] != .null {
                    throw .untranslatable("The legacy function_call message field (use tool_calls)", target: target)
                }
                request.messages.append(ChatMessage(role: .assistant, parts: parts))
            case "tool":
                let id = try message.string("tool_call_id", in: where_) ?? ""
                let text = try texts(message["content"], in: where_, target: target).joined()
                let result = ContentPart.toolResult(id: id, name: callNames[id] ?? "", content: [.text(text)], isError: false)
                // Consecutive tool messages answer one assistant turn: one user turn holds them.
                if var last = request.messages.last, last.role == .user, last.parts.allSatisfy(\.isToolResult) {
                    last.parts.append(result)
                    request.messages[request.messages.count - 1] = last
                } else {
                    request.messages.append(ChatMessage(role: .user, parts: [result]))
                }
            case "function":
                throw .untranslatable("The legacy function role (use tool)", target: target)
            default:
                throw .badRequest("\(where_).role must be system, developer, user, assistant or tool")
            }
        }
        for (index, tool) in (try root.array("tools", in: "body") ?? []).enumerated() {
            let at = "tools[\(index)]"
            guard let tool = tool.object else { throw .badRequest("\(at) must be an object") }
            guard (try tool.string("type", in: at) ?? "function") == "function", let function = try tool.object("function", in: at) else {
                throw .untranslatable("A tool of type '\(tool["type"]?.string ?? "")'", target: target)
            }
            guard let name = try function.string("name", in: "\(at).function") else { throw .badRequest("\(at).function.name is required") }
            request.tools.append(
                ToolDefinition(
                    name: name, description: try function.string("description", in: "\(at).function"),
                    parameters: function["parameters"] ?? .object(["type": "object", "properties": .object([:])]),
                    strict: try function.bool("strict", in: "\(at).function")))
        }
        if let choice = root["tool_choice"], choice != .null {
            switch choice {
            case .string("auto"): request.toolChoice = .auto
            case .string("none"): request.toolChoice = ToolChoice.none
            case .string("required"): request.toolChoice = .required
            case .object(let object):
                guard let name = object["function"]?["name"]?.string else { throw .badRequest("tool_choice.function.name is required") }
                request.toolChoice = .tool(name)
            default: throw .badRequest("tool_choice must be auto, none, required or a function")
            }
        }
        request.parallelToolCalls = try root.bool("parallel_tool_calls", in: "body")
        let completionTokens = try root.int("max_completion_tokens", in: "body")
        let legacyTokens = try root.int("max_tokens", in: "body")
        request.maxTokens = completionTokens ?? legacyTokens
        request.temperature = try root.number("temperature", in: "body")
        request.topP = try root.number("top_p", in: "body")
        request.seed = try root.number("seed", in: "body")
        request.presencePenalty = try root.number("presence_penalty", in: "body")
        request.frequencyPenalty = try root.number("frequency_penalty", in: "body")
        request.user = try root.string("user", in: "body")
        switch root["stop"] {
        case .string(let stop)?: request.stop = [stop]
        case .array(let stops)?: request.stop = stops.compactMap(\.string)
        default: break
        }
        request.stream = try root.bool("stream", in: "body") ?? false
        request.includeUsage = (try root.object("stream_options", in: "body"))?["include_usage"]?.bool ?? false
        if let format = try root.object("response_format", in: "body") {
            switch try format.string("type", in: "response_format") {
            case "json_object": request.responseFormat = .jsonObject
            case "json_schema":
                guard let schema = try format.object("json_schema", in: "response_format") else {
                    throw .badRequest("response_format.json_schema is required")
                }
                request.responseFormat = .jsonSchema(
                    name: try schema.string("name", in: "response_format.json_schema") ?? "response",
                    schema: schema["schema"] ?? .object([:]), strict: try schema.bool("strict", in: "response_format.json_schema"))
            default: request.responseFormat = .text
            }
        }
        if let effort = try root.string("reasoning_effort", in: "body") {
            guard let level = Reasoning.Effort(rawValue: effort == "none" ? "minimal" : effort) else {
                throw .badRequest("reasoning_effort must be minimal, low, medium or high")
            }
            request.reasoning = effort == "none" ? Reasoning(disabled: true) : Reasoning(effort: level)
        }
        return request
    }

    /// Text of a `content` value: a string, or an array of text (and, for assistants,
    /// refusal) parts.
    static func texts(_ content: JSON?, in context: String, target: WireFormat, allowRefusal: Bool = false) throws(GatewayError) -> [String] {
        switch content {
        case nil, .null?: return []
        case .string(let text)?: return [text]
        case .array(let parts)?:
            var out: [String] = []
            for part in parts {
                guard let part = part.object else { throw .badRequest("\(context).content parts must be objects") }
                switch part["type"]?.string {
                case "text": out.append(part["text"]?.string ?? "")
                case "refusal" where allowRefusal: out.append(part["refusal"]?.string ?? "")
                default: throw .untranslatable("A '\(part["type"]?.string ?? "")' content part in \(context)", target: target)
                }
            }
            return out
        default: throw .badRequest("\(context).content must be a string or an array of parts")
        }
    }

    static func userParts(_ content: JSON?, in context: String, target: WireFormat) throws(GatewayError) -> [ContentPart] {
        switch content {
        case .string(let text)?: return [.text(text)]
        case .array(let parts)?:
            var out: [ContentPart] = []
            for part in parts {
                guard let part = part.object else { throw .badRequest("\(context).content parts must be objects") }
                switch part["type"]?.string {
                case "text": out.append(.text(part["text"]?.string ?? ""))
                case "image_url":
                    let url = part["image_url"]?["url"]?.string ?? part["image_url"]?.string
                    guard let url else { throw .badRequest("\(context): image_url.url is required") }
                    out.append(.image(ImageSource(openAIURL: url)))
                default: throw .untranslatable("A '\(part["type"]?.string ?? "")' content part in \(context)", target: target)
                }
            }
            return out
        default: throw .badRequest("\(context).content must be a string or an array of parts")
        }
    }

    /// The Chat Completions body for `request`, always streaming usage when it streams (the
    /// gateway needs the counts; the client sees the usage chunk only if it asked).
    package static func encodeRequest(_ request: ChatRequest, model: String, notes: inout TranslationNotes) -> JSON {
        var body = JSONObject()
        body["model"] = .string(model)
        var messages: [JSON] = request.system.map { .object(["role": "system", "content": .string($0)]) }
        for message in request.messages {
            switch message.role {
            case .user:
                var content: [JSON] = []
                for part in message.parts {
                    switch part {
                    case .toolResult(let id, _, let result, let isError):
                        var text = result.compactMap { if case .text(let t) = $0 { return t } else { return nil } }.joined()
                        if result.contains(where: { if case .image = $0 { return true } else { return false } }) { notes.drop("images in tool results") }
                        if isError { text = "Error: " + text }
                        messages.append(.object(["role": "tool", "tool_call_id": .string(id), "content": .string(text)]))
                    case .text(let text): content.append(.object(["type": "text", "text": .string(text)]))
                    case .image(let source): content.append(.object(["type": "image_url", "image_url": .object(["url": .string(source.url)])]))
                    default: break
                    }
                }
                if content.count == 1, let text = content[0]["text"]?.string, content[0]["type"] == "text" {
                    messages.append(.object(["role": "user", "content": .string(text)]))
                } else if !content.isEmpty {
                    messages.append(.object(["role": "user", "content": .array(content)]))
                }
            case .assistant:
                var assistant: JSONObject = ["role": "assistant"]
                var text: String?
                var calls: [JSON] = []
                for part in message.parts {
                    switch part {
                    case .text(let piece): text = (text ?? "") + piece
                    case .toolCall(let id, let name, let arguments):
                        calls.append(
                            .object(["id": .string(id), "type": "function", "function": .object(["name": .string(name), "arguments": .string(arguments)])]))
                    default: break
                    }
                }
                assistant["content"] = text.map(JSON.string) ?? .null
                if !calls.isEmpty { assistant["tool_calls"] = .array(calls) }
                messages.append(.object(assistant))
            }
        }
        body["messages"] = .array(messages)
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    var function: JSONObject = ["name": .string(tool.name)]
                    if let description = tool.description { function["description"] = .string(description) }
                    function["parameters"] = tool.parameters
                    if let strict = tool.strict { function["strict"] = .bool(strict) }
                    return .object(["type": "function", "function": .object(function)])
                })
        }
        switch request.toolChoice {
        case .auto?: body["tool_choice"] = "auto"
        case .none?: body["tool_choice"] = "none"
        case .required?: body["tool_choice"] = "required"
        case .tool(let name)?: body["tool_choice"] = .object(["type": "function", "function": .object(["name": .string(name)])])
        case nil: break
        }
        if let parallel = request.parallelToolCalls, !request.tools.isEmpty { body["parallel_tool_calls"] = .bool(parallel) }
        if let maxTokens = request.maxTokens {
            body[usesCompletionTokens(model) ? "max_completion_tokens" : "max_tokens"] = JSON(maxTokens)
        }
        body["temperature"] = request.temperature
        body["top_p"] = request.topP
        if request.topK != nil { notes.drop("top_k") }
        if !request.stop.isEmpty { body["stop"] = .array(request.stop.map(JSON.string)) }
        body["seed"] = request.seed
        body["presence_penalty"] = request.presencePenalty
        body["frequency_penalty"] = request.frequencyPenalty
        if let user = request.user { body["user"] = .string(user) }
        switch request.responseFormat {
        case .jsonObject?: body["response_format"] = .object(["type": "json_object"])
        case .jsonSchema(let name, let schema, let strict)?:
            var spec: JSONObject = ["name": .string(name), "schema": schema]
            if let strict { spec["strict"] = .bool(strict) }
            body["response_format"] = .object(["type": "json_schema", "json_schema": .object(spec)])
        case .text?, nil: break
        }
        if let reasoning = request.reasoning, !reasoning.disabled {
            body["reasoning_effort"] = .string(reasoning.resolvedEffort.rawValue)
        }
        if request.stream {
            body["stream"] = true
            body["stream_options"] = .object(["include_usage": true])
        }
        return .object(body)
    }

    /// OpenAI's reasoning models take `max_completion_tokens` and refuse `max_tokens`; local
    /// engines and older models know only `max_tokens`.
    static func usesCompletionTokens(_ model: String) -> Bool {
        let lower = model.lowercased()
        return lower.hasPrefix("o1") || lower.hasPrefix("o3") || lower.hasPrefix("o4") || lower.hasPrefix("gpt-5")
    }
}

extension ContentPart {
    var isToolResult: Bool { if case .toolResult = self { return true } else { return false } }
}

// MARK: response

extension OpenAIChatFormat {
    package static func decodeResponse(_ body: JSON) throws(GatewayError) -> ChatResponse {
        guard let root = body.object else { throw .badGateway("The upstream's answer is not a JSON object") }
        var response = ChatResponse()
        response.id = root["id"]?.string
        response.model = root["model"]?.string
        if let usage = root["usage"]?.object { response.usage = usageCounts(usage) }
        guard let choice = root["choices"]?.array?.first?.object else {
            throw .badGateway("The upstream's answer has no choices")
        }
        let message = choice["message"]?.object ?? JSONObject()
        if let reasoning = message["reasoning_content"]?.string ?? message["reasoning"]?.string, !reasoning.isEmpty {
            response.parts.append(.thinking(text: reasoning, signature: nil))
        }
        if let text = message["content"]?.string, !text.isEmpty { response.parts.append(.text(text)) }
        if let refusal = message["refusal"]?.string, !refusal.isEmpty { response.parts.append(.text(refusal)) }
        for call in message["tool_calls"]?.array ?? [] {
            guard let call = call.object, let function = call["function"]?.object else { continue }
            response.parts.append(
                .toolCall(
                    id: call["id"]?.string ?? GeneratedID.make("call_"), name: function["name"]?.string ?? "",
                    arguments: function["arguments"]?.string ?? "{}"))
        }
        response.finish = finishReason(choice["finish_reason"]?.string)
        if message["refusal"]?.string?.isEmpty == false, response.finish == .stop { response.finish = .contentFilter }
        return response
    }

    static func finishReason(_ value: String?) -> FinishReason {
        switch value {
        case "stop", nil: return .stop
        case "length": return .length
        case "tool_calls", "function_call": return .toolCalls
        case "content_filter": return .contentFilter
        case let other?: return .other(other)
        }
    }

    static func finishText(_ reason: FinishReason) -> String {
        switch reason {
        case .stop, .stopSequence, .other: return "stop"
        case .length: return "length"
        case .toolCalls: return "tool_calls"
        case .contentFilter: return "content_filter"
        }
    }

    package static func usageCounts(_ usage: JSONObject) -> TokenCounts {
        TokenCounts(
            input: usage["prompt_tokens"]?.int, output: usage["completion_tokens"]?.int,
            cachedInput: usage["prompt_tokens_details"]?["cached_tokens"]?.int,
            reasoning: usage["completion_tokens_details"]?["reasoning_tokens"]?.int)
    }

    static func usageJSON(_ usage: TokenCounts) -> JSON {
        var object: JSONObject = [
            "prompt_tokens": JSON(usage.input ?? 0), "completion_tokens": JSON(usage.output ?? 0), "total_tokens": JSON(usage.total),
        ]
        if let cached = usage.cachedInput { object["prompt_tokens_details"] = .object(["cached_tokens": JSON(cached)]) }
        if let reasoning = usage.reasoning { object["completion_tokens_details"] = .object(["reasoning_tokens": JSON(reasoning)]) }
        return .object(object)
    }

    package static func encodeResponse(_ response: ChatResponse, context: TranslationContext) -> JSON {
        var message: JSONObject = ["role": "assistant"]
        var text: String?
        var reasoning: String?
        var calls: [JSON] = []
        for part in response.parts {
            switch part {
            case .text(let piece): text = (text ?? "") + piece
            case .thinking(let piece, _): reasoning = (reasoning ?? "") + piece
            case .toolCall(let id, let name, let arguments):
                calls.append(.object(["id": .string(id), "type": "function", "function": .object(["name": .string(name), "arguments": .string(arguments)])]))
            default: break
            }
        }
        message["content"] = text.map(JSON.string) ?? .null
        if let reasoning { message["reasoning_content"] = .string(reasoning) }
        if !calls.isEmpty { message["tool_calls"] = .array(calls) }
        message["refusal"] = .null
        let choice: JSONObject = ["index": 0, "message": .object(message), "logprobs": .null, "finish_reason": .string(finishText(response.finish))]
        return .object([
            "id": .string(response.id ?? GeneratedID.make("chatcmpl-")), "object": "chat.completion", "created": JSON(context.created),
            "model": .string(response.model ?? context.model ?? ""), "choices": [.object(choice)], "usage": usageJSON(response.usage),
        ])
    }
}

// MARK: stream

/// Reads an OpenAI Chat Completions event stream (`data: {chunk}` … `data: [DONE]`).
package struct OpenAIChatStreamDecoder: StreamDecoder {
    private var started = false
    /// Tool calls by the upstream's `index`, in the order they began; arguments go to the
    /// call begun last (OpenAI-compatible servers stream calls one after another).
    private var callIndexes: [Int] = []

    package init() {}

    package mutating func decode(_ event: ServerSentEvent) -> [StreamEvent] {
        let data = event.data.trimmingWhitespace()
        if data == "[DONE]" { return [.end] }
        guard case .success(.object(let chunk)) = JSON.parse(data) else { return [] }
        var out: [StreamEvent] = []
        if let error = chunk["error"]?.object {
            return [.error(UpstreamFailure(status: 500, type: error["type"]?.string ?? error["code"]?.string, message: error["message"]?.string ?? ""))]
        }
        if !started {
            started = true
            out.append(.start(id: chunk["id"]?.string, model: chunk["model"]?.string))
        }
        if let choice = chunk["choices"]?.array?.first?.object {
            let delta = choice["delta"]?.object ?? JSONObject()
            if let reasoning = delta["reasoning_content"]?.string ?? delta["reasoning"]?.string, !reasoning.isEmpty { out.append(.thinking(reasoning)) }
            if let text = delta["content"]?.string, !text.isEmpty { out.append(.text(text)) }
            if let refusal = delta["refusal"]?.string, !refusal.isEmpty { out.append(.text(refusal)) }
            for call in delta["tool_calls"]?.array ?? [] {
                guard let call = call.object else { continue }
                let index = call["index"]?.int ?? callIndexes.last ?? 0
                let function = call["function"]?.object
                if !callIndexes.contains(index) {
                    callIndexes.append(index)
                    out.append(.toolCall(id: call["id"]?.string ?? GeneratedID.make("call_"), name: function?["name"]?.string ?? ""))
                }
                if let arguments = function?["arguments"]?.string, !arguments.isEmpty, index == callIndexes.last { out.append(.toolArguments(arguments)) }
            }
            if let reason = choice["finish_reason"]?.string { out.append(.finish(OpenAIChatFormat.finishReason(reason))) }
        }
        if let usage = chunk["usage"]?.object { out.append(.usage(OpenAIChatFormat.usageCounts(usage))) }
        return out
    }
}

/// Writes an OpenAI Chat Completions event stream: a role chunk first, content and tool-call
/// deltas, one chunk with the finish reason, the usage chunk when the client asked for it,
/// then `[DONE]`.
package struct OpenAIChatStreamEncoder: StreamEncoder {
    let context: TranslationContext
    private var id: String?
    private var model: String?
    private var began = false
    private var toolIndex = -1
    private var finish: FinishReason?
    private var usage = TokenCounts()
    package private(set) var ended = false

    package init(context: TranslationContext) { self.context = context }

    /// A delta chunk, after the role chunk OpenAI always sends first.
    private mutating func chunk(_ delta: JSONObject, into out: inout String) {
        if !began {
            began = true
            write(["role": "assistant", "content": ""], finish: nil, into: &out)
        }
        write(delta, finish: nil, into: &out)
    }

    private func write(_ delta: JSONObject, finish: String?, into out: inout String) {
        let choice: JSONObject = ["index": 0, "delta": .object(delta), "logprobs": .null, "finish_reason": finish.map(JSON.string) ?? .null]
        let object: JSONObject = [
            "id": .string(id ?? "chatcmpl-gateway"), "object": "chat.completion.chunk", "created": JSON(context.created),
            "model": .string(model ?? context.model ?? ""), "choices": [.object(choice)],
        ]
        ServerSentEvent.write(name: nil, data: JSON.object(object).text, into: &out)
    }

    package mutating func encode(_ event: StreamEvent, into out: inout String) {
        guard !ended else { return }
        switch event {
        case .start(let id, let model):
            self.id = self.id ?? id
            self.model = self.model ?? model
        case .text(let text): chunk(["content": .string(text)], into: &out)
        case .thinking(let text): chunk(["reasoning_content": .string(text)], into: &out)
        case .thinkingSignature, .redactedThinking: break
        case .toolCall(let id, let name):
            toolIndex += 1
            let call: JSONObject = [
                "index": JSON(toolIndex), "id": .string(id), "type": "function", "function": .object(["name": .string(name), "arguments": ""]),
            ]
            chunk(["tool_calls": [.object(call)]], into: &out)
        case .toolArguments(let fragment):
            guard toolIndex >= 0 else { return }
            chunk(["tool_calls": [.object(["index": JSON(toolIndex), "function": .object(["arguments": .string(fragment)])])]], into: &out)
        case .usage(let counts): usage.merge(counts)
        case .finish(let reason): finish = reason
        case .error(let failure):
            let error: JSONObject = ["message": .string(failure.message), "type": .string(failure.openAIType), "param": .null, "code": .null]
            ServerSentEvent.write(name: nil, data: JSON.object(["error": .object(error)]).text, into: &out)
        case .end:
            if !began {
                began = true
                write(["role": "assistant", "content": ""], finish: nil, into: &out)
            }
            write([:], finish: OpenAIChatFormat.finishText(finish ?? .stop), into: &out)
            if context.includeUsage {
                let object: JSONObject = [
                    "id": .string(id ?? "chatcmpl-gateway"), "object": "chat.completion.chunk", "created": JSON(context.created),
                    "model": .string(model ?? context.model ?? ""), "choices": [], "usage": OpenAIChatFormat.usageJSON(usage),
                ]
                ServerSentEvent.write(name: nil, data: JSON.object(object).text, into: &out)
            }
            out += "data: [DONE]\n\n"
            ended = true
        }
    }
}
