import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Token counts read off a response as it passes, without holding any byte back: a scan of
/// each buffer for the usage fields of the three dialects (OpenAI `prompt_tokens`…, Anthropic
/// `input_tokens`/`output_tokens`, Gemini `promptTokenCount`…). The last value seen wins, which
/// is what streams need: OpenAI's final usage chunk, Anthropic's `message_start` (input) and
/// last `message_delta` (output), Gemini's last `usageMetadata`.
package struct UsageScanner: Sendable {
    package private(set) var promptTokens: Int?
    package private(set) var completionTokens: Int?
    /// Cache reads (OpenAI `cached_tokens`, Anthropic `cache_read_input_tokens`, Gemini
    /// `cachedContentTokenCount`).
    package private(set) var cachedTokens: Int?
    /// Anthropic's cache writes (`cache_creation_input_tokens`).
    package private(set) var cacheCreationTokens: Int?
    /// OpenAI `reasoning_tokens`, Gemini `thoughtsTokenCount`.
    package private(set) var reasoningTokens: Int?
    private var reportedTotal: Int?
    /// The end of the previous buffer, so a field split across two buffers is still seen.
    private var carry: [UInt8] = []

    package init() {}

    /// How a dialect counts, for ``normalised(_:)``.
    package enum Counting: Sendable {
        /// Input includes cache reads, output includes reasoning (OpenAI, the Responses API).
        case inclusive
        /// `input_tokens` leaves cache reads and writes out (Anthropic).
        case cacheApart
        /// `candidatesTokenCount` leaves thinking out (Gemini).
        case thoughtsApart
    }

    /// The counts in the gateway's normalised sense (input with cached, output with reasoning).
    package func normalised(_ counting: Counting) -> TokenCounts {
        var counts = TokenCounts(
            input: promptTokens, output: completionTokens, cachedInput: cachedTokens, cacheCreation: cacheCreationTokens, reasoning: reasoningTokens)
        switch counting {
        case .inclusive: break
        case .cacheApart: counts.input = promptTokens.map { $0 + (cachedTokens ?? 0) + (cacheCreationTokens ?? 0) }
        case .thoughtsApart:
            if let output = completionTokens { counts.output = output + (reasoningTokens ?? 0) }
        }
        return counts
    }

    package var totalTokens: Int? {
        reportedTotal ?? (promptTokens == nil && completionTokens == nil ? nil : (promptTokens ?? 0) + (completionTokens ?? 0))
    }

    private enum Field { case prompt, completion, total, cached, cacheCreation, reasoning }

    private static let names: [([UInt8], Field)] = [
        (Array("prompt_tokens".utf8), .prompt), (Array("completion_tokens".utf8), .completion), (Array("total_tokens".utf8), .total),
        (Array("input_tokens".utf8), .prompt), (Array("output_tokens".utf8), .completion),
        (Array("promptTokenCount".utf8), .prompt), (Array("candidatesTokenCount".utf8), .completion), (Array("totalTokenCount".utf8), .total),
        (Array("cached_tokens".utf8), .cached), (Array("cache_read_input_tokens".utf8), .cached), (Array("cachedContentTokenCount".utf8), .cached),
        (Array("cache_creation_input_tokens".utf8), .cacheCreation), (Array("reasoning_tokens".utf8), .reasoning),
        (Array("thoughtsTokenCount".utf8), .reasoning),
    ]
    /// Whether a byte begins one of `names`.
    private static let firstBytes: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for (name, _) in names { table[Int(name[0])] = true }
        return table
    }()
    private static let window = 40

    package mutating func scan(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            if !carry.isEmpty {
                // The seam: the previous buffer's tail with this one's head.
                var seam = carry
                seam.append(contentsOf: bytes.prefix(Self.window))
                seam.withUnsafeBytes { scan($0) }
            }
            scan(bytes)
            // The window keeps the last bytes seen, across buffers smaller than it too.
            carry.append(contentsOf: bytes.suffix(Self.window))
            if carry.count > Self.window { carry.removeFirst(carry.count - Self.window) }
        }
    }

    private mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let names = Self.names
        var index = 0
        let count = bytes.count
        while index < count {
            // memchr to the next quote (most bytes are text), then a table of the names'
            // first bytes before comparing any: 16 instructions per byte became ~2.
            guard let quote = memchr(base + index, Int32(UInt8(ascii: "\"")), count - index) else { return }
            index = base.distance(to: UnsafeRawPointer(quote))
            let start = index + 1
            guard start < count, Self.firstBytes[Int(bytes[start])] else {
                index += 1
                continue
            }
            var matched: (length: Int, field: Field)?
            for (name, field) in names where start + name.count < count && bytes[start + name.count] == UInt8(ascii: "\"") {
                var equal = true
                for offset in 0..<name.count where bytes[start + offset] != name[offset] {
                    equal = false
                    break
                }
                if equal {
                    matched = (name.count, field)
                    break
                }
            }
            guard let (length, field) = matched else {
                index += 1
                continue
            }
            var cursor = start + length + 1
            while cursor < count, bytes[cursor] == UInt8(ascii: " ") { cursor += 1 }
            guard cursor < count, bytes[cursor] == UInt8(ascii: ":") else {
                index = cursor
                continue
            }
            cursor += 1
            while cursor < count, bytes[cursor] == UInt8(ascii: " ") { cursor += 1 }
            var value = 0
            var digits = 0
            while cursor < count, bytes[cursor] >= UInt8(ascii: "0"), bytes[cursor] <= UInt8(ascii: "9"), digits < 12 {
                value = value * 10 + Int(bytes[cursor] - UInt8(ascii: "0"))
                cursor += 1
                digits += 1
            }
            // A number cut off by the end of the buffer is read again from the seam.
            if digits > 0, cursor < count {
                switch field {
                case .prompt: promptTokens = value
                case .completion: completionTokens = value
                case .total: reportedTotal = value
                case .cached: cachedTokens = value
                case .cacheCreation: cacheCreationTokens = value
                case .reasoning: reasoningTokens = value
                }
            }
            index = cursor
        }
    }
}
