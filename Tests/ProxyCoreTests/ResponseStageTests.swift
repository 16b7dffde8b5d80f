import Dialects
import NIOCore
import NIOHTTP1
import Testing

@testable import ProxyCore

@Suite("Response stages: synchronous, per attempt, in order")
struct ResponseStageTests {
    static let usageChunk = #"data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"# + "\n\n"
    static let contentChunk = #"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}"# + "\n\n"

    func run(_ stages: ResponseStages, status: Int = 200, headers: HTTPHeaders = [:], _ pieces: [String]) -> (String, RequestRecord) {
        var status = status
        var headers = headers
        stages.head(status: &status, headers: &headers)
        var out = ""
        for piece in pieces {
            if let passed = stages.body(ByteBuffer(string: piece)) { out += String(buffer: passed) }
        }
        for rest in stages.end() { out += String(buffer: rest) }
        var record = RequestRecord(id: "r", method: "POST", path: "/v1/chat/completions", start: .now)
        stages.finish(into: &record)
        return (out, record)
    }

    @Test("the usage tap counts the chunk the removal stage then takes out of the client's stream")
    func tapThenRemove() {
        let (out, record) = run(
            ResponseStages([UsageTap(), UsageChunkRemoval()]),
            [Self.contentChunk, Self.usageChunk, "data: [DONE]\n\n"])
        #expect(out == Self.contentChunk + "data: [DONE]\n\n")
        #expect(record.promptTokens == 7)
        #expect(record.totalTokens == 10)
    }

    @Test("a response the removal stage cannot safely change passes untouched: errors and bodies with a length")
    func untouched() {
        let pieces = [Self.contentChunk, Self.usageChunk]
        #expect(run(ResponseStages([UsageChunkRemoval()]), status: 500, pieces).0 == pieces.joined())
        #expect(run(ResponseStages([UsageChunkRemoval()]), headers: ["content-length": "10"], pieces).0 == pieces.joined())
    }

    @Test("a stage's leftover at the end passes through the later stages")
    func leftovers() {
        let (out, record) = run(ResponseStages([UsageChunkRemoval(), UsageTap()]), [Self.contentChunk, String(Self.usageChunk.dropLast(2))])
        // An unterminated event is not a chunk the filter may drop: it comes out at the end, and the tap sees it.
        #expect(out.hasPrefix(Self.contentChunk))
        #expect(out.contains("usage"))
        #expect(record.totalTokens == 10)
    }
}
