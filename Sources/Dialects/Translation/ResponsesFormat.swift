/// The OpenAI Responses API (`POST /v1/responses`) as a client dialect: requests read into the
/// neutral model, answers and streams written in its shape. Upstreams that speak it natively
/// get the request untouched; the others get it translated.
///
/// Translated responses are not stored: `previous_response_id` (which needs the stored
/// conversation) is refused, and the client sends the whole conversation in `input`.
/// Reasoning comes back as a `reasoning` item whose `encrypted_content` carries the
/// upstream's signature, so the next turn can hand it back unchanged.
package enum ResponsesFormat {
    static let knownRequestFields: Set<String> = [
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens", "temperature", "top_p",
        "text", "reasoning", "stream", "user", "store", "metadata", "include", "truncation",
    ]

    // MARK: request

    package static func decodeRequest(_ body: JSON, notes: inout TranslationNotes, target: WireFormat) throws(GatewayError) -> ChatRequest {
        guard let root = body.object else { throw .badRequest("The request body must be a JSON object") }
        for key in ["previous_response_id", "conversation", "background", "prompt"] where root[key] != nil && root[key] != .null {
            throw .untranslatable("\(key) (translated responses are not stored; send the whole conversation in input)", target: target)
        }
        root.dropUnknown(knownRequestFields, notes: &notes)
        if root["store"]?.bool == true { notes.drop("store") }
        var request = ChatRequest()
        request.model = try root.string("model", in: "body")
        if let instructions = try root.string("instructions", in: "body") { request.system.append(instructions) }
        var callNames: [String: String] = [:]
        switch root["input"] {
        case .string(let text)?: request.messages = [ChatMessage(role: .user, parts: [.text(text)])]
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                let at = "input[\(index)]"
                guard let item = item.object else { throw .badRequest("\(at) must be an object") }
                try decodeItem(item, at: at, into: &request, callNames: &callNames, target: target)
            }
        case nil, .null?: throw .badRequest("input is required")
        default: throw .badRequest("input must be a string or an array of items")
        }
        for (index, tool) in (try root.array("tools", in: "body") ?? []).enumerated() {
            let at = "tools[\(index)]"
            guard let tool = tool.object else { throw .badRequest("\(at) must be an object") }
            guard tool["type"]?.string == "function" else { throw .untranslatable("The built-in tool '\(tool["type"]?.string ?? "")'", target: target) }
            guard let name = try tool.string("name", in: at) else { throw .badRequest("\(at).name is required") }
            request.tools.append(
                ToolDefinition(
                    name: name, description: try tool.string("description", in: at),
                    parameters: tool["parameters"] ?? .object(["type": "object", "properties": .object([:])]), strict: try tool.bool("strict", in: at)))
        }
        switch root["tool_choice"] {
        case .string("auto")?: request.toolChoice = .auto
        case .string("none")?: request.toolChoice = ToolChoice.none
        case .string("required")?: request.toolChoice = .required
        case .object(let choice)?:
            guard choice["type"]?.string == "function", let name = choice["name"]?.string else {
                throw .untranslatable("tool_choice of type '\(choice["type"]?.string ?? "")'", target: target)
            }
            request.toolChoice = .tool(name)
        case nil, .null?: break
        default: throw .badRequest("tool_choice must be auto, none, required or a function")
        }
        request.parallelToolCalls = try root.bool("parallel_tool_calls", in: "body")
        request.maxTokens = try root.int("max_output_tokens", in: "body")
        request.temperature = try root.number("temperature", in: "body")
        request.topP = try root.number("top_p", in: "body")
        request.user = try root.string("user", in: "body")
        request.stream = try root.bool("stream", in: "body") ?? false
        request.includeUsage = true
        if let format = (try root.object("text", in: "body"))?["format"]?.object {
            switch format["type"]?.string {
            case "json_object": request.responseFormat = .jsonObject
            case "json_schema":
                request.responseFormat = .jsonSchema(
                    name: format["name"]?.string ?? "response", schema: format["schema"] ?? .object([:]), strict: format["strict"]?.bool)
            default: break
            }
        }
        if let reasoning = try root.object("reasoning", in: "body"), let effort = reasoning["effort"]?.string {
            if effort == "none" {
                request.reasoning = Reasoning(disabled: true)
            } else {
                guard let level = Reasoning.Effort(rawValue: effort) else { throw .badRequest("reasoning.effort must be minimal, low, medium or high") }
                request.reasoning = Reasoning(effort: level)
            }
        }
        return request
    }

    static func decodeItem(
        _ item: JSONObject, at: String, into request: inout ChatRequest, callNames: inout [String: String], target: WireFormat
    ) throws(GatewayError) {
        func append(_ role: ChatRole, _ part: ContentPart) {
            // Items of one turn (a reasoning item, text, calls) join one message.
            if var last = request.messages.last, last.role == role,
                role == .assistant || (part.isToolResult && last.parts.allSatisfy(\.isToolResult))
            {
                last.parts.append(part)
                request.messages[request.messages.count - 1] = last
            } else {
                request.messages.append(ChatMessage(role: role, parts: [part]))
            }
        }
        switch item["type"]?.string ?? "message" {
        case "message":
            let role = item["role"]?.string ?? "user"
            var parts: [ContentPart] = []
            switch item["content"] {
            case .string(let text)?: parts = [.text(text)]
            case .array(let content)?:
                for part in content {
                    guard let part = part.object else { continue }
                    switch part["type"]?.string {
                    case "input_text", "output_text", "text": parts.append(.text(part["text"]?.string ?? ""))
                    case "refusal": parts.append(.text(part["refusal"]?.string ?? ""))
                    case "input_image":
                        guard let url = part["image_url"]?.string else {
                            throw .untranslatable("An input_image without image_url (file ids need OpenAI's storage)", target: target)
                        }
                        parts.append(.image(ImageSource(openAIURL: url)))
                    default: throw .untranslatable("A '\(part["type"]?.string ?? "")' content part in \(at)", target: target)
                    }
                }
            default: throw .badRequest("\(at).content must be a string or an array of parts")
            }
            switch role {
            case "system", "developer":
                request.system.append(parts.compactMap { if case .text(let t) = $0 { return t } else { return nil } }.joined(separator: "\n"))
            case "assistant":
                for part in parts { append(.assistant, part) }
            default:
                request.messages.append(ChatMessage(role: .user, parts: parts))
            }
        case "function_call":
            let id = item["call_id"]?.string ?? item["id"]?.string ?? GeneratedID.make("call_")
            let name = item["name"]?.string ?? ""
            callNames[id] = name
            append(.assistant, .toolCall(id: id, name: name, arguments: item["arguments"]?.string ?? "{}"))
        case "function_call_output":
            let id = item["call_id"]?.string ?? ""
            let output: String
            switch item["output"] {
            case .string(let text)?: output = text
            case .array(let parts)?: output = parts.compactMap { $0["text"]?.string }.joined()
            default: output = ""
            }
            append(.user, .toolResult(id: id, name: callNames[id] ?? "", content: [.text(output)], isError: false))
        case "reasoning":
            let text = (item["summary"]?.array ?? []).compactMap { $0["text"]?.string }.joined(separator: "\n")
            append(.assistant, .thinking(text: text, signature: item["encrypted_content"]?.string))
        case let type:
            throw .untranslatable("An input item of type '\(type)'", target: target)
        }
    }

    // MARK: response

    static func usageJSON(_ usage: TokenCounts) -> JSON {
        .object([
            "input_tokens": JSON(usage.input ?? 0), "input_tokens_details": .object(["cached_tokens": JSON(usage.cachedInput ?? 0)]),
            "output_tokens": JSON(usage.output ?? 0), "output_tokens_details": .object(["reasoning_tokens": JSON(usage.reasoning ?? 0)]),
            "total_tokens": JSON(usage.total),
        ])
    }

    /// The response object around `output`, in the state given.
    static func envelope(id: String, model: String, created: Int, status: String, output: [JSON], usage: TokenCounts?, finish: FinishReason?) -> JSON {
        var incomplete: JSON = .null
        if status == "incomplete" {
            incomplete = .object(["reason": finish == .contentFilter ? "content_filter" : "max_output_tokens"])
        }
        return .object([
            "id": .string(id), "object": "response", "created_at": JSON(created), "status": .string(status), "error": .null,
            "incomplete_details": incomplete, "instructions": .null, "max_output_tokens": .null, "model": .string(model), "output": .array(output),
            "parallel_tool_calls": true, "previous_response_id": .null, "reasoning": .object(["effort": .null, "summary": .null]), "store": false,
            "temperature": .null, "text": .object(["format": .object(["type": "text"])]), "tool_choice": "auto", "tools": [], "top_p": .null,
            "truncation": "disabled", "usage": usage.map(usageJSON) ?? .null, "user": .null, "metadata": .object([:]),
        ])
    }

    static func status(_ finish: FinishReason) -> String {
        finish == .length || finish == .contentFilter ? "incomplete" : "completed"
    }

    static func messageItem(id: String, text: String, status: String) -> JSON {
        .object([
            "id": .string(id), "type": "message", "status": .string(status), "role": "assistant",
            "content": [.object(["type": "output_text", "text": .string(text), "annotations": []])],
        ])
    }

    static func callItem(id: String, callID: String, name: String, arguments: String, status: String) -> JSON {
        .object([
            "id": .string(id), "type": "function_call", "status": .string(status), "arguments": .string(arguments), "call_id": .string(callID),
            "name": .string(name),
        ])
    }

    static func reasoningItem(id: String, text: String, signature: String?) -> JSON {
        var item: JSONObject = ["id": .string(id), "type": "reasoning", "summary": text.isEmpty ? [] : [.object(["type": "summary_text", "text": .string(text)])]]
        if let signature, !signature.isEmpty { item["encrypted_content"] = .string(signature) }
        return .object(item)
    }

    package static func encodeResponse(_ response: ChatResponse, context: TranslationContext) -> JSON {
        var output: [JSON] = []
        var text: String?
        func flushText() {
            if let pending = text { output.append(messageItem(id: GeneratedID.make("msg_"), text: pending, status: "completed")) }
            text = nil
        }
        for part in response.parts {
            switch part {
            case .text(let piece): text = (text ?? "") + piece
            case .thinking(let reasoning, let signature):
                flushText()
                output.append(reasoningItem(id: GeneratedID.make("rs_"), text: reasoning, signature: signature))
            case .toolCall(let id, let name, let arguments):
                flushText()
                output.append(callItem(id: GeneratedID.make("fc_"), callID: id, name: name, arguments: arguments, status: "completed"))
            default: break
            }
        }
        flushText()
        return envelope(
            id: "resp_" + (response.id ?? GeneratedID.make("")), model: response.model ?? context.model ?? "", created: context.created,
            status: status(response.finish), output: output, usage: response.usage, finish: response.finish)
    }
}

/// Writes a Responses API event stream: `response.created`, `response.in_progress`, for each
/// output item `output_item.added` … its deltas … `output_item.done`, then
/// `response.completed` (or `response.incomplete`) with the whole response and its usage.
/// Every event carries its `sequence_number`.
package struct ResponsesStreamEncoder: StreamEncoder {
    private enum Item {
        case message(id: String, text: String)
        case call(id: String, callID: String, name: String, arguments: String)
        case reasoning(id: String, text: String, signature: String?)
    }
    let context: TranslationContext
    private var responseID: String?
    private var model: String?
    private var began = false
    private var sequence = 0
    private var current: Item?
    private var done: [JSON] = []
    private var finish: FinishReason?
    private var usage = TokenCounts()
    package private(set) var ended = false

    package init(context: TranslationContext) { self.context = context }

    private mutating func event(_ type: String, _ fields: JSONObject, into out: inout String) {
        var object: JSONObject = ["type": .string(type)]
        for member in fields.members { object[member.key] = member.value }
        object["sequence_number"] = JSON(sequence)
        sequence += 1
        ServerSentEvent.write(name: type, data: JSON.object(object).text, into: &out)
    }

    private var id: String { responseID ?? "resp_gateway" }
    private var outputIndex: Int { done.count }

    private mutating func begin(into out: inout String) {
        guard !began else { return }
        began = true
        responseID = "resp_" + (responseID ?? GeneratedID.make(""))
        let skeleton = ResponsesFormat.envelope(
            id: id, model: model ?? context.model ?? "", created: context.created, status: "in_progress", output: [], usage: nil, finish: nil)
        event("response.created", ["response": skeleton], into: &out)
        event("response.in_progress", ["response": skeleton], into: &out)
    }

    private mutating func close(into out: inout String) {
        guard let item = current else { return }
        current = nil
        let index = JSON(outputIndex)
        let finished: JSON
        switch item {
        case .message(let itemID, let text):
            let part: JSON = .object(["type": "output_text", "text": .string(text), "annotations": []])
            event("response.output_text.done", ["item_id": .string(itemID), "output_index": index, "content_index": 0, "text": .string(text), "logprobs": []], into: &out)
            event("response.content_part.done", ["item_id": .string(itemID), "output_index": index, "content_index": 0, "part": part], into: &out)
            finished = ResponsesFormat.messageItem(id: itemID, text: text, status: "completed")
        case .call(let itemID, let callID, let name, let arguments):
            event("response.function_call_arguments.done", ["item_id": .string(itemID), "output_index": index, "name": .string(name), "arguments": .string(arguments)], into: &out)
            finished = ResponsesFormat.callItem(id: itemID, callID: callID, name: name, arguments: arguments, status: "completed")
        case .reasoning(let itemID, let text, let signature):
            let part: JSON = .object(["type": "summary_text", "text": .string(text)])
            event("response.reasoning_summary_text.done", ["item_id": .string(itemID), "output_index": index, "summary_index": 0, "text": .string(text)], into: &out)
            event("response.reasoning_summary_part.done", ["item_id": .string(itemID), "output_index": index, "summary_index": 0, "part": part], into: &out)
            finished = ResponsesFormat.reasoningItem(id: itemID, text: text, signature: signature)
        }
        event("response.output_item.done", ["output_index": index, "item": finished], into: &out)
        done.append(finished)
    }

    package mutating func encode(_ streamEvent: StreamEvent, into out: inout String) {
        guard !ended else { return }
        switch streamEvent {
        case .start(let id, let model):
            if !began {
                responseID = responseID ?? id
                self.model = self.model ?? model
            }
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
        let index = JSON(outputIndex)
        switch streamEvent {
        case .text(let text):
            if case .message(let itemID, let sofar) = current {
                current = .message(id: itemID, text: sofar + text)
                event("response.output_text.delta", ["item_id": .string(itemID), "output_index": index, "content_index": 0, "delta": .string(text), "logprobs": []], into: &out)
                return
            }
            close(into: &out)
            let itemID = GeneratedID.make("msg_")
            let added: JSON = .object(["id": .string(itemID), "type": "message", "status": "in_progress", "role": "assistant", "content": []])
            let at = JSON(outputIndex)
            event("response.output_item.added", ["output_index": at, "item": added], into: &out)
            event(
                "response.content_part.added",
                ["item_id": .string(itemID), "output_index": at, "content_index": 0, "part": .object(["type": "output_text", "text": "", "annotations": []])],
                into: &out)
            current = .message(id: itemID, text: text)
            event("response.output_text.delta", ["item_id": .string(itemID), "output_index": at, "content_index": 0, "delta": .string(text), "logprobs": []], into: &out)
        case .thinking(let text):
            if case .reasoning(let itemID, let sofar, let signature) = current {
                current = .reasoning(id: itemID, text: sofar + text, signature: signature)
                event("response.reasoning_summary_text.delta", ["item_id": .string(itemID), "output_index": index, "summary_index": 0, "delta": .string(text)], into: &out)
                return
            }
            close(into: &out)
            let itemID = GeneratedID.make("rs_")
            let at = JSON(outputIndex)
            event("response.output_item.added", ["output_index": at, "item": .object(["id": .string(itemID), "type": "reasoning", "summary": []])], into: &out)
            event(
                "response.reasoning_summary_part.added",
                ["item_id": .string(itemID), "output_index": at, "summary_index": 0, "part": .object(["type": "summary_text", "text": ""])], into: &out)
            current = .reasoning(id: itemID, text: text, signature: nil)
            event("response.reasoning_summary_text.delta", ["item_id": .string(itemID), "output_index": at, "summary_index": 0, "delta": .string(text)], into: &out)
        case .thinkingSignature(let signature):
            if case .reasoning(let itemID, let text, let sofar) = current { current = .reasoning(id: itemID, text: text, signature: (sofar ?? "") + signature) }
        case .redactedThinking: break
        case .toolCall(let callID, let name):
            close(into: &out)
            let itemID = GeneratedID.make("fc_")
            current = .call(id: itemID, callID: callID, name: name, arguments: "")
            event(
                "response.output_item.added",
                ["output_index": JSON(outputIndex), "item": ResponsesFormat.callItem(id: itemID, callID: callID, name: name, arguments: "", status: "in_progress")],
                into: &out)
        case .toolArguments(let fragment):
            guard case .call(let itemID, let callID, let name, let sofar) = current else { return }
            current = .call(id: itemID, callID: callID, name: name, arguments: sofar + fragment)
            event("response.function_call_arguments.delta", ["item_id": .string(itemID), "output_index": index, "delta": .string(fragment)], into: &out)
        case .error(let failure):
            event("error", ["code": .string(failure.type ?? failure.openAIType), "message": .string(failure.message), "param": .null], into: &out)
        case .end:
            close(into: &out)
            let reason = finish ?? .stop
            let status = ResponsesFormat.status(reason)
            let response = ResponsesFormat.envelope(
                id: id, model: model ?? context.model ?? "", created: context.created, status: status, output: done, usage: usage, finish: reason)
            event(status == "completed" ? "response.completed" : "response.incomplete", ["response": response], into: &out)
            ended = true
        case .start, .usage, .finish: break
        }
    }
}
