import Foundation
import NIOCore
import Testing

@testable import Dialects

/// The scanners that read every response byte (usage counts, the usage-only chunk filter) and
/// the request rewrite that asks for usage never crash, and give the same answer however the
/// bytes are cut into buffers. Seeded; `LLMPROXY_FUZZ_ITERATIONS` sets the number of streams
/// (default 2000) and `LLMPROXY_FUZZ_SEED` another sequence.
@Suite("Stream scanner fuzzing")
struct StreamScannerFuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let iterations = environment["LLMPROXY_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 2000
    static let seed = environment["LLMPROXY_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x5EED_C0DE

    @Test("the usage-only chunk filter passes every other event byte for byte, at once, however the stream is cut")
    func chunkFilter() {
        var random = SplitMix64(seed: Self.seed)
        for iteration in 0..<Self.iterations {
            let stream = random.chance(1, in: 4) ? SSEStream.noise(&random) : SSEStream.generate(&random)
            let pieces = SSEStream.cut(stream.bytes, &random)
            let reference = Reference.filtered(stream.bytes)
            var filter = UsageChunkFilter()
            var output: [UInt8] = []
            var fed = 0
            for piece in pieces {
                if let out = filter.filter(ByteBuffer(bytes: piece)) { output += Array(out.readableBytesView) }
                fed += piece.count
                // Every complete event so far has gone out: nothing is held back but an unfinished one.
                let due = reference.passedEnds.filter { $0.end <= fed }.last?.passedCount ?? 0
                if output.count != due {
                    Issue.record("#\(iteration): after \(fed) of \(stream.bytes.count) bytes the filter gave \(output.count) bytes, expected \(due)")
                    break
                }
            }
            if let rest = filter.finish() { output += Array(rest.readableBytesView) }
            #expect(output == reference.passed + reference.unfinished, "#\(iteration): output differs from the stream less its usage-only events")
            if let expected = stream.withoutUsage {
                #expect(output == expected, "#\(iteration): \(String(decoding: output, as: UTF8.self).debugDescription)")
            }
        }
    }

    @Test("usage counts are the same however the stream is cut into buffers")
    func usageScanner() {
        var random = SplitMix64(seed: Self.seed ^ 0x1111)
        for iteration in 0..<Self.iterations {
            let stream = random.chance(1, in: 4) ? SSEStream.noise(&random) : SSEStream.generate(&random)
            var whole = UsageScanner()
            whole.scan(ByteBuffer(bytes: stream.bytes))
            var cut = UsageScanner()
            for piece in SSEStream.cut(stream.bytes, &random, atLeast: 1) { cut.scan(ByteBuffer(bytes: piece)) }
            #expect(
                !stream.isGenerated || cut.promptTokens == whole.promptTokens && cut.completionTokens == whole.completionTokens && cut.totalTokens == whole.totalTokens,
                "#\(iteration): whole \(String(describing: whole.totalTokens)), cut \(String(describing: cut.totalTokens))")
            if let usage = stream.lastUsage {
                #expect(whole.promptTokens == usage.prompt && whole.completionTokens == usage.completion, "#\(iteration)")
            }
            // Tiny and empty buffers, and arbitrary bytes: no crash, whatever is read.
            guard iteration % 8 == 0 else { continue }
            var tiny = UsageScanner()
            for piece in SSEStream.cut(stream.bytes, &random, atMost: 3) { tiny.scan(ByteBuffer(bytes: piece)) }
            tiny.scan(ByteBuffer())
            _ = tiny.totalTokens
        }
    }

    @Test("a usage field cut into buffers shorter than itself is still read")
    func usageAcrossTinyBuffers() {
        let text = #"data: {"choices":[],"usage":{"prompt_tokens":123456,"completion_tokens":7}}"# + "\n\n"
        var scanner = UsageScanner()
        for byte in text.utf8 { scanner.scan(ByteBuffer(bytes: [byte])) }
        #expect(scanner.promptTokens == 123_456 && scanner.completionTokens == 7)
    }

    @Test("asking for usage keeps every request valid and changes nothing the gateway decided on")
    func requestingUsage() {
        var random = SplitMix64(seed: Self.seed ^ 0x2222)
        var accepted = 0
        for iteration in 0..<Self.iterations {
            var body = Array(JSONBody.generate(&random).utf8)
            if random.chance(1, in: 3) { JSONBody.mutate(&body, &random) }
            guard let fields = TopLevelFields.scan(body) else { continue }
            accepted += 1
            var buffer = ByteBuffer(bytes: body)
            if random.chance(1, in: 2) {
                // Bodies do not always start at index 0 of their buffer.
                var shifted = ByteBuffer(bytes: [0x20, 0x20, 0x20])
                shifted.writeBytes(body)
                shifted.moveReaderIndex(forwardBy: 3)
                buffer = shifted
            }
            guard let rewritten = StreamUsage.requestingUsage(buffer, fields: fields) else {
                #expect(fields.includeUsage == true, "#\(iteration): nothing rewritten, yet the client did not ask for usage")
                continue
            }
            let bytes = Array(rewritten.readableBytesView)
            guard let after = TopLevelFields.scan(bytes) else {
                Issue.record(
                    "#\(iteration): the rewritten body is refused: \(String(decoding: bytes, as: UTF8.self).debugDescription) from \(String(decoding: body, as: UTF8.self).debugDescription)"
                )
                continue
            }
            #expect(after.includeUsage == true && after.model == fields.model && after.stream == fields.stream, "#\(iteration)")
        }
        #expect(accepted > Self.iterations / 10, "too few generated bodies were valid JSON (\(accepted))")
    }
}

/// The usage-only filter's contract, written plainly: events end at the first blank line
/// (`\n\n` or `\r\n\r\n`); those with `"choices":[]` and a `"usage":{` object are dropped.
enum Reference {
    /// The bytes passed on, the unfinished tail, and after each event where it ends in the
    /// stream and how many bytes have been passed on by then.
    static func filtered(_ bytes: [UInt8]) -> (passed: [UInt8], unfinished: [UInt8], passedEnds: [(end: Int, passedCount: Int)]) {
        var passed: [UInt8] = []
        var ends: [(end: Int, passedCount: Int)] = []
        var start = 0
        while let end = firstBlankLineEnd(bytes, from: start) {
            let event = Array(bytes[start..<end])
            if !(containsAny(event, [#""choices":[]"#, #""choices": []"#]) && containsAny(event, [#""usage":{"#, #""usage": {"#])) {
                passed += event
            }
            ends.append((end, passed.count))
            start = end
        }
        return (passed, Array(bytes[start...]), ends)
    }

    static func firstBlankLineEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == 0x0A, bytes[index + 1] == 0x0A { return index + 2 }
            if index + 3 < bytes.count, bytes[index] == 0x0D, bytes[index + 1] == 0x0A, bytes[index + 2] == 0x0D, bytes[index + 3] == 0x0A { return index + 4 }
            index += 1
        }
        return nil
    }

    static func containsAny(_ event: [UInt8], _ needles: [String]) -> Bool {
        let text = String(decoding: event, as: UTF8.self)
        return needles.contains { text.utf8.firstRange(of: $0.utf8) != nil }
    }
}

/// Server-sent event streams as the three dialects write them, and noise.
struct SSEStream {
    var bytes: [UInt8]
    /// The stream with its usage-only events removed, when the generator knows it.
    var withoutUsage: [UInt8]?
    var lastUsage: (prompt: Int, completion: Int)?
    /// Whether the stream is well formed, so a usage field is never longer than 40 bytes.
    var isGenerated: Bool { withoutUsage != nil }

    static let texts = ["hi", "", "é🦙", #"\"choices\":[]"#, #"\"usage\":{\"prompt_tokens\":9}"#, "data: x", "\\n\\n", "prompt_tokens", "\\u0000", "日本"]

    static func generate(_ random: inout SplitMix64) -> SSEStream {
        var bytes: [UInt8] = []
        var kept: [UInt8] = []
        var lastUsage: (prompt: Int, completion: Int)?
        let separator = random.chance(1, in: 3) ? "\r\n" : "\n"
        for _ in 0..<random.below(12) {
            var lines: [String] = []
            var usageOnly = false
            let space = random.chance(1, in: 2) ? " " : ""
            switch random.below(7) {
            case 0:
                let prompt = random.below(1_000_000), completion = random.below(1_000_000)
                lines = [
                    #"data: {"id":"c","choices":\#(space)[],"usage":\#(space){"prompt_tokens":\#(space)\#(prompt),"completion_tokens":\#(completion),"total_tokens":\#(prompt + completion)}}"#
                ]
                usageOnly = true
                lastUsage = (prompt, completion)
            case 1:
                let prompt = random.below(100_000), completion = random.below(100_000)
                lines = ["event: message_delta", #"data: {"type":"message_start","message":{"usage":{"input_tokens":\#(space)\#(prompt),"output_tokens":\#(completion)}}}"#]
                lastUsage = (prompt, completion)
            case 2:
                let prompt = random.below(100_000), completion = random.below(100_000)
                lines = [
                    #"data: {"candidates":[{"content":{"parts":[{"text":"\#(random.pick(texts))"}]}}],"usageMetadata":{"promptTokenCount":\#(prompt),"candidatesTokenCount":\#(completion),"totalTokenCount":\#(prompt + completion)}}"#
                ]
                lastUsage = (prompt, completion)
            case 3: lines = ["data: [DONE]"]
            case 4: lines = [": ping", "event: x", "id: 7"]
            default:
                lines = [
                    #"data: {"id":"c","choices":[{"index":0,"delta":{"content":"\#(random.pick(texts))"}}]\#(random.chance(1, in: 4) ? #","usage":{"total_tokens":1}"# : "")}"#
                ]
            }
            let event = Array((lines.joined(separator: separator) + separator + separator).utf8)
            bytes += event
            if !usageOnly { kept += event }
        }
        if random.chance(1, in: 4) {
            // An unterminated last event goes out at the end of the stream.
            let tail = Array(#"data: {"choices":[{"delta":{}}]}"#.utf8)
            bytes += tail
            kept += tail
        }
        return SSEStream(bytes: bytes, withoutUsage: kept, lastUsage: lastUsage)
    }

    /// Bytes from an alphabet rich in what the scanners look for.
    static func noise(_ random: inout SplitMix64) -> SSEStream {
        let pieces = [
            "\n", "\r", "\n\n", "\r\n\r\n", "\"", ":", " ", "{", "}", "[]", #""choices":[]"#, #""usage":{"#, #""usage": {"#,
            #""prompt_tokens""#, #""output_tokens":"#, "123456789012345678901234567890", "data: ", "\u{0}", "\u{FF}",
        ]
        var bytes: [UInt8] = []
        for _ in 0..<random.below(200) {
            if random.chance(1, in: 5) { bytes.append(UInt8(truncatingIfNeeded: random.next())) } else { bytes += Array(random.pick(pieces).utf8) }
        }
        return SSEStream(bytes: bytes, withoutUsage: nil, lastUsage: nil)
    }

    /// `bytes` cut at random points into pieces of `atLeast...atMost` bytes (the last may be
    /// shorter); with `atLeast` 0, sometimes empty pieces between.
    static func cut(_ bytes: [UInt8], _ random: inout SplitMix64, atLeast: Int = 0, atMost: Int = 200) -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        var start = 0
        while start < bytes.count {
            if atLeast == 0, random.chance(1, in: 20) { pieces.append([]) }
            let length = max(1, min(bytes.count - start, atLeast + random.below(atMost - atLeast + 1)))
            pieces.append(Array(bytes[start..<(start + length)]))
            start += length
        }
        return pieces
    }
}

/// Request bodies around the fields the gateway rewrites.
enum JSONBody {
    static let keys = ["model", "stream", "stream_options", "messages", "Model", "STREAM", "mod\\u0065l", "stream_Options", "x", ""]
    static let optionKeys = ["include_usage", "include_us\\u0061ge", "Include_Usage", "x", "include_usage"]

    static func generate(_ random: inout SplitMix64) -> String {
        var members: [String] = []
        for _ in 0..<random.below(5) {
            let key = random.pick(keys)
            let value: String
            switch key {
            case "stream_options", "stream_Options":
                if random.chance(1, in: 5) {
                    value = "null"
                    break
                }
                let options = (0..<random.below(4)).map { _ in #""\#(random.pick(optionKeys))":\#(JSONBody.value(&random, depth: 1))"# }
                value = "{" + options.joined(separator: random.chance(1, in: 2) ? "," : " , ") + "}"
            case "stream": value = random.pick(["true", "false", "null", "1"])
            default: value = Self.value(&random, depth: 0)
            }
            members.append(#""\#(key)"\#(random.chance(1, in: 3) ? " : " : ":")\#(value)"#)
        }
        let spaces = ["", " ", "\n", "\t", "\r\n"]
        return random.pick(spaces) + "{" + random.pick(spaces) + members.joined(separator: "," + random.pick(spaces)) + random.pick(spaces) + "}" + random.pick(spaces)
    }

    static func value(_ random: inout SplitMix64, depth: Int) -> String {
        switch depth > 3 ? random.below(5) : random.below(8) {
        case 0: return random.pick(["\"m\"", #""gpt-4o""#, #""\u00e9\ud83e\udd99""#, #""\ud800""#, "\"\u{1}\"", #""a\"b""#, "\"\""])
        case 1: return random.pick(["0", "-0", "1e400", "-1.5e-7", "01", "1.", "9999999999999999999999", "-"])
        case 2: return random.pick(["true", "false", "null", "nul", "tru"])
        case 3: return "\"" + String(repeating: "x", count: random.below(50)) + "\""
        case 4: return "[]"
        case 5: return "[" + (0..<random.below(3)).map { _ in value(&random, depth: depth + 1) }.joined(separator: ",") + "]"
        case 6: return "{" + (0..<random.below(3)).map { i in #""k\#(i)":\#(value(&random, depth: depth + 1))"# }.joined(separator: ",") + "}"
        default: return String(repeating: "[", count: 130) + String(repeating: "]", count: 130)
        }
    }

    static func mutate(_ body: inout [UInt8], _ random: inout SplitMix64) {
        guard !body.isEmpty else { return }
        let at = random.below(body.count)
        switch random.below(4) {
        case 0: body[at] ^= UInt8(truncatingIfNeeded: 1 << random.below(8))
        case 1: body.remove(at: at)
        case 2: body.insert(contentsOf: Array(random.pick([",", "}", "{", "\"", "\\", "\u{0}", "\u{FF}", "]"]).utf8), at: at)
        default: body.insert(contentsOf: body[at..<min(body.count, at + random.below(10) + 1)], at: at)
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast generator whose whole state is one
/// seed, so a failing case is reproduced by its seed and iteration.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func chance(_ count: Int, in total: Int) -> Bool { below(total) < count }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}
