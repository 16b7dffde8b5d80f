import Testing
@testable import Dialects

@Suite("Scanning top-level JSON fields")
struct TopLevelFieldsTests {
    func scan(_ text: String) -> TopLevelFields? { TopLevelFields.scan(Array(text.utf8)) }

    @Test("model and stream are found among other fields, nested values skipped")
    func basic() {
        let text = #"{"messages":[{"role":"user","content":"{\"model\":\"fake\"}"}],"model":"gpt-4o","temperature":0.2,"stream":true,"n":null}"#
        let fields = scan(text)
        #expect(fields?.model == "gpt-4o")
        #expect(fields?.stream == true)
        let range = fields!.modelRange!
        #expect(String(decoding: Array(text.utf8)[range], as: UTF8.self) == #""gpt-4o""#)
    }

    @Test("a model nested deeper than the top level is ignored")
    func nestedModelIgnored() {
        #expect(scan(#"{"metadata":{"model":"inner"},"stream":false}"#)?.model == nil)
        #expect(scan(#"{"metadata":{"model":"inner"},"stream":false}"#)?.stream == false)
    }

    @Test("escapes in the model name are decoded")
    func escapes() {
        #expect(scan(#"{"model":"a\"b\\c\u00e9\ud83d\ude00"}"#)?.model == "a\"b\\cé😀")
    }

    @Test("whitespace anywhere is accepted")
    func whitespace() {
        let fields = scan(" \n{ \"model\" :\t\"m\" , \"stream\" : false }\n")
        #expect(fields?.model == "m")
        #expect(fields?.stream == false)
    }

    @Test("stream_options is noticed")
    func streamOptions() {
        #expect(scan(#"{"stream_options":{"include_usage":true}}"#)?.hasStreamOptions == true)
    }

    @Test("bodies that are not one JSON object are refused", arguments: [
        "", "[]", "\"model\"", "{", #"{"model":"unterminated}"#, #"{"model" "x"}"#, #"{"a":1}{"b":2}"#, #"{"a":[1,2}"#, "{model:1}",
    ])
    func malformed(text: String) {
        #expect(scan(text) == nil)
    }

    @Test("an empty object has no fields")
    func empty() {
        #expect(scan("{}") == TopLevelFields())
    }
}
