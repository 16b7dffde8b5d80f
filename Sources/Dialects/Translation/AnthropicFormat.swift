/// Anthropic Messages (`POST /v1/messages`) read into and written from the neutral model.
package enum AnthropicFormat {
    static let knownRequestFields: Set<String> = [
        "model", "max_tokens", "system", "messages", "tools", "tool_choice", "stop_sequences", "temperature", "top_p", "top_k",
        "stream", "thinking", "metadata",
    ]
    /// The tool added to make a model answer in JSON when the client asked for a response
    /// format (Anthropic has no such switch); its input is the answer.
    package static let jsonToolName = "json_response"
    /// Anthropic requires `max_tokens`; a client of another dialect may not send one.
    package static let defaultMaxTokens = 4096

    // MARK: request

    package static func decodeRequest(_ body: JSON, notes: inout TranslationNotes, target: WireFormat) throws(GatewayError) -> ChatRequest {
        guard let root = body.object else { throw .badRequest("The request body must be a JSON object") }
        var request = ChatRequest()
        request.model = try root.string("model", in: "body")
        for key in ["mcp_servers", "container"] where root[key] != nil && root[key] != .null {
            throw .untranslatable("\(key)", target: target)
        }
        root.dropUnknown(knownRequestFields, notes: &notes)
        request.maxTokens = try root.int("max_tokens", in: "body")
        switch root["system"] {
        case .string(let text)?: request.system = [text]
        case .array(let blocks)?:
            for block in blocks {
                guard let block = block.object, block["type"]?.string == "text" else { throw .badRequest("system blocks must be text blocks") }
                if block["cache_control"] != nil { notes.drop("cache_control") }
                request.system.append(block["text"]?.string ?? "")
            }
        case nil, .null?: break
        default: throw .badRequest("system must be a string or an array of text blocks")
        }
        guard let messages = try root.array("messages", in: "body") else { throw .badRequest("messages is required") }
        var callNames: [String: String] = [:]
        for (index, item) in messages.enumerated() {
            let at = "messages[\(index)]"
            guard let message = item.object else { throw .badRequest("\(at) must be an object") }
            let role: ChatRole
            switch try message.string("role", in: at) {
            case "user": role = .user
            case "assistant": role = .assistant
            default: throw .badRequest("\(at).role must be user or assistant")
            }
            var parts: [ContentPart] = []
            switch message["content"] {
            case .string(let text)?: parts = [.text(text)]
            case .array(let blocks)?:
                for (blockIndex, block) in blocks.enumerated() {
                    guard let block = block.object else { throw .badRequest("\(at).content[\(blockIndex)] must be an object") }
                    if block["cache_control"] != nil { notes.drop("cache_control") }
                    if let part = try decodeBlock(block, at: "\(at).content[\(blockIndex)]", callNames: &callNames, notes: &notes, target: target) {
                        parts.append(part)
                    }
                }
            default: throw .badRequest("\(at).content must be a string or an array of blocks")
            }
            request.messages.append(ChatMessage(role: role, parts: parts))
        }
        for (index, tool) in (try root.array("tools", in: "body") ?? []).enumerated() {
            let at = "tools[\(index)]"
            guard let tool = tool.object else { throw .badRequest("\(at) must be an object") }
            if let type = tool["type"]?.string, type != "custom" {
                throw .untranslatable("The server tool '\(type)'", target: target)
            }
            if tool["cache_control"] != nil { notes.drop("cache_control") }
            guard let name = try tool.string("name", in: at) else { throw .badRequest("\(at).name is required") }
            request.tools.append(
                ToolDefinition(
                    name: name, description: try tool.string("description", in: at),
                    parameters: tool["input_schema"] ?? .object(["type": "object", "properties": .object([:])])))
        }
        if let choice = try root.object("tool_choice", in: "body") {
            switch try choice.string("type", in: "tool_choice") {
            case "auto": request.toolChoice = .auto
            case "any": request.toolChoice = .required
            case "none": request.toolChoice = ToolChoice.none
            case "tool":
                guard let name = try choice.string("name", in: "tool_choice") else { throw .badRequest("tool_choice.name is required") }
                request.toolChoice = .tool(name)
            default: throw .badRequest("tool_choice.type must be auto, any, tool or none")
            }
            if try choice.bool("disable_parallel_tool_use", in: "tool_choice") == true { request.parallelToolCalls = false }
        }
        request.stop = (try root.array("stop_sequences", in: "body") ?? []).compactMap(\.string)
        request.temperature = try root.number("temperature", in: "body")
        request.topP = try root.number("top_p", in: "body")
        request.topK = try root.number("top_k", in: "body")
        request.stream = try root.bool("stream", in: "body") ?? false
        if let thinking = try root.object("thinking", in: "body") {
            switch thinking["type"]?.string {
            case "enabled": request.reasoning = Reasoning(budgetTokens: try thinking.int("budget_tokens", in: "thinking"))
            case "disabled": request.reasoning = Reasoning(disabled: true)
            default: request.reasoning = Reasoning(effort: .medium)
            }
        }
        request.user = (try root.object("metadata", in: "body"))?["user_id"]?.string
        return request
    }

    static func decodeBlock(
        _ block: JSONObject, at: String, callNames: inout [String: String], notes: inout TranslationNotes, target: WireFormat
    ) throws(GatewayError) -> ContentPart? {
        switch block["type"]?.string {
        case "text": return .text(block["text"]?.string ?? "")
        case "image": return .image(try imageSource(block["source"]?.object, at: at, target: target))
        case "tool_use":
            let id = try block.string("id", in: at) ?? GeneratedID.make("toolu_")
            let name = try block.string("name", in: at) ?? ""
            callNames[id] = name
            return .toolCall(id: id, name: name, arguments: (block["input"] ?? .object([:])).text)
        case "tool_result":
            let id = try block.string("tool_use_id", in: at) ?? ""
            var content: [ToolResultContent] = []
            switch block["content"] {
            case .string(let text)?: content = [.text(text)]
            case .array(let items)?:
                for item in items {
                    guard let item = item.object else { continue }
                    switch item["type"]?.string {
                    case "text": content.append(.text(item["text"]?.string ?? ""))
                    case "image": content.append(.image(try imageSource(item["source"]?.object, at: at, target: target)))
                    default: throw .untranslatable("A '\(item["type"]?.string ?? "")' block in a tool result", target: target)
                    }
                }
            default: break
            }
            return .toolResult(id: id, name: callNames[id] ?? "", content: content, isError: block["is_error"]?.bool ?? false)
        case "thinking":
            return .thinking(text: block["thinking"]?.string ?? "", signature: block["signature"]?.string)
        case "redacted_thinking":
            return .redactedThinking(data: block["data"]?.string ?? "")
        case let type:
            throw .untranslatable("A '\(type ?? "")' content block", target: target)
        }
    }

    static func imageSource(_ source: JSONObject?, at: String, target: WireFormat) throws(GatewayError) -> ImageSource {
        switch source?["type"]?.string {
        case "base64":
            return .base64(mediaType: source?["media_type"]?.string ?? "image/png", data: source?["data"]?.string ?? "")
        case "url":
            guard let url = source?["url"]?.string else { throw .badRequest("\(at): image source url is required") }
            return .url(url)
        default: throw .untranslatable("An image source of type '\(source?["type"]?.string ?? "")'", target: target)
        }
    }

    static func imageJSON(_ source: ImageSource) -> JSON {
        switch source {
        case .url(let url): return .object(["type": "image", "source": .object(["type": "url", "url": .string(url)])])
        case .base64(let type, let data):
            return .object(["type": "image", "source": .object(["type": "base64", "media_type": .string(type), "data": .string(data)])])
        }
    }

    /// The Messages body for `request`. A JSON response format becomes a forced tool (see
    /// ``jsonToolName``); asking for it together with tools of one's own is refused, since the
    /// forced tool would take the model's choice of tools away.
    package static func encodeRequest(_ request: ChatRequest, model: String, notes: inout TranslationNotes) throws(GatewayError) -> JSON {
        var body = JSONObject()
        body["model"] = .string(model)
        let maxTokens = request.maxTokens ?? defaultMaxTokens
        body["max_tokens"] = JSON(maxTokens)
        if !request.system.isEmpty {
            body["system"] = .array(request.system.map { .object(["type": "text", "text": .string($0)]) })
        }
        var messages: [JSON] = []
        for message in request.messages {
            var blocks: [JSON] = []
            var results: [JSON] = []
            for part in message.parts {
                switch part {
                case .text(let text) where !text.isEmpty: blocks.append(.object(["type": "text", "text": .string(text)]))
                case .text: break
                case .image(let source): blocks.append(imageJSON(source))
                case .toolCall(let id, let name, let arguments):
                    guard let input = JSON.arguments(arguments) else {
                        throw .badRequest("The arguments of tool call '\(id)' are not a JSON object")
                    }
                    blocks.append(.object(["type": "tool_use", "id": .string(id), "name": .string(name), "input": .object(input)]))
                case .toolResult(let id, _, let content, let isError):
                    var result: JSONObject = ["type": "tool_result", "tool_use_id": .string(id)]
                    if content.count == 1, case .text(let text) = content[0] {
                        result["content"] = .string(text)
                    } else {
                        result["content"] = .array(
                            content.map { item in
                                switch item {
                                case .text(let text): return .object(["type": "text", "text": .string(text)])
                                case .image(let source): return imageJSON(source)
                                }
                            })
                    }
                    if isError { result["is_error"] = true }
                    results.append(.object(result))
                case .thinking(let text, let signature?) where message.role == .assistant:
                    blocks.append(.object(["type": "thinking", "thinking": .string(text), "signature": .string(signature)]))
                case .thinking:
                    // Reasoning from another provider carries no signature Anthropic accepts.
                    break
                case .redactedThinking(let data):
                    blocks.append(.object(["type": "redacted_thinking", "data": .string(data)]))
                }
            }
            // Tool results come first in their user turn.
            let content = results + blocks
            guard !content.isEmpty else { continue }
            messages.append(.object(["role": .string(message.role.rawValue), "content": .array(content)]))
        }
        body["messages"] = .array(messages)
        var tools: [JSON] = request.tools.map { tool in
            var object: JSONObject = ["name": .string(tool.name)]
            if let description = tool.description { object["description"] = .string(description) }
            object["input_schema"] = tool.parameters
            return .object(object)
        }
        var choice: JSONObject?
        switch request.toolChoice {
        case .auto?: choice = ["type": "auto"]
        case .none?: choice = ["type": "none"]
        case .required?: choice = ["type": "any"]
        case .tool(let name)?: choice = ["type": "tool", "name": .string(name)]
        case nil: break
        }
        var reasoning = request.reasoning
        let schema: JSON?
        switch request.responseFormat {
        case .jsonObject?: schema = .object(["type": "object"])
        case .jsonSchema(_, let given, _)?: schema = given
        case .text?, nil: schema = nil
        }
        if let schema {
            guard request.tools.isEmpty else {
                throw .untranslatable("A JSON response format together with tools", target: .anthropicMessages)
            }
            tools = [
                .object([
                    "name": .string(jsonToolName), "description": "Give the answer as this tool's input, which is a JSON value of the requested schema.",
                    "input_schema": schema,
                ])
            ]
            choice = ["type": "tool", "name": .string(jsonToolName)]
            if reasoning != nil, reasoning?.disabled == false {
                // Anthropic refuses reasoning when a tool is forced.
                notes.drop("reasoning (with a JSON response format)")
                reasoning = nil
            }
        }
        if request.parallelToolCalls == false, !tools.isEmpty {
            choice = choice ?? ["type": "auto"]
            choice?["disable_parallel_tool_use"] = true
        }
        if !tools.isEmpty { body["tools"] = .array(tools) }
        if let choice, !tools.isEmpty || choice["type"] == "none" { body["tool_choice"] = .object(choice) }
        if !request.stop.isEmpty { body["stop_sequences"] = .array(request.stop.map(JSON.string)) }
        if let reasoning {
            if reasoning.disabled {
                body["thinking"] = .object(["type": "disabled"])
            } else {
                // The budget must be at least 1024 and below max_tokens, which counts thinking too.
                let budget = min(max(reasoning.budget, 1024), maxTokens - 1)
                if budget >= 1024 {
                    body["thinking"] = .object(["type": "enabled", "budget_tokens": JSON(budget)])
                } else {
                    notes.drop("reasoning (max tokens below Anthropic's smallest thinking budget)")
                }
            }
        }
        let thinkingOn = body["thinking"]?["type"] == "enabled"
        if thinkingOn, request.temperature != nil { notes.drop("temperature (Anthropic allows none with thinking)") } else { body["temperature"] = request.temperature }
        body["top_p"] = request.topP
        if thinkingOn, request.topK != nil { notes.drop("top_k (Anthropic allows none with thinking)") } else { body["top_k"] = request.topK }
        if request.seed != nil { notes.drop("seed") }
        if request.presencePenalty != nil { notes.drop("presence_penalty") }
        if request.frequencyPenalty != nil { notes.drop("frequency_penalty") }
        if let user = request.user { body["metadata"] = .object(["user_id": .string(user)]) }
        if request.stream { body["stream"] = true }
        return .object(body)
    }

    // MARK: response

    package static func decodeResponse(_ body: JSON, jsonTool: String?) throws(GatewayError) -> ChatResponse {
        guard let root = body.object else { throw .badGateway("The upstream's answer is not a JSON object") }
        var response = ChatResponse()
        response.id = root["id"]?.string
        response.model = root["model"]?.string
        if let usage = root["usage"]?.object { response.usage = usageCounts(usage) }
        var answeredByJSONTool = false
        for block in root["content"]?.array ?? [] {
            guard let block = block.object else { continue }
            switch block["type"]?.string {
            case "text": response.parts.append(.text(block["text"]?.string ?? ""))
            case "thinking": response.parts.append(.thinking(text: block["thinking"]?.string ?? "", signature: block["signature"]?.string))
            case "redacted_thinking": response.parts.append(.redactedThinking(data: block["data"]?.string ?? ""))
            case "tool_use":
                let input = (block["input"] ?? .object([:])).text
                if let jsonTool, block["name"]?.string == jsonTool {
                    response.parts.append(.text(input))
                    answeredByJSONTool = true
                } else {
                    response.parts.append(.toolCall(id: block["id"]?.string ?? GeneratedID.make("toolu_"), name: block["name"]?.string ?? "", arguments: input))
                }
            default: break
            }
        }
        response.finish = finishReason(root["stop_reason"]?.string, sequence: root["stop_sequence"]?.string)
        if answeredByJSONTool, response.finish == .toolCalls { response.finish = .stop }
        return response
    }

    static func finishReason(_ value: String?, sequence: String?) -> FinishReason {
        switch value {
        case "end_turn", nil: return .stop
        case "stop_sequence": return .stopSequence(sequence)
        case "max_tokens", "model_context_window_exceeded": return .length
        case "tool_use": return .toolCalls
        case "refusal": return .contentFilter
        case let other?: return .other(other)
        }
    }

    static func stopReason(_ reason: FinishReason) -> (String, String?) {
        switch reason {
        case .stop, .other: return ("end_turn", nil)
        case .stopSequence(let sequence): return sequence == nil ? ("end_turn", nil) : ("stop_sequence", sequence)
        case .length: return ("max_tokens", nil)
        case .toolCalls: return ("tool_use", nil)
        case .contentFilter: return ("refusal", nil)
        }
    }

    /// Anthropic's `input_tokens` leave out cache reads and writes; the neutral count holds them.
    package static func usageCounts(_ usage: JSONObject) -> TokenCounts {
        let read = usage["cache_read_input_tokens"]?.int
        let written = usage["cache_creation_input_tokens"]?.int
        let input = usage["input_tokens"]?.int.map { $0 + (read ?? 0) + (written ?? 0) }
        return TokenCounts(input: input, output: usage["output_tokens"]?.int, cachedInput: read, cacheCreation: written)
    }

    static func usageJSON(_ usage: TokenCounts) -> JSONObject {
        let cached = usage.cachedInput ?? 0, written = usage.cacheCreation ?? 0
        return [
            "input_tokens": JSON(max(0, (usage.input ?? 0) - cached - written)), "cache_creation_input_tokens": JSON(written),
            "cache_read_input_tokens": JSON(cached), "output_tokens": JSON(usage.output ?? 0),
        ]
    }

    package static func encodeResponse(_ response: ChatResponse, context: TranslationContext) -> JSON {
        var content: [JSON] = []
        for part in response.parts {
            switch part {
            case .text(let text): content.append(.object(["type": "text", "text": .string(text)]))
            case .thinking(let text, let signature):
                content.append(.object(["type": "thinking", "thinking": .string(text), "signature": .string(signature ?? "")]))
            case .redactedThinking(let data): content.append(.object(["type": "redacted_thinking", "data": .string(data)]))
            case .toolCall(let id, let name, let arguments):
                content.append(
                    .object(["type": "tool_use", "id": .string(id), "name": .string(name), "input": .object(JSON.arguments(arguments) ?? JSONObject())]))
            default: break
            }
        }
        let (reason, sequence) = stopReason(response.finish)
        return .object([
            "id": .string(response.id ?? GeneratedID.make("msg_")), "type": "message", "role": "assistant",
            "model": .string(response.model ?? context.model ?? ""), "content": .array(content), "stop_reason": .string(reason),
            "stop_sequence": sequence.map(JSON.string) ?? .null, "usage": .object(usageJSON(response.usage)),
        ])
    }
}

// MARK: stream

/// Reads an Anthropic Messages event stream.
package struct AnthropicStreamDecoder: StreamDecoder {
    let jsonTool: String?
    /// Index of the block being streamed as text because it is the JSON-answer tool.
    private var jsonBlock: Int?
    private var sawJSONTool = false

    package init(jsonTool: String?) { self.jsonTool = jsonTool }

    package mutating func decode(_ event: ServerSentEvent) -> [StreamEvent] {
        guard case .success(.object(let data)) = JSON.parse(event.data) else { return [] }
        switch data["type"]?.string ?? event.name {
        case "message_start":
            let message = data["message"]?.object
            var out: [StreamEvent] = [.start(id: message?["id"]?.string, model: message?["model"]?.string)]
            if let usage = message?["usage"]?.object {
                var counts = AnthropicFormat.usageCounts(usage)
                // The output count at the start is a placeholder; the last message_delta has it.
                counts.output = nil
                out.append(.usage(counts))
            }
            return out
        case "content_block_start":
            let block = data["content_block"]?.object
            switch block?["type"]?.string {
            case "text":
                if let text = block?["text"]?.string, !text.isEmpty { return [.text(text)] }
            case "thinking":
                if let text = block?["thinking"]?.string, !text.isEmpty { return [.thinking(text)] }
            case "redacted_thinking": return [.redactedThinking(block?["data"]?.string ?? "")]
            case "tool_use":
                if let jsonTool, block?["name"]?.string == jsonTool {
                    jsonBlock = data["index"]?.int
                    sawJSONTool = true
                    return []
                }
                return [.toolCall(id: block?["id"]?.string ?? GeneratedID.make("toolu_"), name: block?["name"]?.string ?? "")]
            default: break
            }
            return []
        case "content_block_delta":
            let delta = data["delta"]?.object
            switch delta?["type"]?.string {
            case "text_delta": return [.text(delta?["text"]?.string ?? "")]
            case "input_json_delta":
                let fragment = delta?["partial_json"]?.string ?? ""
                if fragment.isEmpty { return [] }
                return jsonBlock != nil && data["index"]?.int == jsonBlock ? [.text(fragment)] : [.toolArguments(fragment)]
            case "thinking_delta": return [.thinking(delta?["thinking"]?.string ?? "")]
            case "signature_delta": return [.thinkingSignature(delta?["signature"]?.string ?? "")]
            default: return []
            }
        case "message_delta":
            var out: [StreamEvent] = []
            if let usage = data["usage"]?.object {
                var counts = AnthropicFormat.usageCounts(usage)
                if usage["input_tokens"] == nil { counts.input = nil }
                out.append(.usage(counts))
            }
            if let reason = data["delta"]?["stop_reason"]?.string {
                var finish = AnthropicFormat.finishReason(reason, sequence: data["delta"]?["stop_sequence"]?.string)
                if sawJSONTool, finish == .toolCalls { finish = .stop }
                out.append(.finish(finish))
            }
            return out
        case "message_stop": return [.end]
        case "error":
            let error = data["error"]?.object
            let type = error?["type"]?.string
            return [.error(UpstreamFailure(status: UpstreamFailure.status(forType: type), type: type, message: error?["message"]?.string ?? ""))]
        default: return []
        }
    }
}

/// Writes an Anthropic Messages event stream: `message_start`, blocks opened and closed one at
/// a time by index, `message_delta` with the stop reason and the final usage, `message_stop`.
package struct AnthropicStreamEncoder: StreamEncoder {
    private enum Block: Equatable { case text, thinking, tool }
    let context: TranslationContext
    private var id: String?
    private var model: String?
    private var began = false
    private var index = -1
    private var open: Block?
    private var finish: FinishReason?
    private var usage = TokenCounts()
    package private(set) var ended = false

    package init(context: TranslationContext) { self.context = context }

    private func event(_ name: String, _ data: JSONObject, into out: inout String) {
        var object: JSONObject = ["type": .string(name)]
        for member in data.members { object[member.key] = member.value }
        ServerSentEvent.write(name: name, data: JSON.object(object).text, into: &out)
    }

    /// `message_start`, held back until the first content so it can carry the input count
    /// the upstream gave in its own first event.
    private mutating func begin(into out: inout String) {
        guard !began else { return }
        began = true
        var start = AnthropicFormat.usageJSON(usage)
        start["output_tokens"] = JSON(usage.output ?? 0)
        let message: JSONObject = [
            "id": .string(id ?? GeneratedID.make("msg_")), "type": "message", "role": "assistant", "model": .string(model ?? context.model ?? ""),
            "content": [], "stop_reason": .null, "stop_sequence": .null, "usage": .object(start),
        ]
        event("message_start", ["message": .object(message)], into: &out)
    }

    private mutating func close(into out: inout String) {
        guard open != nil else { return }
        event("content_block_stop", ["index": JSON(index)], into: &out)
        open = nil
    }

    private mutating func openBlock(_ block: Block, _ content: JSONObject, into out: inout String) {
        close(into: &out)
        index += 1
        open = block
        event("content_block_start", ["index": JSON(index), "content_block": .object(content)], into: &out)
    }

    package mutating func encode(_ streamEvent: StreamEvent, into out: inout String) {
        guard !ended else { return }
        switch streamEvent {
        case .start(let id, let model):
            self.id = self.id ?? id
            self.model = self.model ?? model
            return
        case .usage(let counts):
            usage.merge(counts)
            return
        case .finish(let reason):
            finish = reason
            return
        default: break
        }
        begin(into: &out)
        switch streamEvent {
        case .text(let text):
            if open != .text { openBlock(.text, ["type": "text", "text": ""], into: &out) }
            event("content_block_delta", ["index": JSON(index), "delta": .object(["type": "text_delta", "text": .string(text)])], into: &out)
        case .thinking(let text):
            if open != .thinking { openBlock(.thinking, ["type": "thinking", "thinking": "", "signature": ""], into: &out) }
            event("content_block_delta", ["index": JSON(index), "delta": .object(["type": "thinking_delta", "thinking": .string(text)])], into: &out)
        case .thinkingSignature(let signature):
            guard open == .thinking else { return }
            event("content_block_delta", ["index": JSON(index), "delta": .object(["type": "signature_delta", "signature": .string(signature)])], into: &out)
        case .redactedThinking(let data):
            openBlock(.thinking, ["type": "redacted_thinking", "data": .string(data)], into: &out)
            close(into: &out)
        case .toolCall(let id, let name):
            openBlock(.tool, ["type": "tool_use", "id": .string(id), "name": .string(name), "input": .object([:])], into: &out)
        case .toolArguments(let fragment):
            guard open == .tool else { return }
            event("content_block_delta", ["index": JSON(index), "delta": .object(["type": "input_json_delta", "partial_json": .string(fragment)])], into: &out)
        case .error(let failure):
            close(into: &out)
            event("error", ["error": .object(["type": .string(failure.anthropicType), "message": .string(failure.message)])], into: &out)
        case .end:
            close(into: &out)
            let (reason, sequence) = AnthropicFormat.stopReason(finish ?? .stop)
            event(
                "message_delta",
                ["delta": .object(["stop_reason": .string(reason), "stop_sequence": sequence.map(JSON.string) ?? .null]), "usage": .object(AnthropicFormat.usageJSON(usage))],
                into: &out)
            event("message_stop", [:], into: &out)
            ended = true
        case .start, .usage, .finish: break
        }
    }
}
