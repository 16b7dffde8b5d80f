import Dialects
import Foundation
import ProxyCore
import Telemetry
import Testing

/// The request log's byte-built line must say exactly what the `String` helpers it replaced
/// said: `Double.description` for milliseconds, ``JSONText/quoted(_:)``'s escapes, the
/// timestamp's format.
@Suite("JSON log line bytes")
struct JSONLineBytesTests {
    static func text(_ build: (inout JSONLineBytes) -> Void) -> String {
        var line = JSONLineBytes()
        build(&line)
        return String(decoding: line.bytes, as: UTF8.self)
    }

    @Test("milliseconds print as Double.description does, over every kind of duration")
    func milliseconds() {
        var values: [Double] = [0, 0.001, 0.01, 0.1, 0.5, 1, 9.999, 10, 12.25, 100.1, 999.999, 1000, 65_536.125, 3_600_000, 86_400_000.5]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            // Durations from nanoseconds to weeks, rounded as RequestRecord.milliseconds rounds them.
            let seconds = Int64.random(in: 0..<700_000, using: &generator)
            let atto = Int64.random(in: 0..<1_000_000_000_000_000_000, using: &generator)
            values.append(RequestRecord.milliseconds(Duration(secondsComponent: Int64.random(in: 0..<3, using: &generator) == 0 ? 0 : seconds, attosecondsComponent: atto)))
        }
        values += [Double.infinity, -1.5, 1e13, .nan]
        for value in values {
            #expect(Self.text { $0.milliseconds(value) } == value.description, "\(value)")
        }
    }

    @Test("strings are escaped as JSONText.quoted escapes them")
    func quoting() {
        let samples = [
            "", "plain", "gpt-4o-mini", "a\"b", "back\\slash", "line\nbreak\r\t", "\u{0}\u{1}\u{1f}\u{7f}", "naïve — 漢字 🙂", "/v1/chat/completions?x=1",
        ]
        for sample in samples {
            #expect(Self.text { $0.quoted(sample) } == JSONText.quoted(sample))
        }
    }

    @Test("integers and the timestamp")
    func numbersAndTime() throws {
        for value in [0, 7, 10, 200, -42, Int.max, Int.min + 1] {
            #expect(Self.text { $0.integer(value) } == String(value))
        }
        let stamp = Self.text { $0.quotedTimestamp() }
        let reference = "\"" + Timestamp.now() + "\""
        #expect(stamp.count == reference.count)
        #expect(stamp.wholeMatch(of: /"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/) != nil, "\(stamp)")
        let parsed = try #require(ISO8601DateFormatter.withFractionalSeconds.date(from: String(stamp.dropFirst().dropLast())))
        #expect(abs(parsed.timeIntervalSinceNow) < 60)
    }
}

extension ISO8601DateFormatter {
    fileprivate static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
