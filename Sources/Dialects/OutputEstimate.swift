import NIOCore

/// A running estimate of the tokens a streamed answer has generated so far, for cutting off a
/// stream that would cross its budget before the provider reports usage (OpenAI and Anthropic
/// report output tokens only at the end).
///
/// Counts the bytes of the JSON string values that carry generated text in the three dialects'
/// stream events — OpenAI `content`, `reasoning_content`, `refusal` and tool-call `arguments`;
/// Anthropic `text`, `thinking` and `partial_json`; Gemini `text` — and reads four bytes as a
/// token (the same rule as prompt estimates). Framing, ids and metadata are not counted, so a
/// stream of one-token chunks is not mistaken for one of a hundred tokens each. A byte state
/// machine over the buffers as they pass: a value split across buffers is counted whole, and
/// nothing is held back or copied.
package struct OutputEstimate: Sendable {
    /// Bytes of generated text seen.
    package private(set) var textBytes: Int64 = 0

    package init() {}

    package var tokens: Int64 { textBytes / 4 }

    private enum State: Sendable {
        /// Between tokens.
        case outside
        /// Inside a string that may be a key; `matched` tracks which counted key it still could be.
        case key(Candidates)
        /// After a key string, waiting for its colon.
        case afterKey(counted: Bool)
        /// After a colon, waiting for the value.
        case beforeValue(counted: Bool)
        /// Inside a string value (counted when it belongs to a text key).
        case value(counted: Bool)
    }

    /// Which counted key names the bytes so far can still be: a bit per name and the length.
    private struct Candidates: Sendable {
        var mask: UInt16
        var length: Int
    }

    private static let keys: [[UInt8]] = [
        "content", "reasoning_content", "refusal", "arguments", "text", "thinking", "partial_json",
    ].map { Array($0.utf8) }
    private static let all = UInt16((1 << keys.count) - 1)

    private var state = State.outside
    /// The previous byte was a backslash inside a string.
    private var escaped = false

    package mutating func scan(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes { step(byte) }
        }
    }

    private mutating func step(_ byte: UInt8) {
        let quote = UInt8(ascii: "\"")
        switch state {
        case .outside:
            if byte == quote { state = .key(Candidates(mask: Self.all, length: 0)) }
        case .key(var candidates):
            if escaped {
                escaped = false
                candidates.mask = 0
                state = .key(candidates)
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
                candidates.mask = 0
                state = .key(candidates)
            } else if byte == quote {
                let complete = Self.keys.indices.contains { candidates.mask & (1 << $0) != 0 && Self.keys[$0].count == candidates.length }
                state = .afterKey(counted: complete)
            } else {
                var mask: UInt16 = 0
                if candidates.mask != 0 {
                    for (index, name) in Self.keys.enumerated()
                    where candidates.mask & (1 << index) != 0 && candidates.length < name.count && name[candidates.length] == byte {
                        mask |= 1 << index
                    }
                }
                state = .key(Candidates(mask: mask, length: candidates.length &+ 1))
            }
        case .afterKey(let counted):
            if byte == UInt8(ascii: ":") {
                state = .beforeValue(counted: counted)
            } else if byte == quote {
                // A string that was a value, then the next key begins.
                state = .key(Candidates(mask: Self.all, length: 0))
            } else if !Self.isSpace(byte) {
                state = .outside
            }
        case .beforeValue(let counted):
            if byte == quote {
                state = .value(counted: counted)
            } else if !Self.isSpace(byte) {
                state = .outside
            }
        case .value(let counted):
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
                return
            } else if byte == quote {
                state = .outside
                return
            }
            if counted { textBytes &+= 1 }
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
    }
}
