import NIOCore
import Testing

@testable import Dialects

@Suite("Asking OpenAI-compatible streams for usage")
struct StreamUsageTests {
    func inject(_ text: String) -> String? {
        let buffer = ByteBuffer(string: text)
        guard let fields = buffer.withUnsafeReadableBytes({ TopLevelFields.scan($0) }) else { return nil }
        return StreamUsage.requestingUsage(buffer, fields: fields).map { String(buffer: $0) }
    }

    @Test("usage is always asked for: added, or forced on with the client's other options kept; nothing changes when the client asked")
    func injection() {
        #expect(inject(#"{"model":"m","stream":true}"#) == #"{"stream_options":{"include_usage":true},"model":"m","stream":true}"#)
        #expect(inject(#"  { }"#) == #"  {"stream_options":{"include_usage":true} }"#)
        #expect(inject(#"{"model":"m","stream":true,"stream_options":{"include_usage":false}}"#) == #"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#)
        #expect(
            inject(#"{"model":"m","stream_options":{"x":[1,{"y":2}], "include_usage":false ,"z":null}}"#)
                == #"{"model":"m","stream_options":{"include_usage":true,"x":[1,{"y":2}],"z":null}}"#)
        #expect(inject(#"{"stream_options":null,"model":"m"}"#) == #"{"stream_options":{"include_usage":true},"model":"m"}"#)
        #expect(inject(#"{"model":"m","stream_options":{"include_usage":true}}"#) == nil)
        // The escaped-key trick reads as the same field, so it is forced on too.
        #expect(inject(#"{"model":"m","stream_options":{"include_us\u0061ge":false}}"#) == #"{"model":"m","stream_options":{"include_usage":true}}"#)
    }

    @Test("the usage-only chunk is removed; everything else passes at once, even split across buffers")
    func filtering() {
        var filter = UsageChunkFilter()
        let first = #"data: {"choices":[{"delta":{"content":"hi"}}]}"# + "\n\n"
        #expect(filter.filter(ByteBuffer(string: first)).map { String(buffer: $0) } == first)
        let usage = #"data: {"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"# + "\n\n"
        let done = "data: [DONE]\n\n"
        let all = usage + done
        let cut = all.index(all.startIndex, offsetBy: 30)
        #expect(filter.filter(ByteBuffer(string: String(all[..<cut]))) == nil)
        #expect(filter.filter(ByteBuffer(string: String(all[cut...]))).map { String(buffer: $0) } == done)
        #expect(filter.finish() == nil)
        // CRLF framing, and a chunk whose choices are not empty is kept even with usage in it.
        var crlf = UsageChunkFilter()
        let kept = #"data: {"choices":[{"delta":{}}],"usage":{"total_tokens":1}}"# + "\r\n\r\n"
        #expect(crlf.filter(ByteBuffer(string: kept + #"data: {"choices": [], "usage": {"total_tokens":1}}"# + "\r\n\r\n")).map { String(buffer: $0) } == kept)
    }

    @Test("an event that never ends is passed on as it comes instead of held: the filter's memory is bounded")
    func endlessEvent() {
        var filter = UsageChunkFilter()
        var passed = 0
        let piece = ByteBuffer(string: String(repeating: "x", count: 1000))
        for _ in 0..<200 { passed += filter.filter(piece)?.readableBytes ?? 0 }
        #expect(passed >= 200_000 - UsageChunkFilter.maxHeldEvent)
        // Its end passes too, and the usage-only chunk after it is still taken out.
        let usage = #"data: {"choices":[],"usage":{"total_tokens":1}}"# + "\n\n"
        let out = filter.filter(ByteBuffer(string: "\n\n" + usage + "data: [DONE]\n\n")).map { String(buffer: $0) } ?? ""
        #expect(out.hasSuffix("\n\ndata: [DONE]\n\n") && !out.contains("usage"))
        #expect(passed + out.utf8.count + (filter.finish()?.readableBytes ?? 0) == 200_000 + 2 + "data: [DONE]\n\n".utf8.count)
    }
}
