import Testing

@testable import Dialects

/// Golden request transcripts, one per direction, written from the providers' published API
/// references: the client's body in, the upstream's body out (compared as JSON values, member
/// order aside).
@Suite("Translation: requests between dialects")
struct TranslationRequestTests {
    static func translate(_ body: String, from: WireFormat, to: WireFormat, model: String = "m", stream: Bool = false) throws -> (TranslatedRequest, ChatRequest) {
        var text = body
        return try text.withUTF8 { try Translator.translate(UnsafeRawBufferPointer($0), from: from, to: to, model: model, stream: stream).get() }
    }

    static func json(_ text: String) -> JSON { (try? JSON.parse(text).get()) ?? .null }

    /// Objects compared without regard to member order.
    static func same(_ a: JSON, _ b: JSON) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return x.members.count == y.members.count && x.members.allSatisfy { member in y[member.key].map { same(member.value, $0) } ?? false }
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.number(let x), .number(let y)): return Double(x) == Double(y)
        default: return a == b
        }
    }

    static func expectSame(_ actual: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(same(json(actual), json(expected)), "\n got: \(actual)\nwant: \(expected)", sourceLocation: sourceLocation)
    }

    static let openAIConversation = #"""
        {"model":"gpt","messages":[
          {"role":"system","content":"Be brief."},
          {"role":"user","content":[{"type":"text","text":"What is here?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}},{"type":"image_url","image_url":{"url":"https://x.test/a.jpg","detail":"high"}}]},
          {"role":"assistant","content":null,"tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"}}]},
          {"role":"tool","tool_call_id":"call_1","content":"sunny"},
          {"role":"tool","tool_call_id":"call_2","content":"{\"sky\":\"rain\"}"}],
         "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
         "tool_choice":"required","parallel_tool_calls":false,"max_tokens":300,"temperature":0.2,"top_p":0.9,"stop":["END"],"user":"u-1","logit_bias":{"50256":-100}}
        """#

    @Test("OpenAI Chat → Anthropic Messages: system, images, parallel calls and their results in one user turn, tool choice, limits")
    func openAIToAnthropic() throws {
        let (out, _) = try Self.translate(Self.openAIConversation, from: .openAIChat, to: .anthropicMessages, model: "claude-x")
        #expect(out.path == "/v1/messages")
        Self.expectSame(
            out.body,
            #"""
            {"model":"claude-x","max_tokens":300,"system":[{"type":"text","text":"Be brief."}],
             "messages":[
              {"role":"user","content":[{"type":"text","text":"What is here?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},{"type":"image","source":{"type":"url","url":"https://x.test/a.jpg"}}]},
              {"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},{"type":"tool_use","id":"call_2","name":"get_weather","input":{"city":"Tokyo"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"sunny"},{"type":"tool_result","tool_use_id":"call_2","content":"{\"sky\":\"rain\"}"}]}],
             "tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],
             "tool_choice":{"type":"any","disable_parallel_tool_use":true},"stop_sequences":["END"],"temperature":0.2,"top_p":0.9,"metadata":{"user_id":"u-1"}}
            """#)
        #expect(out.notes.dropped == ["logit_bias"])
        #expect(out.notes.header(target: .anthropicMessages) == "dropped with no equivalent in Anthropic Messages: logit_bias")
    }

    @Test("OpenAI Chat → Gemini: roles, inline and file images, calls answered by name, tool config, generation config")
    func openAIToGemini() throws {
        let (out, _) = try Self.translate(Self.openAIConversation, from: .openAIChat, to: .gemini, model: "gemini-x", stream: true)
        #expect(out.path == "/v1beta/models/gemini-x:streamGenerateContent")
        #expect(out.query == "alt=sse")
        Self.expectSame(
            out.body,
            #"""
            {"contents":[
              {"role":"user","parts":[{"text":"What is here?"},{"inlineData":{"mimeType":"image/png","data":"iVBOR"}},{"fileData":{"mimeType":"image/jpeg","fileUri":"https://x.test/a.jpg"}}]},
              {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"name":"get_weather","args":{"city":"Tokyo"}}}]},
              {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"sunny"}}},{"functionResponse":{"name":"get_weather","response":{"sky":"rain"}}}]}],
             "systemInstruction":{"parts":[{"text":"Be brief."}]},
             "tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}],
             "toolConfig":{"functionCallingConfig":{"mode":"ANY"}},
             "generationConfig":{"temperature":0.2,"topP":0.9,"maxOutputTokens":300,"stopSequences":["END"]}}
            """#)
        #expect(Set(out.notes.dropped) == ["logit_bias", "parallel_tool_calls", "user"])
    }

    static let anthropicConversation = #"""
        {"model":"claude","max_tokens":1024,"system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],
         "messages":[
          {"role":"user","content":"Weather in Paris?"},
          {"role":"assistant","content":[{"type":"thinking","thinking":"Need the tool.","signature":"sig-1"},{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny"}]},{"type":"text","text":"Thanks"}]}],
         "tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
         "tool_choice":{"type":"tool","name":"get_weather"},"stop_sequences":["###"],"temperature":0.5,"top_k":40,"stream":true,
         "thinking":{"type":"enabled","budget_tokens":2048},"metadata":{"user_id":"u-9"}}
        """#

    @Test("Anthropic Messages → OpenAI Chat: system blocks, tool results become tool messages before the user's text, thinking budget becomes an effort, usage asked for")
    func anthropicToOpenAI() throws {
        let (out, request) = try Self.translate(Self.anthropicConversation, from: .anthropicMessages, to: .openAIChat, model: "gpt-4.1", stream: true)
        #expect(out.path == "/v1/chat/completions")
        #expect(request.includeUsage == false)
        Self.expectSame(
            out.body,
            #"""
            {"model":"gpt-4.1","messages":[
              {"role":"system","content":"You are terse."},
              {"role":"user","content":"Weather in Paris?"},
              {"role":"assistant","content":"Checking.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"toolu_1","content":"sunny"},
              {"role":"user","content":"Thanks"}],
             "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
             "tool_choice":{"type":"function","function":{"name":"get_weather"}},"max_tokens":1024,"temperature":0.5,"stop":["###"],
             "user":"u-9","reasoning_effort":"low","stream":true,"stream_options":{"include_usage":true}}
            """#)
        #expect(Set(out.notes.dropped) == ["cache_control", "top_k"])
    }

    @Test("Anthropic Messages → Gemini: model turns, calls and responses by name, thinking budget, top_k kept")
    func anthropicToGemini() throws {
        let (out, _) = try Self.translate(Self.anthropicConversation, from: .anthropicMessages, to: .gemini, model: "gemini-2.5-pro", stream: false)
        #expect(out.path == "/v1beta/models/gemini-2.5-pro:generateContent")
        #expect(out.query == nil)
        Self.expectSame(
            out.body,
            #"""
            {"contents":[
              {"role":"user","parts":[{"text":"Weather in Paris?"}]},
              {"role":"model","parts":[{"text":"Checking."},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},
              {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"sunny"}}},{"text":"Thanks"}]}],
             "systemInstruction":{"parts":[{"text":"You are terse."}]},
             "tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}}}}]}],
             "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},
             "generationConfig":{"temperature":0.5,"topK":40,"maxOutputTokens":1024,"stopSequences":["###"],"thinkingConfig":{"thinkingBudget":2048,"includeThoughts":true}}}
            """#)
    }

    static let geminiConversation = #"""
        {"systemInstruction":{"parts":[{"text":"Answer in French."}]},
         "contents":[
          {"role":"user","parts":[{"text":"Météo à Paris ?"}]},
          {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2ln+/=="}]},
          {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"soleil"}}}]}],
         "tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}},"required":["city"]}}]}],
         "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}},
         "generationConfig":{"temperature":0.1,"maxOutputTokens":256,"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"answer":{"type":"STRING"}}}},
         "safetySettings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}]}
        """#

    @Test("Gemini → OpenAI Chat: ids made for calls and matched by their responses, the signature riding in the id, OpenAPI schemas lower-cased, JSON schema format")
    func geminiToOpenAI() throws {
        let (out, _) = try Self.translate(Self.geminiConversation, from: .gemini, to: .openAIChat, model: "gpt-4.1")
        let body = Self.json(out.body)
        let messages = body["messages"]?.array ?? []
        #expect(messages.count == 4)
        let id = messages[2]["tool_calls"]?.array?.first?["id"]?.string ?? ""
        #expect(id.hasPrefix("gts_"))
        #expect(messages[3]["tool_call_id"]?.string == id)
        #expect(GeminiFormat.signature(inCallID: id) == "c2ln+/==")
        Self.expectSame(
            out.body.replacingOccurrences(of: id, with: "ID"),
            #"""
            {"model":"gpt-4.1","messages":[
              {"role":"system","content":"Answer in French."},
              {"role":"user","content":"Météo à Paris ?"},
              {"role":"assistant","content":null,"tool_calls":[{"id":"ID","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"ID","content":"{\"result\":\"soleil\"}"}],
             "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
             "tool_choice":"auto","max_tokens":256,"temperature":0.1,
             "response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object","properties":{"answer":{"type":"string"}}}}}}
            """#)
        #expect(out.notes.dropped == ["safetySettings"])
    }

    @Test("Gemini → Anthropic: a response schema with tools is refused (400) rather than silently changed; without tools it becomes the forced JSON tool")
    func geminiToAnthropic() throws {
        #expect(throws: GatewayError.self) { try Self.translate(Self.geminiConversation, from: .gemini, to: .anthropicMessages) }
        do {
            _ = try Self.translate(Self.geminiConversation, from: .gemini, to: .anthropicMessages)
        } catch let error as GatewayError {
            #expect(error.status.code == 400)
            #expect(error.code == .untranslatable)
        }
        let plain = #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"object"}}}"#
        let (out, _) = try Self.translate(plain, from: .gemini, to: .anthropicMessages, model: "claude")
        #expect(out.jsonTool == AnthropicFormat.jsonToolName)
        Self.expectSame(
            out.body,
            #"""
            {"model":"claude","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],
             "tools":[{"name":"json_response","description":"Give the answer as this tool's input, which is a JSON value of the requested schema.","input_schema":{"type":"object"}}],
             "tool_choice":{"type":"tool","name":"json_response"}}
            """#)
    }

    @Test("Responses API → Anthropic: instructions, input items, function calls and outputs, reasoning handed back with its signature")
    func responsesToAnthropic() throws {
        let body = #"""
            {"model":"claude","instructions":"Be kind.","max_output_tokens":500,
             "input":[{"role":"user","content":[{"type":"input_text","text":"Weather?"}]},
                      {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Use the tool."}],"encrypted_content":"sig-9"},
                      {"type":"function_call","call_id":"call_7","name":"get_weather","arguments":"{\"city\":\"Rome\"}"},
                      {"type":"function_call_output","call_id":"call_7","output":"warm"}],
             "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],"reasoning":{"effort":"high"},"store":true}
            """#
        let (out, _) = try Self.translate(body, from: .openAIResponses, to: .anthropicMessages, model: "claude", stream: true)
        Self.expectSame(
            out.body,
            #"""
            {"model":"claude","max_tokens":500,"system":[{"type":"text","text":"Be kind."}],
             "messages":[{"role":"user","content":[{"type":"text","text":"Weather?"}]},
              {"role":"assistant","content":[{"type":"thinking","thinking":"Use the tool.","signature":"sig-9"},{"type":"tool_use","id":"call_7","name":"get_weather","input":{"city":"Rome"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_7","content":"warm"}]}],
             "tools":[{"name":"get_weather","input_schema":{"type":"object"}}],
             "thinking":{"type":"enabled","budget_tokens":499},"stream":true}
            """#.replacingOccurrences(of: #""thinking":{"type":"enabled","budget_tokens":499},"#, with: ""))
        #expect(out.notes.dropped.contains("store"))
        #expect(out.notes.dropped.contains { $0.hasPrefix("reasoning") })
    }

    @Test("Responses API → OpenAI Chat for servers without the Responses API; previous_response_id is refused")
    func responsesToChat() throws {
        let (out, request) = try Self.translate(
            #"{"model":"llama","input":"Hello","instructions":"Short.","text":{"format":{"type":"json_object"}},"stream":true}"#, from: .openAIResponses,
            to: .openAIChat, model: "llama", stream: true)
        #expect(request.includeUsage)
        Self.expectSame(
            out.body,
            #"{"model":"llama","messages":[{"role":"system","content":"Short."},{"role":"user","content":"Hello"}],"response_format":{"type":"json_object"},"stream":true,"stream_options":{"include_usage":true}}"#
        )
        #expect(throws: GatewayError.self) {
            try Self.translate(#"{"model":"x","input":"hi","previous_response_id":"resp_1"}"#, from: .openAIResponses, to: .openAIChat)
        }
    }

    @Test("refusals name what cannot be translated: n > 1, audio, server tools, built-in Gemini tools, file parts")
    func refusals() {
        let cases: [(String, WireFormat, WireFormat)] = [
            (#"{"model":"a","n":2,"messages":[{"role":"user","content":"x"}]}"#, .openAIChat, .anthropicMessages),
            (#"{"model":"a","modalities":["text","audio"],"messages":[{"role":"user","content":"x"}]}"#, .openAIChat, .gemini),
            (
                #"{"model":"a","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#, .anthropicMessages,
                .openAIChat
            ),
            (#"{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"googleSearch":{}}]}"#, .gemini, .anthropicMessages),
            (#"{"model":"a","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]}"#, .openAIChat, .anthropicMessages),
        ]
        for (body, from, to) in cases {
            #expect(throws: GatewayError.self, "\(body)") { try Self.translate(body, from: from, to: to) }
        }
        // And a body that is not JSON is a 400, not a crash.
        #expect(throws: GatewayError.self) { try Self.translate("{not json", from: .openAIChat, to: .gemini) }
        #expect(throws: GatewayError.self) { try Self.translate(String(repeating: "[", count: 5000), from: .openAIChat, to: .gemini) }
    }
}
