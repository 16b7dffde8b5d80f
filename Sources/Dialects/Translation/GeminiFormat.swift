/// Gemini `generateContent` / `streamGenerateContent` read into and written from the neutral
/// model. Gemini's JSON accepts `camelCase` and `snake_case` member names (the SDKs send
/// either); the decoder reads both, the encoder writes `camelCase`.
package enum GeminiFormat {
    static let knownRequestFields: Set<String> = [
        "contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config", "generationConfig", "generation_config",
        "model",
    ]
    static let knownGenerationFields: Set<String> = [
        "temperature", "topP", "top_p", "topK", "top_k", "maxOutputTokens", "max_output_tokens", "stopSequences", "stop_sequences",
        "candidateCount", "candidate_count", "responseMimeType", "response_mime_type", "responseSchema", "response_schema",
        "responseJsonSchema", "response_json_schema", "thinkingConfig", "thinking_config", "seed", "presencePenalty", "presence_penalty",
        "frequencyPenalty", "frequency_penalty", "responseModalities", "response_modalities",
    ]

    /// Prefix of call ids that carry a Gemini thought signature (base64url) so that it
    /// comes back with the call in the next turn: Gemini refuses function-call history
    /// without the signatures it gave, and clients of other dialects have nowhere else to
    /// keep one.
    static let signedCallPrefix = "gts_"

    /// `gts_<token>_<signature as base64url>`: the token (letters and digits only) keeps ids
    /// of one answer apart; the signature is everything after its underscore.
    static func callID(signature: String?, fallback: String) -> String {
        guard let signature, !signature.isEmpty else { return fallback }
        let url = signature.replacingBytes {
            $0 == UInt8(ascii: "+") ? UInt8(ascii: "-") : $0 == UInt8(ascii: "/") ? UInt8(ascii: "_") : $0 == UInt8(ascii: "=") ? nil : $0
        }
        let token = String(fallback.filter { $0.isASCII && ($0.isLetter || $0.isNumber) })
        return signedCallPrefix + token + "_" + url
    }

    static func signature(inCallID id: String) -> String? {
        guard id.hasPrefix(signedCallPrefix) else { return nil }
        let rest = id.dropFirst(signedCallPrefix.count)
        guard let separator = rest.firstIndex(of: "_") else { return nil }
        var base64 = String(rest[rest.index(after: separator)...]).replacingBytes {
            $0 == UInt8(ascii: "-") ? UInt8(ascii: "+") : $0 == UInt8(ascii: "_") ? UInt8(ascii: "/") : $0
        }
        guard !base64.isEmpty else { return nil }
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        return base64
    }

    // MARK: request

    package static func decodeRequest(_ body: JSON, notes: inout TranslationNotes, target: WireFormat) throws(GatewayError) -> ChatRequest {
        guard let root = body.object else { throw .badRequest("The request body must be a JSON object") }
        var request = ChatRequest()
        if root["cachedContent"] != nil || root["cached_content"] != nil { throw .untranslatable("cachedContent", target: target) }
        if root["safetySettings"] != nil || root["safety_settings"] != nil { notes.drop("safetySettings") }
        root.dropUnknown(knownRequestFields.union(["safetySettings", "safety_settings"]), notes: &notes)
        if let system = root.first("systemInstruction", "system_instruction") {
            switch system {
            case .string(let text): request.system = [text]
            case .object(let content):
                let texts = (content["parts"]?.array ?? []).compactMap { $0["text"]?.string }
                if !texts.isEmpty { request.system = [texts.joined(separator: "\n")] }
            default: throw .badRequest("systemInstruction must be a content object")
            }
        }
        // Calls without ids are answered by name, in order.
        var unanswered: [(name: String, id: String)] = []
        var callCount = 0
        for (index, item) in (root["contents"]?.array ?? []).enumerated() {
            let at = "contents[\(index)]"
            guard let content = item.object else { throw .badRequest("\(at) must be an object") }
            let role: ChatRole = content["role"]?.string == "model" ? .assistant : .user
            var parts: [ContentPart] = []
            for (partIndex, part) in (content["parts"]?.array ?? []).enumerated() {
                let partAt = "\(at).parts[\(partIndex)]"
                guard let part = part.object else { throw .badRequest("\(partAt) must be an object") }
                let signature = part.first("thoughtSignature", "thought_signature")?.string
                if let text = part["text"]?.string {
                    if part["thought"]?.bool == true {
                        parts.append(.thinking(text: text, signature: signature))
                    } else {
                        parts.append(.text(text))
                    }
                } else if let inline = part.first("inlineData", "inline_data")?.object {
                    let type = inline.first("mimeType", "mime_type")?.string ?? ""
                    guard type.hasPrefix("image/") else { throw .untranslatable("Inline data of type '\(type)'", target: target) }
                    parts.append(.image(.base64(mediaType: type, data: inline["data"]?.string ?? "")))
                } else if let file = part.first("fileData", "file_data")?.object {
                    let type = file.first("mimeType", "mime_type")?.string ?? ""
                    guard type.isEmpty || type.hasPrefix("image/") else { throw .untranslatable("File data of type '\(type)'", target: target) }
                    parts.append(.image(.url(file.first("fileUri", "file_uri")?.string ?? "")))
                } else if let call = part.first("functionCall", "function_call")?.object {
                    let name = call["name"]?.string ?? ""
                    callCount += 1
                    let id = call["id"]?.string ?? callID(signature: signature, fallback: "call_\(callCount)")
                    unanswered.append((name, id))
                    parts.append(.toolCall(id: id, name: name, arguments: (call["args"] ?? .object([:])).text))
                } else if let answer = part.first("functionResponse", "function_response")?.object {
                    let name = answer["name"]?.string ?? ""
                    var id = answer["id"]?.string
                    if let given = id {
                        unanswered.removeAll { $0.id == given }
                    } else if let match = unanswered.firstIndex(where: { $0.name == name }) {
                        id = unanswered[match].id
                        unanswered.remove(at: match)
                    }
                    let response = answer["response"] ?? .object([:])
                    parts.append(.toolResult(id: id ?? "call_\(name)", name: name, content: [.text(response.text)], isError: false))
                } else if part["executableCode"] != nil || part["codeExecutionResult"] != nil || part["executable_code"] != nil {
                    throw .untranslatable("Code execution parts", target: target)
                }
            }
            request.messages.append(ChatMessage(role: role, parts: parts))
        }
        for (index, tool) in (root["tools"]?.array ?? []).enumerated() {
            guard let tool = tool.object else { throw .badRequest("tools[\(index)] must be an object") }
            for key in tool.keys where key != "functionDeclarations" && key != "function_declarations" {
                throw .untranslatable("The built-in tool '\(key)'", target: target)
            }
            for declaration in tool.first("functionDeclarations", "function_declarations")?.array ?? [] {
                guard let declaration = declaration.object, let name = declaration["name"]?.string else {
                    throw .badRequest("tools[\(index)]: every function declaration needs a name")
                }
                let schema =
                    declaration.first("parametersJsonSchema", "parameters_json_schema")
                    ?? declaration["parameters"].map(jsonSchema(fromOpenAPI:))
                    ?? .object(["type": "object", "properties": .object([:])])
                request.tools.append(ToolDefinition(name: name, description: declaration["description"]?.string, parameters: schema))
            }
        }
        if let config = root.first("toolConfig", "tool_config")?.object?.first("functionCallingConfig", "function_calling_config")?.object {
            let allowed = config.first("allowedFunctionNames", "allowed_function_names")?.array?.compactMap(\.string) ?? []
            switch config["mode"]?.string?.uppercased() {
            case "NONE": request.toolChoice = ToolChoice.none
            case "ANY", "VALIDATED":
                request.toolChoice = allowed.count == 1 ? .tool(allowed[0]) : .required
                if allowed.count > 1 { notes.drop("allowedFunctionNames") }
            case "AUTO": request.toolChoice = .auto
            default: break
            }
        }
        if let generation = root.first("generationConfig", "generation_config")?.object {
            generation.dropUnknown(knownGenerationFields, prefix: "generationConfig.", notes: &notes)
            if let count = generation.first("candidateCount", "candidate_count")?.int, count != 1 {
                throw .untranslatable("candidateCount = \(count)", target: target)
            }
            if let modalities = generation.first("responseModalities", "response_modalities")?.array,
                modalities.contains(where: { $0.string?.uppercased() != "TEXT" })
            {
                throw .untranslatable("Non-text responseModalities", target: target)
            }
            request.temperature = generation["temperature"]
            request.topP = generation.first("topP", "top_p")
            request.topK = generation.first("topK", "top_k")
            request.maxTokens = generation.first("maxOutputTokens", "max_output_tokens")?.int
            request.stop = generation.first("stopSequences", "stop_sequences")?.array?.compactMap(\.string) ?? []
            request.seed = generation["seed"]
            request.presencePenalty = generation.first("presencePenalty", "presence_penalty")
            request.frequencyPenalty = generation.first("frequencyPenalty", "frequency_penalty")
            let mime = generation.first("responseMimeType", "response_mime_type")?.string
            let schema = generation.first("responseJsonSchema", "response_json_schema") ?? generation.first("responseSchema", "response_schema").map(jsonSchema(fromOpenAPI:))
            if mime == "application/json" {
                request.responseFormat = schema.map { .jsonSchema(name: "response", schema: $0, strict: nil) } ?? .jsonObject
            } else if let mime, mime != "text/plain" {
                throw .untranslatable("responseMimeType '\(mime)'", target: target)
            }
            if let thinking = generation.first("thinkingConfig", "thinking_config")?.object {
                let budget = thinking.first("thinkingBudget", "thinking_budget")?.int
                if budget == 0 {
                    request.reasoning = Reasoning(disabled: true)
                } else if let level = thinking.first("thinkingLevel", "thinking_level")?.string?.lowercased() {
                    request.reasoning = Reasoning(effort: Reasoning.Effort(rawValue: level) ?? .medium)
                } else if let budget, budget > 0 {
                    request.reasoning = Reasoning(budgetTokens: budget)
                } else if thinking.first("includeThoughts", "include_thoughts")?.bool == true || budget == -1 {
                    request.reasoning = Reasoning(effort: .medium)
                }
            }
        }
        return request
    }

    /// Gemini's `parameters` and `responseSchema` use an OpenAPI subset with upper-case type
    /// names (`OBJECT`); JSON Schema wants them lower-case.
    static func jsonSchema(fromOpenAPI schema: JSON) -> JSON {
        switch schema {
        case .object(let object):
            var out = JSONObject()
            for member in object.members {
                if member.key == "type", let type = member.value.string {
                    out[member.key] = .string(type.lowercased())
                } else {
                    out[member.key] = jsonSchema(fromOpenAPI: member.value)
                }
            }
            return .object(out)
        case .array(let items): return .array(items.map(jsonSchema(fromOpenAPI:)))
        default: return schema
        }
    }

    static func partJSON(_ part: ContentPart, notes: inout TranslationNotes) -> JSON? {
        switch part {
        case .text(let text): return .object(["text": .string(text)])
        case .image(.base64(let type, let data)): return .object(["inlineData": .object(["mimeType": .string(type), "data": .string(data)])])
        case .image(.url(let url)): return .object(["fileData": .object(["mimeType": .string(mimeType(ofURL: url)), "fileUri": .string(url)])])
        case .toolCall(let id, let name, let arguments):
            var part: JSONObject = ["functionCall": .object(["name": .string(name), "args": .object(JSON.arguments(arguments) ?? JSONObject())])]
            if let signature = signature(inCallID: id) { part["thoughtSignature"] = .string(signature) }
            return .object(part)
        case .toolResult(_, let name, let content, let isError):
            let text = content.compactMap { if case .text(let t) = $0 { return t } else { return nil } }.joined()
            if content.contains(where: { if case .image = $0 { return true } else { return false } }) { notes.drop("images in tool results") }
            // Gemini wants an object: a result that is one keeps its shape.
            var response: JSON
            if case .success(.object(let object)) = JSON.parse(text) { response = .object(object) } else { response = .object(["result": .string(text)]) }
            if isError { response = .object(["error": .string(text)]) }
            return .object(["functionResponse": .object(["name": .string(name), "response": response])])
        case .thinking, .redactedThinking:
            // Reasoning goes back to Gemini only as signatures, which ride on call ids.
            return nil
        }
    }

    static func mimeType(ofURL url: String) -> String {
        let lower = url.lowercased()
        if lower.hasSuffix(".png") { return "image/png" }
        if lower.hasSuffix(".gif") { return "image/gif" }
        if lower.hasSuffix(".webp") { return "image/webp" }
        return "image/jpeg"
    }

    package static func encodeRequest(_ request: ChatRequest, notes: inout TranslationNotes) -> JSON {
        var body = JSONObject()
        var contents: [JSON] = []
        for message in request.messages {
            let parts = message.parts.compactMap { partJSON($0, notes: &notes) }
            guard !parts.isEmpty else { continue }
            contents.append(.object(["role": .string(message.role == .assistant ? "model" : "user"), "parts": .array(parts)]))
        }
        body["contents"] = .array(contents)
        if !request.system.isEmpty {
            body["systemInstruction"] = .object(["parts": .array(request.system.map { .object(["text": .string($0)]) })])
        }
        if !request.tools.isEmpty {
            let declarations: [JSON] = request.tools.map { tool in
                var object: JSONObject = ["name": .string(tool.name)]
                if let description = tool.description { object["description"] = .string(description) }
                object["parametersJsonSchema"] = tool.parameters
                return .object(object)
            }
            body["tools"] = [.object(["functionDeclarations": .array(declarations)])]
        }
        var calling: JSONObject?
        switch request.toolChoice {
        case .auto?: calling = ["mode": "AUTO"]
        case .none?: calling = ["mode": "NONE"]
        case .required?: calling = ["mode": "ANY"]
        case .tool(let name)?: calling = ["mode": "ANY", "allowedFunctionNames": [.string(name)]]
        case nil: break
        }
        if let calling { body["toolConfig"] = .object(["functionCallingConfig": .object(calling)]) }
        if request.parallelToolCalls == false { notes.drop("parallel_tool_calls") }
        var generation = JSONObject()
        generation["temperature"] = request.temperature
        generation["topP"] = request.topP
        generation["topK"] = request.topK
        if let maxTokens = request.maxTokens { generation["maxOutputTokens"] = JSON(maxTokens) }
        if !request.stop.isEmpty { generation["stopSequences"] = .array(request.stop.map(JSON.string)) }
        generation["seed"] = request.seed
        generation["presencePenalty"] = request.presencePenalty
        generation["frequencyPenalty"] = request.frequencyPenalty
        switch request.responseFormat {
        case .jsonObject?: generation["responseMimeType"] = "application/json"
        case .jsonSchema(_, let schema, _)?:
            generation["responseMimeType"] = "application/json"
            generation["responseJsonSchema"] = schema
        case .text?, nil: break
        }
        if let reasoning = request.reasoning {
            generation["thinkingConfig"] =
                reasoning.disabled ? .object(["thinkingBudget": 0]) : .object(["thinkingBudget": JSON(reasoning.budget), "includeThoughts": true])
        }
        if request.user != nil { notes.drop("user") }
        if !generation.isEmpty { body["generationConfig"] = .object(generation) }
        return .object(body)
    }

    // MARK: response

    package static func decodeResponse(_ body: JSON) throws(GatewayError) -> ChatResponse {
        guard let root = body.object else { throw .badGateway("The upstream's answer is not a JSON object") }
        var response = ChatResponse()
        response.id = root["responseId"]?.string
        response.model = root["modelVersion"]?.string
        if let usage = root["usageMetadata"]?.object { response.usage = usageCounts(usage) }
        let candidate = root["candidates"]?.array?.first?.object
        var calls = 0
        for part in candidate?["content"]?["parts"]?.array ?? [] {
            guard let part = part.object else { continue }
            if let decoded = decodePart(part, callNumber: &calls, responseID: response.id) { response.parts.append(decoded) }
        }
        response.finish = finishReason(candidate?["finishReason"]?.string, hasCalls: calls > 0)
        if candidate == nil, root["promptFeedback"]?["blockReason"] != nil { response.finish = .contentFilter }
        return response
    }

    static func decodePart(_ part: JSONObject, callNumber: inout Int, responseID: String?) -> ContentPart? {
        let signature = part["thoughtSignature"]?.string
        if let text = part["text"]?.string {
            return part["thought"]?.bool == true ? .thinking(text: text, signature: signature) : text.isEmpty ? nil : .text(text)
        }
        if let call = part["functionCall"]?.object {
            callNumber += 1
            let fallback = "call_" + (responseID.map { String($0.prefix(16).filter { $0.isLetter || $0.isNumber }) + "_" } ?? "") + String(callNumber)
            let id = call["id"]?.string ?? callID(signature: signature, fallback: fallback)
            return .toolCall(id: id, name: call["name"]?.string ?? "", arguments: (call["args"] ?? .object([:])).text)
        }
        return nil
    }

    static func finishReason(_ value: String?, hasCalls: Bool) -> FinishReason {
        switch value {
        case "STOP", nil: return hasCalls ? .toolCalls : .stop
        case "MAX_TOKENS": return .length
        case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY": return .contentFilter
        case let other?: return .other(other)
        }
    }

    static func finishText(_ reason: FinishReason) -> String {
        switch reason {
        case .stop, .stopSequence, .toolCalls: return "STOP"
        case .length: return "MAX_TOKENS"
        case .contentFilter: return "SAFETY"
        case .other: return "OTHER"
        }
    }

    /// Gemini's candidate count leaves out thinking tokens; the neutral output count has them.
    package static func usageCounts(_ usage: JSONObject) -> TokenCounts {
        let thoughts = usage["thoughtsTokenCount"]?.int
        let candidates = usage["candidatesTokenCount"]?.int
        let output: Int? = (candidates == nil && thoughts == nil) ? nil : (candidates ?? 0) + (thoughts ?? 0)
        return TokenCounts(input: usage["promptTokenCount"]?.int, output: output, cachedInput: usage["cachedContentTokenCount"]?.int, reasoning: thoughts)
    }

    static func usageJSON(_ usage: TokenCounts) -> JSON {
        var object: JSONObject = [
            "promptTokenCount": JSON(usage.input ?? 0), "candidatesTokenCount": JSON(max(0, (usage.output ?? 0) - (usage.reasoning ?? 0))),
            "totalTokenCount": JSON(usage.total),
        ]
        if let cached = usage.cachedInput, cached > 0 { object["cachedContentTokenCount"] = JSON(cached) }
        if let reasoning = usage.reasoning, reasoning > 0 { object["thoughtsTokenCount"] = JSON(reasoning) }
        return .object(object)
    }

    static func callPart(id: String, name: String, arguments: String) -> JSON {
        var call: JSONObject = ["name": .string(name), "args": .object(JSON.arguments(arguments) ?? JSONObject())]
        if !id.hasPrefix(signedCallPrefix) { call["id"] = .string(id) }
        var part: JSONObject = ["functionCall": .object(call)]
        if let signature = signature(inCallID: id) { part["thoughtSignature"] = .string(signature) }
        return .object(part)
    }

    package static func encodeResponse(_ response: ChatResponse, context: TranslationContext) -> JSON {
        var parts: [JSON] = []
        for part in response.parts {
            switch part {
            case .text(let text): parts.append(.object(["text": .string(text)]))
            case .thinking(let text, _): parts.append(.object(["text": .string(text), "thought": true]))
            case .toolCall(let id, let name, let arguments): parts.append(callPart(id: id, name: name, arguments: arguments))
            default: break
            }
        }
        let candidate: JSONObject = [
            "content": .object(["role": "model", "parts": .array(parts)]), "finishReason": .string(finishText(response.finish)), "index": 0,
        ]
        var root: JSONObject = ["candidates": [.object(candidate)], "usageMetadata": usageJSON(response.usage)]
        root["modelVersion"] = .string(response.model ?? context.model ?? "")
        root["responseId"] = .string(response.id ?? GeneratedID.make(""))
        return .object(root)
    }
}

// MARK: stream

/// Reads a Gemini `streamGenerateContent?alt=sse` stream: each event a whole
/// `GenerateContentResponse` holding the next parts. Calls arrive whole.
package struct GeminiStreamDecoder: StreamDecoder {
    private var started = false
    private var calls = 0
    private var responseID: String?

    package init() {}

    package mutating func decode(_ event: ServerSentEvent) -> [StreamEvent] {
        guard case .success(.object(let chunk)) = JSON.parse(event.data) else { return [] }
        if let error = chunk["error"]?.object {
            return [.error(UpstreamFailure(status: error["code"]?.int ?? 500, type: error["status"]?.string, message: error["message"]?.string ?? ""))]
        }
        var out: [StreamEvent] = []
        if !started {
            started = true
            responseID = chunk["responseId"]?.string
            out.append(.start(id: responseID, model: chunk["modelVersion"]?.string))
        }
        // Counts first: an encoder that opens its message at the first content (Anthropic's
        // message_start) can then carry the input count the first chunk gave.
        if let usage = chunk["usageMetadata"]?.object { out.append(.usage(GeminiFormat.usageCounts(usage))) }
        let candidate = chunk["candidates"]?.array?.first?.object
        for part in candidate?["content"]?["parts"]?.array ?? [] {
            guard let part = part.object else { continue }
            switch GeminiFormat.decodePart(part, callNumber: &calls, responseID: responseID) {
            case .text(let text)?: out.append(.text(text))
            case .thinking(let text, let signature)?:
                if !text.isEmpty { out.append(.thinking(text)) }
                if let signature { out.append(.thinkingSignature(signature)) }
            case .toolCall(let id, let name, let arguments)?:
                out.append(.toolCall(id: id, name: name))
                out.append(.toolArguments(arguments))
            default: break
            }
        }
        if let reason = candidate?["finishReason"]?.string { out.append(.finish(GeminiFormat.finishReason(reason, hasCalls: calls > 0))) }
        if candidate == nil, chunk["promptFeedback"]?["blockReason"] != nil { out.append(.finish(.contentFilter)) }
        return out
    }
}

/// Writes a Gemini stream: one `GenerateContentResponse` per piece of text, each call whole
/// once its arguments are complete, and a last one with the finish reason and usage. As
/// server-sent events (`alt=sse`, what the SDKs ask for) or as the JSON array Gemini sends
/// without it.
package struct GeminiStreamEncoder: StreamEncoder {
    let context: TranslationContext
    let asArray: Bool
    private var id: String?
    private var model: String?
    private var wrote = false
    private var call: (id: String, name: String, arguments: String)?
    private var finish: FinishReason?
    private var usage = TokenCounts()
    package private(set) var ended = false

    package init(context: TranslationContext, asArray: Bool) {
        self.context = context
        self.asArray = asArray
    }

    private mutating func write(parts: [JSON], finish: FinishReason? = nil, usage: TokenCounts? = nil, into out: inout String) {
        var candidate: JSONObject = ["content": .object(["role": "model", "parts": .array(parts)])]
        if let finish { candidate["finishReason"] = .string(GeminiFormat.finishText(finish)) }
        candidate["index"] = 0
        var chunk: JSONObject = ["candidates": [.object(candidate)]]
        if let usage { chunk["usageMetadata"] = GeminiFormat.usageJSON(usage) }
        chunk["modelVersion"] = .string(model ?? context.model ?? "")
        if id == nil { id = GeneratedID.make("") }
        chunk["responseId"] = .string(id!)
        emit(JSON.object(chunk).text, into: &out)
    }

    private mutating func emit(_ text: String, into out: inout String) {
        if asArray {
            out += wrote ? ",\r\n" : "["
            out += text
        } else {
            out += "data: " + text + "\r\n\r\n"
        }
        wrote = true
    }

    private mutating func flushCall(into out: inout String) {
        guard let pending = call else { return }
        call = nil
        write(parts: [GeminiFormat.callPart(id: pending.id, name: pending.name, arguments: pending.arguments)], into: &out)
    }

    package mutating func encode(_ event: StreamEvent, into out: inout String) {
        guard !ended else { return }
        if case .toolArguments(let fragment) = event {
            call?.arguments += fragment
            return
        }
        switch event {
        case .usage, .finish, .start: break
        default: flushCall(into: &out)
        }
        switch event {
        case .start(let id, let model):
            self.id = self.id ?? id
            self.model = self.model ?? model
        case .text(let text): write(parts: [.object(["text": .string(text)])], into: &out)
        case .thinking(let text): write(parts: [.object(["text": .string(text), "thought": true])], into: &out)
        case .thinkingSignature, .redactedThinking, .toolArguments: break
        case .toolCall(let id, let name): call = (id, name, "")
        case .usage(let counts): usage.merge(counts)
        case .finish(let reason): finish = reason
        case .error(let failure):
            let error: JSONObject = ["code": JSON(failure.status), "message": .string(failure.message), "status": .string(failure.googleStatus)]
            emit(JSON.object(["error": .object(error)]).text, into: &out)
        case .end:
            write(parts: [.object(["text": ""])], finish: finish ?? .stop, usage: usage, into: &out)
            if asArray { out += "]" }
            ended = true
        }
    }
}

extension String {
    /// The string with each UTF-8 byte mapped (nil drops it): for the base64 alphabets.
    func replacingBytes(_ map: (UInt8) -> UInt8?) -> String {
        String(decoding: utf8.compactMap(map), as: UTF8.self)
    }
}
