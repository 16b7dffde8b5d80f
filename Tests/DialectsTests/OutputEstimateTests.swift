import Dialects
import NIOCore
import Testing

@Suite("Output estimate of streams")
struct OutputEstimateTests {
    static func estimate(_ pieces: [String]) -> OutputEstimate {
        var estimate = OutputEstimate()
        for piece in pieces { estimate.scan(ByteBuffer(string: piece)) }
        return estimate
    }

    @Test("only the generated text of each dialect's events counts, not ids, framing or metadata")
    func countsText() {
        let openai =
            #"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello there"},"finish_reason":null}]}"#
        #expect(Self.estimate([openai + "\n\n"]).textBytes == 11)
        let tool = #"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"get_weather","arguments":"{\"city\":"}}]}}]}"#
        // The escaped quote is one byte of text; the backslash is not.
        #expect(Self.estimate([tool]).textBytes == 8)
        let anthropic = """
            event: content_block_start
            data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi!"}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"hmm"}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\": 1}"}}

            """
        #expect(Self.estimate([anthropic]).textBytes == 3 + 3 + 8)
        let gemini = #"data: {"candidates":[{"content":{"parts":[{"text":"Bonjour"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":4},"modelVersion":"gemini-2.5"}"#
        #expect(Self.estimate([gemini]).textBytes == 7)
        // A key named like a text key but holding an object, and values equal to key names.
        #expect(Self.estimate([#"{"content":[{"type":"text"}],"role":"content","text":null}"#]).textBytes == 0)
    }

    @Test("a value split anywhere across buffers is counted whole, the same as in one piece")
    func splitAnywhere() {
        let event = #"data: {"choices":[{"delta":{"content":"a \"quoted\" word\\n and more"}}]}"# + "\n\n"
        let whole = Self.estimate([event]).textBytes
        #expect(whole == 26)
        let bytes = Array(event.utf8)
        for cut in 1..<bytes.count {
            var estimate = OutputEstimate()
            estimate.scan(ByteBuffer(bytes: bytes[..<cut]))
            estimate.scan(ByteBuffer(bytes: bytes[cut...]))
            #expect(estimate.textBytes == whole, "cut at \(cut)")
        }
        #expect(Self.estimate(Array(repeating: event, count: 100)).tokens == 100 * 26 / 4)
    }
}
