import Testing

@testable import Dialects

/// Golden answer and stream transcripts per direction, and property tests of the stream
/// encoders' event order.
@Suite("Translation: answers and streams between dialects")
struct TranslationResponseTests {
    static let context = TranslationContext(created: 1_700_000_000, model: "client-model", includeUsage: true)

    /// Runs `upstream` bytes (cut into `piece`-byte reads, so events split across reads) through a translator.
    static func run(
        _ upstream: String, from: WireFormat, to: WireFormat, streaming: Bool, status: Int = 200, contentType: String = "text/event-stream",
        context: TranslationContext = context, piece: Int = 7
    ) -> (status: Int, contentType: String, body: String, usage: TokenCounts) {
        var translator = ResponseTranslator(client: to, upstream: from, streaming: streaming, context: context)
        let head = translator.head(status: status, contentType: contentType)
        var out = ""
        let bytes = Array(upstream.utf8)
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + piece)
            if let text = translator.body(bytes[index..<end]) { out += text }
            index = end
        }
        if let rest = translator.end() { out += rest }
        return (head.status, head.contentType, out, translator.usage)
    }

    /// The `data:` payloads of an event stream, with their event names.
    static func events(_ stream: String) -> [(name: String?, data: JSON)] {
        var splitter = ServerSentEventSplitter()
        var all = splitter.feed(Array(stream.utf8))
        if let last = splitter.finish() { all.append(last) }
        return all.map { ($0.name, TranslationRequestTests.json($0.data)) }
    }

    // MARK: upstream streams in each dialect

    static let openAIStream = [
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"}}]},"finish_reason":null}]}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":2}}}"#,
        "[DONE]",
    ].map { "data: \($0)\n\n" }.joined()

    @Test(
        "OpenAI stream → Anthropic: one message_start, text then two tool_use blocks each opened and closed, argument deltas joined, stop reason and the usage the client expects")
    func openAIStreamToAnthropic() throws {
        let result = Self.run(Self.openAIStream, from: .openAIChat, to: .anthropicMessages, streaming: true)
        #expect(result.contentType == "text/event-stream")
        let events = Self.events(result.body)
        #expect(
            events.map { $0.name ?? "" } == [
                "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "content_block_start",
                "content_block_delta", "content_block_delta", "content_block_stop", "content_block_start", "content_block_delta", "content_block_stop",
                "message_delta", "message_stop",
            ])
        #expect(events[0].data["message"]?["id"]?.string == "chatcmpl-1")
        #expect(events[0].data["message"]?["model"]?.string == "gpt-4.1")
        #expect(events[5].data["content_block"]?["type"]?.string == "tool_use")
        #expect(events[5].data["content_block"]?["id"]?.string == "call_a")
        #expect(events[5].data["index"]?.int == 1)
        let arguments = events[6...7].compactMap { $0.data["delta"]?["partial_json"]?.string }.joined()
        #expect(arguments == #"{"city":"Paris"}"#)
        #expect(events[12].data["delta"]?["stop_reason"]?.string == "tool_use")
        TranslationRequestTests.expectSame(
            events[12].data["usage"]?.text ?? "", #"{"input_tokens":15,"cache_creation_input_tokens":0,"cache_read_input_tokens":5,"output_tokens":10}"#)
        #expect(result.usage == TokenCounts(input: 20, output: 10, cachedInput: 5, reasoning: 2))
    }

    @Test("OpenAI stream → Gemini: text chunks, each call whole with parsed args, a last chunk with finishReason and usageMetadata")
    func openAIStreamToGemini() {
        let result = Self.run(Self.openAIStream, from: .openAIChat, to: .gemini, streaming: true)
        let chunks = Self.events(result.body).map(\.data)
        #expect(chunks.count == 5)
        #expect(chunks[0]["candidates"]?.array?.first?["content"]?["parts"]?.array?.first?["text"]?.string == "Hel")
        let call = chunks[2]["candidates"]?.array?.first?["content"]?["parts"]?.array?.first?["functionCall"]
        TranslationRequestTests.expectSame(call?.text ?? "", #"{"name":"get_weather","args":{"city":"Paris"},"id":"call_a"}"#)
        #expect(chunks[4]["candidates"]?.array?.first?["finishReason"]?.string == "STOP")
        TranslationRequestTests.expectSame(
            chunks[4]["usageMetadata"]?.text ?? "",
            #"{"promptTokenCount":20,"candidatesTokenCount":8,"totalTokenCount":30,"cachedContentTokenCount":5,"thoughtsTokenCount":2}"#)
    }

    static let anthropicStream = [
        (
            "message_start",
            #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":15,"cache_read_input_tokens":5,"cache_creation_input_tokens":0,"output_tokens":1}}}"#
        ),
        ("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#),
        ("ping", #"{"type":"ping"}"#),
        ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think."}}"#),
        ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig-abc"}}"#),
        ("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
        ("content_block_start", #"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#),
        ("content_block_delta", #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi "}}"#),
        ("content_block_delta", #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"there"}}"#),
        ("content_block_stop", #"{"type":"content_block_stop","index":1}"#),
        ("content_block_start", #"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#),
        ("content_block_delta", #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"ci"}}"#),
        ("content_block_delta", #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ty\":\"Oslo\"}"}}"#),
        ("content_block_stop", #"{"type":"content_block_stop","index":2}"#),
        ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":10}}"#),
        ("message_stop", #"{"type":"message_stop"}"#),
    ].map { "event: \($0.0)\ndata: \($0.1)\n\n" }.joined()

    @Test("Anthropic stream → OpenAI: role chunk, reasoning_content, content, tool-call deltas with an index, one finish chunk, the usage chunk (asked for), [DONE]")
    func anthropicStreamToOpenAI() {
        let result = Self.run(Self.anthropicStream, from: .anthropicMessages, to: .openAIChat, streaming: true)
        let events = Self.events(result.body)
        #expect(events.last?.data == .null) // [DONE] is not JSON
        #expect(result.body.hasSuffix("data: [DONE]\n\n"))
        let chunks = events.dropLast().map(\.data)
        #expect(chunks.first?["choices"]?.array?.first?["delta"]?["role"]?.string == "assistant")
        let deltas = chunks.compactMap { $0["choices"]?.array?.first?["delta"] }
        #expect(deltas.compactMap { $0["reasoning_content"]?.string }.joined() == "Let me think.")
        #expect(deltas.compactMap { $0["content"]?.string }.joined() == "Hi there")
        let calls = deltas.compactMap { $0["tool_calls"]?.array?.first }
        #expect(calls.first?["id"]?.string == "toolu_1")
        #expect(calls.allSatisfy { $0["index"]?.int == 0 })
        #expect(calls.compactMap { $0["function"]?["arguments"]?.string }.joined() == #"{"city":"Oslo"}"#)
        let finishes = chunks.compactMap { $0["choices"]?.array?.first?["finish_reason"]?.string }
        #expect(finishes == ["tool_calls"])
        let usage = chunks.last?["usage"]
        #expect(usage?["prompt_tokens"]?.int == 20)
        #expect(usage?["completion_tokens"]?.int == 10)
        #expect(usage?["prompt_tokens_details"]?["cached_tokens"]?.int == 5)
        #expect(chunks.allSatisfy { $0["id"]?.string == "msg_1" })
        #expect(result.usage == TokenCounts(input: 20, output: 10, cachedInput: 5, cacheCreation: 0))
    }

    @Test("without include_usage the OpenAI client gets no usage chunk, and usage is still recorded")
    func noUsageChunkUnlessAsked() {
        var context = Self.context
        context.includeUsage = false
        let result = Self.run(Self.anthropicStream, from: .anthropicMessages, to: .openAIChat, streaming: true, context: context)
        #expect(!result.body.contains(#""usage""#))
        #expect(result.usage.output == 10)
    }

    @Test(
        "Anthropic stream → Responses API: created, in_progress, reasoning item with the signature as encrypted_content, message item, function call with argument deltas, completed with usage, sequence numbers in order"
    )
    func anthropicStreamToResponses() {
        let result = Self.run(Self.anthropicStream, from: .anthropicMessages, to: .openAIResponses, streaming: true)
        let events = Self.events(result.body)
        let names = events.map { $0.name ?? "" }
        #expect(names.first == "response.created")
        #expect(names[1] == "response.in_progress")
        #expect(names.last == "response.completed")
        #expect(events.enumerated().allSatisfy { $0.element.data["sequence_number"]?.int == $0.offset })
        #expect(names.filter { $0 == "response.output_item.added" }.count == 3)
        #expect(names.filter { $0 == "response.output_item.done" }.count == 3)
        let arguments = events.filter { $0.name == "response.function_call_arguments.delta" }.compactMap { $0.data["delta"]?.string }.joined()
        #expect(arguments == #"{"city":"Oslo"}"#)
        let completed = events.last?.data["response"]
        let output = completed?["output"]?.array ?? []
        #expect(output.map { $0["type"]?.string ?? "" } == ["reasoning", "message", "function_call"])
        #expect(output[0]["encrypted_content"]?.string == "sig-abc")
        #expect(output[1]["content"]?.array?.first?["text"]?.string == "Hi there")
        #expect(output[2]["call_id"]?.string == "toolu_1")
        #expect(completed?["usage"]?["input_tokens"]?.int == 20)
        #expect(completed?["usage"]?["output_tokens"]?.int == 10)
        #expect(completed?["status"]?.string == "completed")
    }

    static let geminiStream = [
        #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Let me think.","thought":true}]},"index":0}],"usageMetadata":{"promptTokenCount":20},"modelVersion":"gemini-2.5-pro","responseId":"resp-1"}"#,
        #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Bonjour"}]},"index":0}],"modelVersion":"gemini-2.5-pro","responseId":"resp-1"}"#,
        #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnbmF0dXJl"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":8,"thoughtsTokenCount":2,"cachedContentTokenCount":5,"totalTokenCount":30},"modelVersion":"gemini-2.5-pro","responseId":"resp-1"}"#,
    ].map { "data: \($0)\r\n\r\n" }.joined()

    @Test("Gemini stream → Anthropic: thinking, text, a tool_use whose id carries the thought signature, tool_use stop reason, input counted at the start")
    func geminiStreamToAnthropic() {
        let result = Self.run(Self.geminiStream, from: .gemini, to: .anthropicMessages, streaming: true, piece: 13)
        let events = Self.events(result.body)
        #expect(
            events.map { $0.name ?? "" } == [
                "message_start", "content_block_start", "content_block_delta", "content_block_stop", "content_block_start", "content_block_delta",
                "content_block_stop", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop",
            ])
        #expect(events[0].data["message"]?["usage"]?["input_tokens"]?.int == 20)
        let id = events[7].data["content_block"]?["id"]?.string ?? ""
        #expect(GeminiFormat.signature(inCallID: id) == "c2lnbmF0dXJl")
        #expect(events[8].data["delta"]?["partial_json"]?.string == #"{"city":"Paris"}"#)
        #expect(events[10].data["delta"]?["stop_reason"]?.string == "tool_use")
        #expect(events[10].data["usage"]?["output_tokens"]?.int == 10)
        #expect(result.usage == TokenCounts(input: 20, output: 10, cachedInput: 5, reasoning: 2))
    }

    @Test("Gemini stream → OpenAI: reasoning_content, content, the call with index 0 and whole arguments, tool_calls finish, usage with reasoning")
    func geminiStreamToOpenAI() {
        let result = Self.run(Self.geminiStream, from: .gemini, to: .openAIChat, streaming: true)
        let chunks = Self.events(result.body).dropLast().map(\.data)
        let deltas = chunks.compactMap { $0["choices"]?.array?.first?["delta"] }
        #expect(deltas.compactMap { $0["reasoning_content"]?.string }.joined() == "Let me think.")
        #expect(deltas.compactMap { $0["content"]?.string }.joined() == "Bonjour")
        let calls = deltas.compactMap { $0["tool_calls"]?.array?.first }
        #expect(calls.first?["function"]?["name"]?.string == "get_weather")
        #expect(calls.compactMap { $0["function"]?["arguments"]?.string }.joined() == #"{"city":"Paris"}"#)
        #expect(chunks.compactMap { $0["choices"]?.array?.first?["finish_reason"]?.string } == ["tool_calls"])
        #expect(chunks.last?["usage"]?["completion_tokens_details"]?["reasoning_tokens"]?.int == 2)
        #expect(chunks.last?["usage"]?["completion_tokens"]?.int == 10)
        #expect(chunks.allSatisfy { $0["id"]?.string == "resp-1" })
    }

    @Test("Anthropic stream → Gemini: thought part, text parts, the call whole once its argument deltas are in, STOP with usage (thoughts apart)")
    func anthropicStreamToGemini() {
        let result = Self.run(Self.anthropicStream, from: .anthropicMessages, to: .gemini, streaming: true, piece: 3)
        let chunks = Self.events(result.body).map(\.data)
        let parts = chunks.compactMap { $0["candidates"]?.array?.first?["content"]?["parts"]?.array?.first }
        #expect(parts.first?["thought"]?.bool == true)
        #expect(parts.compactMap { $0["thought"] == nil ? $0["text"]?.string : nil }.joined() == "Hi there")
        let calls = parts.compactMap { $0["functionCall"] }
        #expect(calls.count == 1)
        TranslationRequestTests.expectSame(calls.first?.text ?? "", #"{"name":"get_weather","args":{"city":"Oslo"},"id":"toolu_1"}"#)
        #expect(chunks.last?["candidates"]?.array?.first?["finishReason"]?.string == "STOP")
        TranslationRequestTests.expectSame(
            chunks.last?["usageMetadata"]?.text ?? "", #"{"promptTokenCount":20,"candidatesTokenCount":10,"totalTokenCount":30,"cachedContentTokenCount":5}"#)
        #expect(chunks.allSatisfy { $0["responseId"]?.string == "msg_1" })
    }

    // MARK: whole answers

    @Test("Anthropic answer → OpenAI: content, reasoning_content, tool calls, finish reason, usage with cached tokens")
    func anthropicAnswerToOpenAI() {
        let upstream = #"""
            {"id":"msg_9","type":"message","role":"assistant","model":"claude-x","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Sure."},{"type":"tool_use","id":"toolu_9","name":"f","input":{"a":1}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":3,"cache_read_input_tokens":4,"cache_creation_input_tokens":2,"output_tokens":7}}
            """#
        let result = Self.run(upstream, from: .anthropicMessages, to: .openAIChat, streaming: false, contentType: "application/json")
        #expect(result.contentType == "application/json")
        TranslationRequestTests.expectSame(
            result.body,
            #"""
            {"id":"msg_9","object":"chat.completion","created":1700000000,"model":"claude-x",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Sure.","reasoning_content":"hm","tool_calls":[{"id":"toolu_9","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}],"refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],
             "usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":4}}}
            """#)
    }

    @Test("OpenAI answer → Anthropic and → Gemini; Gemini answer → OpenAI and → Responses API")
    func wholeAnswers() {
        let openAI = #"""
            {"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"gpt-4.1","choices":[{"index":0,"message":{"role":"assistant","content":"Done.","refusal":null},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}
            """#
        let anthropic = Self.run(openAI, from: .openAIChat, to: .anthropicMessages, streaming: false, contentType: "application/json")
        TranslationRequestTests.expectSame(
            anthropic.body,
            #"""
            {"id":"chatcmpl-2","type":"message","role":"assistant","model":"gpt-4.1","content":[{"type":"text","text":"Done."}],"stop_reason":"max_tokens","stop_sequence":null,
             "usage":{"input_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":6}}
            """#)
        let gemini = Self.run(openAI, from: .openAIChat, to: .gemini, streaming: false, contentType: "application/json")
        TranslationRequestTests.expectSame(
            gemini.body,
            #"""
            {"candidates":[{"content":{"role":"model","parts":[{"text":"Done."}]},"finishReason":"MAX_TOKENS","index":0}],
             "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":6,"totalTokenCount":11},"modelVersion":"gpt-4.1","responseId":"chatcmpl-2"}
            """#)
        let geminiAnswer = #"""
            {"candidates":[{"content":{"role":"model","parts":[{"text":"Salut"},{"functionCall":{"name":"f","args":{"x":"y"}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":3,"totalTokenCount":7},"modelVersion":"gemini-2.5-flash","responseId":"r9"}
            """#
        let openAIOut = TranslationRequestTests.json(Self.run(geminiAnswer, from: .gemini, to: .openAIChat, streaming: false, contentType: "application/json").body)
        let choice = openAIOut["choices"]?.array?.first
        #expect(choice?["finish_reason"]?.string == "tool_calls")
        #expect(choice?["message"]?["content"]?.string == "Salut")
        #expect(choice?["message"]?["tool_calls"]?.array?.first?["function"]?["arguments"]?.string == #"{"x":"y"}"#)
        let responses = TranslationRequestTests.json(Self.run(geminiAnswer, from: .gemini, to: .openAIResponses, streaming: false, contentType: "application/json").body)
        #expect(responses["object"]?.string == "response")
        #expect(responses["id"]?.string == "resp_r9")
        #expect(responses["output"]?.array?.map { $0["type"]?.string ?? "" } == ["message", "function_call"])
        #expect(responses["usage"]?["total_tokens"]?.int == 7)
    }

    @Test("a JSON-mode answer from Anthropic's forced tool reaches the client as text with a normal stop, streamed and not")
    func jsonToolAnswer() {
        var context = Self.context
        context.jsonToolName = AnthropicFormat.jsonToolName
        let whole =
            #"{"id":"msg_j","type":"message","role":"assistant","model":"c","content":[{"type":"tool_use","id":"t","name":"json_response","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}"#
        let out = TranslationRequestTests.json(Self.run(whole, from: .anthropicMessages, to: .openAIChat, streaming: false, contentType: "application/json", context: context).body)
        #expect(out["choices"]?.array?.first?["message"]?["content"]?.string == #"{"city":"Paris"}"#)
        #expect(out["choices"]?.array?.first?["finish_reason"]?.string == "stop")
        let stream = [
            ("message_start", #"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1,"output_tokens":1}}}"#),
            ("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"json_response","input":{}}}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#),
            ("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
            ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":2}}"#),
            ("message_stop", #"{"type":"message_stop"}"#),
        ].map { "event: \($0.0)\ndata: \($0.1)\n\n" }.joined()
        let streamed = Self.run(stream, from: .anthropicMessages, to: .gemini, streaming: true, context: context)
        let chunks = Self.events(streamed.body).map(\.data)
        let text = chunks.compactMap { $0["candidates"]?.array?.first?["content"]?["parts"]?.array?.first?["text"]?.string }.joined()
        #expect(text == #"{"city":"Paris"}"#)
        #expect(!streamed.body.contains("functionCall"))
    }

    @Test("errors reach the client in its own dialect with the upstream's status (529 as 503 outside Anthropic)")
    func errors() {
        let anthropicError = #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
        let toOpenAI = Self.run(anthropicError, from: .anthropicMessages, to: .openAIChat, streaming: true, status: 529, contentType: "application/json")
        #expect(toOpenAI.status == 503)
        #expect(toOpenAI.contentType == "application/json")
        #expect(TranslationRequestTests.json(toOpenAI.body)["error"]?["message"]?.string == "Overloaded")
        let openAIError = #"{"error":{"message":"Bad model","type":"invalid_request_error","param":null,"code":null}}"#
        let toAnthropic = Self.run(openAIError, from: .openAIChat, to: .anthropicMessages, streaming: false, status: 400, contentType: "application/json")
        #expect(toAnthropic.status == 400)
        TranslationRequestTests.expectSame(toAnthropic.body, #"{"type":"error","error":{"type":"invalid_request_error","message":"Bad model"}}"#)
        let toGemini = Self.run(openAIError, from: .openAIChat, to: .gemini, streaming: false, status: 429, contentType: "application/json")
        TranslationRequestTests.expectSame(toGemini.body, #"{"error":{"code":429,"message":"Bad model","status":"RESOURCE_EXHAUSTED"}}"#)
        // Not JSON at all: the text is the message.
        let plain = Self.run("upstream exploded", from: .gemini, to: .openAIChat, streaming: false, status: 500, contentType: "text/plain")
        #expect(TranslationRequestTests.json(plain.body)["error"]?["message"]?.string == "upstream exploded")
        // A stream that carries an error event.
        let inStream = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n"
        let streamed = Self.run(inStream, from: .anthropicMessages, to: .openAIChat, streaming: true)
        #expect(streamed.body.contains(#""message":"busy""#))
        #expect(streamed.body.hasSuffix("data: [DONE]\n\n"))
    }

    @Test("a stream request answered in one piece is replayed as a stream; a stream without its end event still ends for the client")
    func oddUpstreams() {
        let whole =
            #"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"one piece"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#
        let replayed = Self.run(whole, from: .openAIChat, to: .anthropicMessages, streaming: true, contentType: "application/json")
        #expect(replayed.contentType == "text/event-stream")
        #expect(Self.events(replayed.body).map { $0.name ?? "" }.last == "message_stop")
        let cut = Self.openAIStream.replacingOccurrences(of: "data: [DONE]\n\n", with: "")
        let ended = Self.run(cut, from: .openAIChat, to: .anthropicMessages, streaming: true)
        #expect(Self.events(ended.body).map { $0.name ?? "" }.last == "message_stop")
    }

    // MARK: properties

    /// Random but plausible event sequences: any mix of text, thinking, signatures and calls
    /// with argument fragments, then usage, finish and end.
    static func randomEvents(seed: UInt64) -> ([StreamEvent], [String]) {
        var generator = SplitMix64(seed: seed)
        var events: [StreamEvent] = [.start(id: "id\(seed)", model: "m")]
        var calls: [String] = []
        for _ in 0..<Int(generator.next() % 12) {
            switch generator.next() % 5 {
            case 0: events.append(.text("t\(generator.next() % 100) "))
            case 1: events.append(.thinking("r\(generator.next() % 100)"))
            case 2: events.append(.thinkingSignature("s\(generator.next() % 10)"))
            default:
                let value = generator.next() % 1000
                let arguments = #"{"n":\#(value),"s":"a\"b"}"#
                events.append(.toolCall(id: "call_\(calls.count)", name: "f"))
                var rest = Substring(arguments)
                while !rest.isEmpty {
                    let take = Int(generator.next() % 5) + 1
                    events.append(.toolArguments(String(rest.prefix(take))))
                    rest = rest.dropFirst(take)
                }
                calls.append(arguments)
            }
        }
        events.append(.usage(TokenCounts(input: 3, output: 4)))
        events.append(.finish(calls.isEmpty ? .stop : .toolCalls))
        events.append(.end)
        return (events, calls)
    }

    @Test(
        "Anthropic encoder, 300 random streams: exactly one message_start and one message_stop, every block opened is closed before the next opens, indexes count up, arguments join to the calls' JSON"
    )
    func anthropicOrdering() {
        for seed in UInt64(1)...300 {
            let (events, calls) = Self.randomEvents(seed: seed)
            var encoder = AnthropicStreamEncoder(context: Self.context)
            var out = ""
            for event in events { encoder.encode(event, into: &out) }
            let parsed = Self.events(out)
            #expect(parsed.filter { $0.name == "message_start" }.count == 1)
            #expect(parsed.filter { $0.name == "message_stop" }.count == 1)
            #expect(parsed.first?.name == "message_start")
            #expect(parsed.last?.name == "message_stop")
            var open: Int?
            var next = 0
            var arguments: [Int: String] = [:]
            var toolBlocks: [Int] = []
            for event in parsed {
                switch event.name {
                case "content_block_start":
                    #expect(open == nil, "seed \(seed): a block opened inside another")
                    let index = event.data["index"]?.int ?? -1
                    #expect(index == next)
                    next += 1
                    open = index
                    if event.data["content_block"]?["type"]?.string == "tool_use" { toolBlocks.append(index) }
                case "content_block_delta":
                    #expect(event.data["index"]?.int == open, "seed \(seed): a delta outside its block")
                    if let fragment = event.data["delta"]?["partial_json"]?.string, let index = open { arguments[index, default: ""] += fragment }
                case "content_block_stop":
                    #expect(event.data["index"]?.int == open)
                    open = nil
                default: break
                }
            }
            #expect(open == nil)
            #expect(toolBlocks.map { arguments[$0] ?? "" } == calls, "seed \(seed)")
            for text in calls { #expect((try? JSON.parse(text).get())?.object != nil) }
        }
    }

    @Test("OpenAI, Gemini and Responses encoders, 300 random streams: one start, one end, the calls' arguments rebuilt exactly, per index")
    func otherEncodersOrdering() {
        for seed in UInt64(1)...300 {
            let (events, calls) = Self.randomEvents(seed: seed)
            var openAI = OpenAIChatStreamEncoder(context: Self.context)
            var gemini = GeminiStreamEncoder(context: Self.context, asArray: false)
            var responses = ResponsesStreamEncoder(context: Self.context)
            var (a, g, r) = ("", "", "")
            for event in events {
                openAI.encode(event, into: &a)
                gemini.encode(event, into: &g)
                responses.encode(event, into: &r)
            }
            // OpenAI: arguments per tool-call index; one finish chunk; [DONE] once, last.
            #expect(a.components(separatedBy: "data: [DONE]").count == 2 && a.hasSuffix("data: [DONE]\n\n"))
            var byIndex: [Int: String] = [:]
            var finishes = 0
            for event in Self.events(a) where event.data != .null {
                let choice = event.data["choices"]?.array?.first
                if choice?["finish_reason"]?.string != nil { finishes += 1 }
                for call in choice?["delta"]?["tool_calls"]?.array ?? [] {
                    byIndex[call["index"]?.int ?? -1, default: ""] += call["function"]?["arguments"]?.string ?? ""
                }
            }
            #expect(finishes == 1)
            #expect((0..<calls.count).map { byIndex[$0] ?? "" } == calls, "seed \(seed)")
            // Gemini: each call whole, args equal to the call's JSON; exactly one finishReason.
            let chunks = Self.events(g).map(\.data)
            let geminiCalls = chunks.compactMap { $0["candidates"]?.array?.first?["content"]?["parts"]?.array?.first?["functionCall"]?["args"] }
            #expect(geminiCalls == calls.map { TranslationRequestTests.json($0) }, "seed \(seed)")
            #expect(chunks.filter { $0["candidates"]?.array?.first?["finishReason"] != nil }.count == 1)
            // Responses: created first, completed last, every item added is done, argument deltas join.
            let items = Self.events(r)
            #expect(items.first?.name == "response.created")
            #expect(items.last?.name == "response.completed")
            #expect(items.filter { $0.name == "response.output_item.added" }.count == items.filter { $0.name == "response.output_item.done" }.count)
            let done = items.filter { $0.name == "response.function_call_arguments.done" }.compactMap { $0.data["arguments"]?.string }
            #expect(done == calls, "seed \(seed)")
        }
    }

    @Test("the event splitter gives the same events however the bytes are cut, and refuses an endless event")
    func splitter() {
        let stream = Self.anthropicStream
        var whole = ServerSentEventSplitter()
        let expected = whole.feed(Array(stream.utf8))
        for size in [1, 2, 3, 5, 64] {
            var splitter = ServerSentEventSplitter()
            var got: [ServerSentEvent] = []
            let bytes = Array(stream.utf8)
            var index = 0
            while index < bytes.count {
                got += splitter.feed(bytes[index..<min(bytes.count, index + size)])
                index += size
            }
            #expect(got == expected)
        }
        var endless = ServerSentEventSplitter()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        for _ in 0..<9 { _ = endless.feed(chunk) }
        #expect(endless.overflowed)
    }
}
