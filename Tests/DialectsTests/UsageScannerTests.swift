import NIOCore
import Testing

@testable import Dialects

@Suite("Usage read off responses")
struct UsageScannerTests {
    func scanned(_ parts: [String]) -> UsageScanner {
        var scanner = UsageScanner()
        for part in parts { scanner.scan(ByteBuffer(string: part)) }
        return scanner
    }

    @Test("each dialect's usage fields, whole bodies")
    func dialects() {
        let openai = scanned([#"{"id":"x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}"#])
        #expect(openai.promptTokens == 12 && openai.completionTokens == 30 && openai.totalTokens == 42)
        let anthropic = scanned([#"{"type":"message","usage":{"input_tokens": 7, "output_tokens": 9}}"#])
        #expect(anthropic.promptTokens == 7 && anthropic.completionTokens == 9 && anthropic.totalTokens == 16)
        let gemini = scanned([#"{"candidates":[],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4,"totalTokenCount":8}}"#])
        #expect(gemini.promptTokens == 3 && gemini.completionTokens == 4 && gemini.totalTokens == 8)
        #expect(scanned([#"{"text":"no usage here"}"#]).totalTokens == nil)
    }

    @Test("streams: the last value wins, and a field split across buffers is still read")
    func streams() {
        let anthropic = scanned([
            "event: message_start\ndata: {\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
            "event: message_delta\ndata: {\"usage\":{\"output_to", "kens\":15}}\n\n",
        ])
        #expect(anthropic.promptTokens == 25 && anthropic.completionTokens == 15)
        let split = scanned(["data: {\"usage\":{\"prompt_tokens\":1", "23,\"completion_tokens\":4}}\n\n"])
        #expect(split.promptTokens == 123 && split.completionTokens == 4)
        // Text that merely mentions a field name inside a string is not a count.
        let quoted = scanned([#"{"content":"the \"prompt_tokens\" field","usage":{"prompt_tokens":5}}"#])
        #expect(quoted.promptTokens == 5)
    }

    @Test("counts of any length, sign or form never overflow: at most 12 digits are read")
    func hostileNumbers() {
        let huge = scanned([#"{"usage":{"prompt_tokens":99999999999999999999999999,"completion_tokens":99999999999999999999,"total_tokens":-5}}"#])
        #expect(huge.promptTokens == 999_999_999_999 && huge.completionTokens == 999_999_999_999)
        #expect(huge.totalTokens == nil || huge.totalTokens! >= 0)
        let odd = scanned([#"{"usage":{"input_tokens":1e9,"output_tokens":"7","totalTokenCount":null}}"#])
        #expect(odd.promptTokens == 1 && odd.completionTokens == nil)
    }
}
