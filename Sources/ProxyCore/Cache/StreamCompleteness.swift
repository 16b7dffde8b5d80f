import Dialects
import NIOCore

/// Whether a captured event stream is a whole answer the cache may keep: it reached its
/// dialect's end (`data: [DONE]` for OpenAI, `message_stop` for Anthropic, a candidate's
/// `finishReason` for Gemini, which has no end event) and carried no error event. A provider
/// may answer 200 and then report an overload or a refusal inside the stream, or close it
/// cleanly half-way; replaying either for the time to live would turn one bad moment into
/// many. Read once, when the fill is about to store (bounded by `cache.max_entry_bytes`).
enum StreamCompleteness {
    static func isComplete(_ body: ByteBuffer) -> Bool {
        var splitter = ServerSentEventSplitter()
        var events = body.withUnsafeReadableBytes { splitter.feed($0) }
        if let last = splitter.finish() { events.append(last) }
        guard !splitter.overflowed else { return false }
        var ended = false
        for event in events {
            if event.name == "error" { return false }
            if event.data == "[DONE]" {
                ended = true
                continue
            }
            guard event.data.utf8.first == UInt8(ascii: "{"), case .success(let json) = JSON.parse(event.data) else { continue }
            if json["error"] != nil || json["type"]?.string == "error" { return false }
            if json["type"]?.string == "message_stop" { ended = true }
            if let candidates = json["candidates"]?.array, candidates.contains(where: { $0["finishReason"]?.string != nil }) { ended = true }
        }
        return ended
    }
}
