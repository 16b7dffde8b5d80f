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

    @Test("stream_options is noticed, with include_usage and the other members")
    func streamOptions() {
        let fields = scan(#"{"stream_options":{"include_usage":false,"x":1}}"#)
        #expect(fields?.hasStreamOptions == true)
        #expect(fields?.includeUsage == false)
        #expect(fields?.streamOptionsMembers.count == 1)
        #expect(scan(#"{"stream_options":null}"#)?.hasStreamOptions == true)
        #expect(scan(#"{"stream_options":null}"#)?.includeUsage == nil)
    }

    @Test(
        "bodies that are not one JSON object are refused",
        arguments: [
            "", "[]", "\"model\"", "{", #"{"model":"unterminated}"#, #"{"model" "x"}"#, #"{"a":1}{"b":2}"#, #"{"a":[1,2}"#, "{model:1}",
            #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":1e}"#, #"{"a":+1}"#, #"{"a":NaN}"#, #"{"a":Infinity}"#, #"{"a":tru}"#,
            #"{"a":[1,]}"#, #"{"a":1,}"#, #"{"a":"\x"}"#, #"{"a":"\u12"}"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00x"}"#, #"{"a":'x'}"#,
            "{\"a\":\"tab\there\"}", "{\"a\":\"nul\u{0}\"}", "\u{FEFF}{}", "{\"a\":1}\u{0}",
        ])
    func malformed(text: String) {
        #expect(scan(text) == nil)
    }

    @Test("the fields the gateway decides on cannot be smuggled past it: duplicates, escaped keys and case variants are refused")
    func smuggling() {
        for text in [
            #"{"model":"gpt-4o-mini","mod\u0065l":"o3-pro"}"#,
            #"{"model":"gpt-4o-mini","model":"o3-pro"}"#,
            #"{"model":"gpt-4o-mini","Model":"o3-pro"}"#,
            #"{"MODEL":"o3-pro"}"#,
            #"{"stream":false,"\u0073tream":true}"#,
            #"{"\u017Ftream":true}"#, // ſ folds to s in Go's encoding/json
            #"{"Stream_Options":{"include_usage":false}}"#,
            #"{"stream_options":{"include_usage":true,"include_usage":false}}"#,
            #"{"stream_options":{"Include_Usage":false}}"#,
            #"{"messages":[],"messages":[]}"#,
        ] {
            if case .success = TopLevelFields.check(Array(text.utf8)) { Issue.record("accepted \(text)") }
        }
        // An escaped key alone is that field, as every parser reads it.
        #expect(scan(#"{"mod\u0065l":"o3-pro"}"#)?.model == "o3-pro")
    }

    @Test(
        "decided fields must have their type: model a string, stream and include_usage booleans",
        arguments: [
            #"{"model":5}"#, #"{"model":["a"]}"#, #"{"stream":"true"}"#, #"{"stream":1}"#, #"{"stream_options":true}"#,
            #"{"stream_options":{"include_usage":"yes"}}"#,
        ])
    func types(text: String) {
        #expect(scan(text) == nil)
    }

    @Test("null reads as absent")
    func nulls() {
        let fields = scan(#"{"model":null,"stream":null}"#)
        #expect(fields != nil && fields?.model == nil && fields?.stream == nil)
    }

    @Test("nesting is bounded; invalid UTF-8 is refused; valid UTF-8 passes")
    func limits() {
        let deep = "{\"a\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}"
        #expect(scan(deep) == nil)
        let fine = "{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"
        #expect(scan(fine) != nil)
        #expect(TopLevelFields.scan([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC0, 0xAF, 0x22, 0x7D]) == nil) // overlong
        #expect(TopLevelFields.scan([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D]) == nil) // surrogate
        #expect(TopLevelFields.scan([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]) == nil)
        #expect(scan(#"{"model":"é😀","a":"\u00e9\ud83d\ude00","n":-0.5e+10}"#)?.model == "é😀")
    }

    @Test("many top-level keys are checked in linear time")
    func manyKeys() {
        let body = "{" + (0..<50_000).map { "\"k\($0)\":0" }.joined(separator: ",") + ",\"model\":\"m\"}"
        #expect(scan(body)?.model == "m")
    }

    @Test("an empty object has no fields")
    func empty() {
        #expect(scan("{}") == TopLevelFields())
    }
}
