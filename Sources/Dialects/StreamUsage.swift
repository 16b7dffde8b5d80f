import NIOCore

/// Token counts for OpenAI-compatible streams, which report usage only when asked
/// (`stream_options.include_usage`). The gateway always asks — accounting (and the budgets
/// built on it) must not depend on what the client chose — reads the extra usage chunk, and
/// takes it out of the stream when the client did not ask, so the client sees exactly what
/// it asked for.
package enum StreamUsage {
    /// The body with `stream_options.include_usage` set to true (the client's other
    /// `stream_options` members kept), or nil when the client asked for usage itself.
    /// `fields` must come from scanning `body` (its ranges are offsets into it).
    package static func requestingUsage(_ body: ByteBuffer, fields: TopLevelFields) -> ByteBuffer? {
        if fields.includeUsage == true { return nil }
        var options = #"{"include_usage":true"#
        var result = ByteBuffer()
        result.reserveCapacity(body.readableBytes + 40)
        if let range = fields.streamOptionsRange {
            // Replace the client's object (or null) with one that asks for usage.
            for member in fields.streamOptionsMembers {
                options += "," + (body.getString(at: body.readerIndex + member.lowerBound, length: member.count) ?? "")
            }
            options += "}"
            if let head = body.getSlice(at: body.readerIndex, length: range.lowerBound) { result.writeImmutableBuffer(head) }
            result.writeString(options)
            if let tail = body.getSlice(at: body.readerIndex + range.upperBound, length: body.readableBytes - range.upperBound) { result.writeImmutableBuffer(tail) }
            return result
        }
        guard let open = body.readableBytesView.firstIndex(of: UInt8(ascii: "{")) else { return nil }
        let offset = open - body.readerIndex
        if let head = body.getSlice(at: body.readerIndex, length: offset + 1) { result.writeImmutableBuffer(head) }
        result.writeString(#""stream_options":"# + options + "}")
        let rest = body.getSlice(at: body.readerIndex + offset + 1, length: body.readableBytes - offset - 1) ?? ByteBuffer()
        // `{}` stays valid: no comma before a closing brace.
        let restStartsClosing =
            rest.readableBytesView.first { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\t") } == UInt8(ascii: "}")
        if !restStartsClosing { result.writeString(",") }
        result.writeImmutableBuffer(rest)
        return result
    }
}

/// Removes the usage-only chunk (`"choices":[]` with a `usage` object) from an OpenAI SSE
/// stream. Complete events pass on as soon as they arrive; only an event cut across two
/// buffers waits for its end.
package struct UsageChunkFilter: Sendable {
    private var pending: [UInt8] = []
    /// Where the search for the next event boundary resumes in `pending`: bytes before it
    /// were looked at already, so an event arriving in many small reads costs linear time.
    private var searched = 0
    /// Passing on an event too long to be a usage-only chunk: its rest goes through unchecked.
    private var passingLongEvent = false

    /// Bytes of one unfinished event held back at most. A usage-only chunk is a few hundred
    /// bytes; anything longer is passed on as it comes, so an upstream that never ends an
    /// event cannot grow this buffer.
    package static let maxHeldEvent = 64 * 1024

    package init() {}

    /// What may go to the client now (nil when nothing).
    package mutating func filter(_ buffer: ByteBuffer) -> ByteBuffer? {
        pending.append(contentsOf: buffer.readableBytesView)
        var output: [UInt8] = []
        var start = 0
        var index = searched
        while index + 1 < pending.count {
            var end: Int?
            if pending[index] == 0x0A, pending[index + 1] == 0x0A {
                end = index + 2
            } else if index + 3 < pending.count, pending[index] == 0x0D, pending[index + 1] == 0x0A, pending[index + 2] == 0x0D, pending[index + 3] == 0x0A {
                end = index + 4
            }
            if let end {
                let event = pending[start..<end]
                if passingLongEvent || !Self.isUsageOnly(event) { output.append(contentsOf: event) }
                passingLongEvent = false
                start = end
                index = end
            } else {
                index += 1
            }
        }
        pending.removeFirst(start)
        // A boundary is at most four bytes: the last three may start one.
        searched = max(0, pending.count - 3)
        if pending.count > Self.maxHeldEvent {
            output.append(contentsOf: pending)
            pending.removeAll()
            searched = 0
            passingLongEvent = true
        }
        return output.isEmpty ? nil : ByteBuffer(bytes: output)
    }

    /// Whatever is left when the stream ends (an unterminated last event).
    package mutating func finish() -> ByteBuffer? {
        defer {
            pending.removeAll()
            searched = 0
        }
        return pending.isEmpty ? nil : ByteBuffer(bytes: pending)
    }

    static let emptyChoices = [Array(#""choices":[]"#.utf8), Array(#""choices": []"#.utf8)]
    static let usageObject = [Array(#""usage":{"#.utf8), Array(#""usage": {"#.utf8)]

    static func isUsageOnly(_ event: ArraySlice<UInt8>) -> Bool {
        emptyChoices.contains { contains(event, $0) } && usageObject.contains { contains(event, $0) }
    }

    static func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count, let first = needle.first else { return false }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }
}
