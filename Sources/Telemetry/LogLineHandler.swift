import Dialects
import Logging
import ProxyConfig

/// swift-log handler writing one line per event to stdout: a JSON object (default) or text.
/// Metadata values are written as given; callers never put keys, tokens or bodies in them.
package struct LogLineHandler: LogHandler {
    /// Writes out every line logged so far; call before the process exits.
    package static func flush() {
        LineSink.standardOutput.flush()
    }

    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level
    /// Read by the request path, which writes request lines straight to the sink when they
    /// would come out of this handler as JSON anyway (it skips building `Logger.Metadata`).
    package let label: String
    package let format: LoggingConfig.Format

    package init(label: String, level: Logger.Level, format: LoggingConfig.Format) {
        self.label = label
        self.logLevel = level
        // `auto` is decided at bootstrap; a handler made without that writes JSON.
        self.format = format == .auto ? .json : format
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let line: String
        switch format {
        case .json, .auto:
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

extension Logger.Level {
    /// The swift-log level for a configured one (their names are the same).
    package init(_ level: LoggingConfig.Level) {
        self = Logger.Level(rawValue: level.rawValue) ?? .info
    }
}
