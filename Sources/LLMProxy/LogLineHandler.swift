#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dialects
import Logging
import ProxyConfig

/// swift-log handler writing one line per event to stdout: a JSON object (default) or text.
/// Metadata values are written as given; callers never put keys, tokens or bodies in them.
public struct LogLineHandler: LogHandler {
    /// Writes out every line logged so far; call before the process exits.
    public static func flush() {
        LineSink.standardOutput.flush()
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: LoggingConfig.Format

    public init(label: String, level: Logger.Level, format: LoggingConfig.Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let line: String
        switch format {
        case .json:
            var out = #"{"ts":"\#(Timestamp.now())","level":"\#(event.level.rawValue)","logger":\#(JSONText.quoted(label)),"msg":\#(JSONText.quoted(event.message.description))"#
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                out += ",\(JSONText.quoted(key)):\(Self.json(value))"
            }
            line = out + "}\n"
        case .text:
            var out = "\(Timestamp.now()) \(event.level.rawValue.uppercased()) [\(label)] \(event.message)"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { out += " \(key)=\(value)" }
            line = out + "\n"
        }
        LineSink.standardOutput.append(line)
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): return JSONText.quoted(s)
        case .stringConvertible(let c):
            if let n = c as? Int { return String(n) }
            if let n = c as? Double { return n.isFinite ? String(n) : "null" }
            if let b = c as? Bool { return b ? "true" : "false" }
            return JSONText.quoted(c.description)
        case .array(let items): return "[" + items.map(json).joined(separator: ",") + "]"
        case .dictionary(let dict): return "{" + dict.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\(json($0.value))" }.joined(separator: ",") + "}"
        }
    }
}

/// RFC 3339 UTC timestamps with milliseconds, without Foundation's formatter cost.
enum Timestamp {
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var time = spec.tv_sec
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let s = String(value)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        let millis = Int32(spec.tv_nsec / 1_000_000)
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(millis, 3))Z"
    }

    static func epochSeconds() -> Int {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int(spec.tv_sec)
    }
}

extension Logger.Level {
    init(_ level: LoggingConfig.Level) {
        self = Logger.Level(rawValue: level.rawValue) ?? .info
    }
}
