import Dialects
import Foundation
import NIOCore
import NIOHTTP1
import ProxyConfig

/// What the mock answers: a response head and its body in pieces, with the pause rules of
/// ``MockConfig`` (the first `leading` pieces are protocol preamble, sent without a pause).
package struct MockAnswer: Sendable {
    package var status: HTTPResponseStatus
    package var headers: HTTPHeaders
    package var pieces: [String]
    package var leading: Int
    /// Whether the pieces are a stream (paced) rather than one body.
    package var streaming: Bool
    /// Closing pieces at the end, sent without a pause.
    package var tailCount = 0
}

/// The `mock` provider: answers every operation in the client's dialect from inside the
/// gateway, without any network. For demos and load tests; users choose it explicitly.
/// Answers are well-formed for each SDK (ids, usage, stream events) and state plainly that
/// they come from a mock. The answer is produced here; ``MockExchange`` delivers it the way a
/// connection would, so the mock is one more transport behind the same sink.
package struct MockProvider {
    let config: MockConfig
    let providerName: String

    package init(config: MockConfig, providerName: String) {
        self.config = config
        self.providerName = providerName
    }

    static let sentence = "This is a mock response from LLMProxy: no model was called. Configure a real provider to get real answers."

    /// The token counts the mock reports for a request body (the gateway records them the
    /// same way as a real upstream's).
    static func usage(body: ByteBuffer?) -> (prompt: Int, completion: Int) {
        (max(1, (body?.readableBytes ?? 0) / 4), sentence.split(separator: " ").count)
    }

    /// The answer to one request. `includeUsage` is the body's `stream_options.include_usage`.
    package func answer(operation: Dialects.Operation, model: String?, body: ByteBuffer?, streaming: Bool, includeUsage: Bool, query: String?) -> MockAnswer {
        let model = model ?? "mock-model"
        let (promptTokens, completionTokens) = Self.usage(body: body)
        let words = Self.sentence.split(separator: " ").map(String.init)
        let id = "mock-" + String((0..<24).map { _ in "0123456789abcdef".randomElement()! })
        let created = Int(Date().timeIntervalSince1970)

        switch operation.kind {
        case .chatCompletions where streaming, .completions where streaming:
            let isChat = operation.kind == .chatCompletions
            let object = isChat ? "chat.completion.chunk" : "text_completion"
            let events = chunks(words).enumerated().map { index, text -> String in
                let choice =
                    isChat
                    ? #"{"index":0,"delta":{\#(index == 0 ? #""role":"assistant","# : "")"content":\#(JSONText.quoted(text))},"logprobs":null,"finish_reason":null}"#
                    : #"{"index":0,"text":\#(JSONText.quoted(text)),"logprobs":null,"finish_reason":null}"#
                return #"{"id":"\#(id)","object":"\#(object)","created":\#(created),"model":\#(JSONText.quoted(model)),"choices":[\#(choice)]}"#
            }
            var tail = [
                #"{"id":"\#(id)","object":"\#(object)","created":\#(created),"model":\#(JSONText.quoted(model)),"choices":[{"index":0,\#(isChat ? #""delta":{}"# : #""text":"""#),"logprobs":null,"finish_reason":"stop"}]}"#
            ]
            if includeUsage {
                tail.append(
                    #"{"id":"\#(id)","object":"\#(object)","created":\#(created),"model":\#(JSONText.quoted(model)),"choices":[],"usage":\#(openAIUsage(promptTokens, completionTokens))}"#
                )
            }
            return sse(events.map { "data: \($0)\n\n" }, tail: tail.map { "data: \($0)\n\n" } + ["data: [DONE]\n\n"])

        case .chatCompletions:
            return json(
                #"{"id":"\#(id)","object":"chat.completion","created":\#(created),"model":\#(JSONText.quoted(model)),"choices":[{"index":0,"message":{"role":"assistant","content":\#(JSONText.quoted(Self.sentence)),"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":\#(openAIUsage(promptTokens, completionTokens)),"system_fingerprint":"llmproxy-mock"}"#
            )

        case .completions:
            return json(
                #"{"id":"\#(id)","object":"text_completion","created":\#(created),"model":\#(JSONText.quoted(model)),"choices":[{"index":0,"text":\#(JSONText.quoted(Self.sentence)),"logprobs":null,"finish_reason":"stop"}],"usage":\#(openAIUsage(promptTokens, completionTokens))}"#
            )

        case .embeddings:
            return json(
                #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":\#(vector(seed: promptTokens))}],"model":\#(JSONText.quoted(model)),"usage":{"prompt_tokens":\#(promptTokens),"total_tokens":\#(promptTokens)}}"#
            )

        case .messages where streaming:
            var events: [String] = [
                "event: message_start\ndata: "
                    + #"{"type":"message_start","message":{"id":"msg_\#(id)","type":"message","role":"assistant","model":\#(JSONText.quoted(model)),"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":\#(promptTokens),"output_tokens":1}}}"#
                    + "\n\n",
                "event: content_block_start\ndata: " + #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"# + "\n\n",
            ]
            events += chunks(words).map { text in
                "event: content_block_delta\ndata: " + #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":\#(JSONText.quoted(text))}}"# + "\n\n"
            }
            let tail = [
                "event: content_block_stop\ndata: " + #"{"type":"content_block_stop","index":0}"# + "\n\n",
                "event: message_delta\ndata: " + #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":\#(completionTokens)}}"#
                    + "\n\n",
                "event: message_stop\ndata: " + #"{"type":"message_stop"}"# + "\n\n",
            ]
            return sse(events, tail: tail, leading: 2)

        case .messages:
            return json(
                #"{"id":"msg_\#(id)","type":"message","role":"assistant","model":\#(JSONText.quoted(model)),"content":[{"type":"text","text":\#(JSONText.quoted(Self.sentence))}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":\#(promptTokens),"output_tokens":\#(completionTokens)}}"#
            )

        case .countTokens:
            return json(#"{"input_tokens":\#(promptTokens)}"#)

        case .generateContent, .streamGenerateContent:
            let version = "llmproxy-mock"
            func candidate(_ text: String, final: Bool) -> String {
                #"{"candidates":[{"content":{"parts":[{"text":\#(JSONText.quoted(text))}],"role":"model"},\#(final ? #""finishReason":"STOP","# : "")"index":0}],"usageMetadata":{"promptTokenCount":\#(promptTokens),"candidatesTokenCount":\#(final ? completionTokens : 0),"totalTokenCount":\#(promptTokens + (final ? completionTokens : 0))},"modelVersion":"\#(version)"}"#
            }
            if operation.kind == .generateContent {
                return json(candidate(Self.sentence, final: true))
            }
            let parts = chunks(words)
            let events = parts.enumerated().map { index, text in candidate(text, final: index == parts.count - 1) }
            if query?.split(separator: "&").contains("alt=sse") == true {
                return sse(events.dropLast().map { "data: \($0)\r\n\r\n" }, tail: ["data: \(events.last!)\r\n\r\n"])
            }
            // Without alt=sse Gemini streams one JSON array, element by element.
            var pieces = events.enumerated().map { index, event in (index == 0 ? "[" : ",\r\n") + event }
            let last = pieces.removeLast()
            return stream(pieces, tail: [last + "]"], contentType: "application/json", leading: 0)

        case .geminiCountTokens:
            return json(#"{"totalTokens":\#(promptTokens)}"#)

        case .embedContent:
            return json(#"{"embedding":{"values":\#(vector(seed: promptTokens))}}"#)

        default:
            let error = GatewayError(status: .notFound, code: .notFound, message: "The mock provider '\(providerName)' does not implement this operation")
            return MockAnswer(status: .notFound, headers: ["content-type": "application/json"], pieces: [error.body(in: operation.dialect)], leading: 1, streaming: false)
        }
    }

    /// The sentence split into `config.chunks` pieces (words regrouped).
    func chunks(_ words: [String]) -> [String] {
        let count = max(1, config.chunks)
        var result = Array(repeating: "", count: count)
        for (index, word) in words.enumerated() {
            let slot = index * count / words.count
            result[slot] += (result[slot].isEmpty && slot == 0 ? "" : " ") + word
        }
        return result
    }

    func openAIUsage(_ prompt: Int, _ completion: Int) -> String {
        #"{"prompt_tokens":\#(prompt),"completion_tokens":\#(completion),"total_tokens":\#(prompt + completion)}"#
    }

    /// A deterministic unit-length-ish vector, so clients can exercise their code paths.
    func vector(seed: Int) -> String {
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        let values = (0..<16).map { _ -> String in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            let v = Double(state % 2_000_001) / 1_000_000 - 1
            return String(format: v)
        }
        return "[" + values.joined(separator: ",") + "]"
    }

    func json(_ text: String) -> MockAnswer {
        MockAnswer(status: .ok, headers: ["content-type": "application/json"], pieces: [text], leading: 1, streaming: false)
    }

    func sse(_ events: [String], tail: [String], leading: Int = 0) -> MockAnswer {
        stream(events, tail: tail, contentType: "text/event-stream", leading: leading)
    }

    /// Streams `pieces` with the configured pause before each content piece; the first
    /// `leading` pieces (protocol preamble) and the `tail` go out without a pause.
    func stream(_ pieces: [String], tail: [String], contentType: String, leading: Int) -> MockAnswer {
        MockAnswer(
            status: .ok, headers: ["content-type": contentType, "cache-control": "no-cache"],
            pieces: pieces + tail, leading: leading, streaming: true, tailCount: tail.count)
    }
}

private extension String {
    init(format value: Double) {
        let scaled = (value * 1_000_000).rounded() / 1_000_000
        self = String(scaled)
    }
}
