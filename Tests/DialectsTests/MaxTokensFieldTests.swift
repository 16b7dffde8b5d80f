import Dialects
import Testing

@Suite("The output allowance a body names")
struct MaxTokensFieldTests {
    func allowance(_ body: String) -> Int? {
        guard case .success(let fields) = TopLevelFields.check(Array(body.utf8)) else { return -1 }
        return fields.maxOutputTokens
    }

    @Test("max_tokens, max_completion_tokens and max_output_tokens are read (the largest wins); other values pass unread")
    func reads() {
        #expect(allowance(#"{"model":"m","max_tokens":256}"#) == 256)
        #expect(allowance(#"{"max_completion_tokens":1000,"max_tokens":10}"#) == 1000)
        #expect(allowance(#"{"max_output_tokens": 64 }"#) == 64)
        #expect(allowance(#"{"max_tokens":null}"#) == nil)
        #expect(allowance(#"{"max_tokens":"many"}"#) == nil)
        #expect(allowance(#"{"max_tokens":1.5}"#) == nil)
        #expect(allowance(#"{"max_tokens":12345678901}"#) == nil)
        #expect(allowance(#"{"messages":[{"max_tokens":5}]}"#) == nil)
    }

    @Test("the fields follow the scanner's rules: lowercase, once")
    func strict() {
        #expect(allowance(#"{"Max_Tokens":5}"#) == -1)
        #expect(allowance(#"{"max_tokens":5,"max_tokens":6}"#) == -1)
    }
}
