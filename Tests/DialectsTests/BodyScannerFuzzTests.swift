import Foundation
import Testing

@testable import Dialects

/// Differential fuzzing of the request-body scanner against a real JSON parser (Foundation's
/// `JSONSerialization`): whenever the gateway accepts a body, the parser must accept it too and
/// read the same `model`, `stream` and `stream_options.include_usage`, and no key the parser
/// sees may be a case variant of a field the gateway decides on. Fixed seed in the suite;
/// `LLMPROXY_FUZZ_ITERATIONS` runs it longer.
@Suite("Body scanner fuzz")
struct BodyScannerFuzzTests {
    static var iterations: Int {
        ProcessInfo.processInfo.environment["LLMPROXY_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 4000
    }

    @Test("the scanner and JSONSerialization agree on every body the scanner accepts", arguments: [UInt64(0x5EED), 0xC0FFEE])
    func differential(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var accepted = 0
        var disagreements: [String] = []
        for _ in 0..<Self.iterations {
            var body = Array(JSONGenerator.object(&random, depth: 0, topLevel: true).utf8)
            if random.next() % 3 == 0 { JSONGenerator.mutate(&body, &random) }
            if let problem = Self.disagreement(body) {
                disagreements.append(problem)
                if disagreements.count > 5 { break }
            }
            if TopLevelFields.scan(body) != nil { accepted += 1 }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        // The generator must reach the accepting side often, or the test proves little.
        #expect(accepted > Self.iterations / 10)
    }

    @Test(
        "the confirmed smuggling bodies are refused",
        arguments: [
            #"{"model":"gpt-4o-mini","mod\u0065l":"o3-pro"}"#, #"{"model":"a","Model":"b"}"#, #"{"stream":false,"STREAM":true}"#,
        ])
    func confirmed(body: String) {
        #expect(TopLevelFields.scan(Array(body.utf8)) == nil)
    }

    /// What the two parsers disagree on for `body`, or nil.
    static func disagreement(_ body: [UInt8]) -> String? {
        guard let ours = TopLevelFields.scan(body) else { return nil }
        let text = String(decoding: body, as: UTF8.self)
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(body)), let theirs = parsed as? [String: Any] else {
            return "accepted but JSONSerialization refused: \(text.prefix(300))"
        }
        let decided = ["model", "stream", "stream_options"]
        for key in theirs.keys where decided.contains(goFold(key)) && !decided.contains(key) {
            return "accepted a case variant \(key): \(text.prefix(300))"
        }
        if (theirs["model"] as? String) != ours.model { return "model \(String(describing: theirs["model"])) vs \(String(describing: ours.model)): \(text.prefix(300))" }
        if let stream = theirs["stream"], !(stream is NSNull) {
            guard let flag = (stream as? NSNumber).map(\.boolValue), flag == ours.stream else { return "stream differs: \(text.prefix(300))" }
        } else if ours.stream != nil {
            return "stream differs: \(text.prefix(300))"
        }
        if let options = theirs["stream_options"] as? [String: Any] {
            let usage = options["include_usage"].flatMap { $0 is NSNull ? nil : ($0 as? NSNumber)?.boolValue }
            if usage != ours.includeUsage { return "include_usage differs: \(text.prefix(300))" }
            if options.keys.contains(where: { goFold($0) == "include_usage" && $0 != "include_usage" }) { return "include_usage case variant: \(text.prefix(300))" }
        }
        return nil
    }

    /// Go's `encoding/json` key matching: Unicode simple case folding, which for these ASCII
    /// names means ASCII case plus ſ (U+017F) and the Kelvin sign (U+212A).
    static func goFold(_ key: String) -> String {
        String(
            key.unicodeScalars.map { scalar -> Character in
                switch scalar.value {
                case 0x17F: return "s"
                case 0x212A: return "k"
                default: return Character(String(scalar).lowercased())
                }
            })
    }
}

// SplitMix64 (the seeded generator) is shared with StreamScannerFuzzTests.swift.

/// Random request-like JSON, biased towards the fields and tricks that matter.
enum JSONGenerator {
    static let keys = [
        #""model""#, #""stream""#, #""stream_options""#, #""messages""#, #""Model""#, #""mod\u0065l""#, #""\u006dodel""#,
        #""STREAM""#, #""ſtream""#, #""\u017ftream""#, #""model ""#, #""temperature""#, #""include_usage""#, #""n""#, #""mo\"del""#,
    ]

    static func pick<T>(_ items: [T], _ random: inout SplitMix64) -> T { items[Int(random.next() % UInt64(items.count))] }

    static func object(_ random: inout SplitMix64, depth: Int, topLevel: Bool = false) -> String {
        let count = Int(random.next() % 5)
        var members: [String] = []
        for _ in 0..<count {
            let key = pick(keys, &random)
            let value: String
            switch key {
            case #""model""#, #""Model""#, #""mod\u0065l""#: value = random.next() % 4 == 0 ? scalar(&random) : string(&random)
            case #""stream""#, #""STREAM""#: value = pick(["true", "false", "null", "1", #""true""#], &random)
            case #""stream_options""#:
                value =
                    random.next() % 4 == 0
                    ? "null"
                    : "{"
                        + [#""include_usage":"# + pick(["true", "false", "null", "0"], &random), #""x":1"#, #""Include_Usage":true"#]
                        .filter { _ in random.next() % 2 == 0 }.joined(separator: ",") + "}"
            default: value = self.value(&random, depth: depth + 1)
            }
            members.append(key + ":" + value)
        }
        let space = pick(["", " ", "\n", "\t "], &random)
        return "{" + space + members.joined(separator: "," + space) + "}"
    }

    static func value(_ random: inout SplitMix64, depth: Int) -> String {
        switch random.next() % (depth > 4 ? 3 : 5) {
        case 0: return string(&random)
        case 1: return scalar(&random)
        case 2: return pick(["true", "false", "null"], &random)
        case 3: return "[" + (0..<Int(random.next() % 3)).map { _ in value(&random, depth: depth + 1) }.joined(separator: ",") + "]"
        default: return object(&random, depth: depth + 1)
        }
    }

    static func scalar(_ random: inout SplitMix64) -> String {
        pick(["0", "-0", "1.5", "-2e10", "3E+2", "1e-7", "123456789012345678901234567890", "0.1e1", "7"], &random)
    }

    static func string(_ random: inout SplitMix64) -> String {
        let parts = [#"gpt-4o-mini"#, #"o3-pro"#, #"\u0065"#, #"\n"#, #"\""#, #"\\"#, #"é"#, #"😀"#, #"\ud83d\ude00"#, #"\/"#, " ", "a", #"\u0000"#]
        return "\"" + (0..<Int(random.next() % 4)).map { _ in pick(parts, &random) }.joined() + "\""
    }

    /// Flips, inserts or deletes a few bytes.
    static func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        let interesting: [UInt8] = [0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A, 0x00, 0x1F, 0x80, 0xC0, 0xED, 0xFF, 0x75, 0x20]
        for _ in 0..<(1 + Int(random.next() % 3)) where !bytes.isEmpty {
            let index = Int(random.next() % UInt64(bytes.count))
            switch random.next() % 3 {
            case 0: bytes[index] = pick(interesting, &random)
            case 1: bytes.insert(pick(interesting, &random), at: index)
            default: bytes.remove(at: index)
            }
        }
    }
}
