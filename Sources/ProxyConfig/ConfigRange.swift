/// The values one number of the configuration may take.
///
/// Every number read from a file or the environment is checked against one of these before
/// the configuration is used. Each range is finite and small enough that what the gateway
/// does with the value later — seconds × 1000 into `Int64` milliseconds, hours × 3600,
/// a sum of weights, a `Duration` — cannot overflow or trap, whatever the file holds
/// (`1e300`, `.inf`, `.nan`). NaN fails every comparison, so it is outside every range.
package struct ConfigRange: Sendable, Equatable {
    package let lower: Double
    /// Whether `lower` itself is allowed; false for "above 0".
    package let includesLower: Bool
    package let upper: Double
    /// `seconds`, `bytes`, … ; empty for a plain count.
    package let unit: String
    /// The default, as written in messages and docs.
    package let defaultValue: String

    package init(_ lower: Double, _ upper: Double, includesLower: Bool = true, unit: String = "", defaultValue: String) {
        self.lower = lower
        self.upper = upper
        self.includesLower = includesLower
        self.unit = unit
        self.defaultValue = defaultValue
    }

    package func contains(_ value: Double) -> Bool {
        (includesLower ? value >= lower : value > lower) && value <= upper
    }

    package func contains(_ value: Int) -> Bool {
        contains(Double(value))
    }

    /// `must be between 1 and 65535 …`, naming the range, the value found and the default.
    func message(got value: String) -> String {
        let unit = self.unit.isEmpty ? "" : " \(self.unit)"
        let bounds =
            includesLower
            ? "between \(Self.text(lower)) and \(Self.text(upper))\(unit)"
            : "above \(Self.text(lower)) and at most \(Self.text(upper))\(unit)"
        return "must be \(bounds) (got \(value)); the default is \(defaultValue)"
    }

    /// A bound as a person writes it: 86400, not 86400.0.
    static func text(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

extension ConfigRange {
    // Seconds. The upper bounds keep `seconds * 1000` and `seconds * 1e9` far inside Int64.
    package static let drainTimeout = ConfigRange(0, 3600, unit: "seconds", defaultValue: "30")
    package static let requestHeadTimeout = ConfigRange(0, 3600, includesLower: false, unit: "seconds", defaultValue: "10")
    package static let requestBodyTimeout = ConfigRange(0, 3600, includesLower: false, unit: "seconds", defaultValue: "30")
    package static let keepAliveTimeout = ConfigRange(0, 86_400, includesLower: false, unit: "seconds", defaultValue: "75")
    package static let connectTimeout = ConfigRange(0, 3600, includesLower: false, unit: "seconds", defaultValue: "10")
    package static let firstByteTimeout = ConfigRange(0, 86_400, includesLower: false, unit: "seconds", defaultValue: "120")
    package static let idleTimeout = ConfigRange(0, 86_400, includesLower: false, unit: "seconds", defaultValue: "60")
    /// Intervals of background loops: at least 0.1 s, so a tiny value cannot make them spin.
    package static let healthCheckInterval = ConfigRange(0.1, 86_400, unit: "seconds", defaultValue: "60")
    package static let discoveryInterval = ConfigRange(0.1, 86_400, unit: "seconds", defaultValue: "30")
    package static let sessionHours = ConfigRange(0, 8760, includesLower: false, unit: "hours", defaultValue: "24")
    package static let eventRetentionDays = ConfigRange(0, 36_500, unit: "days (0 keeps events forever)", defaultValue: "90")

    // Sizes and counts.
    /// At most 1 GiB: a body is held in one buffer, and NIO's buffers stop at 4 GiB.
    package static let maxRequestSize = ConfigRange(1, 1_073_741_824, unit: "bytes", defaultValue: "10485760 (10 MiB)")
    package static let maxConnections = ConfigRange(16, 1_000_000, defaultValue: "8192")
    package static let tunnelDocumentBytes = ConfigRange(1024, 1_073_741_824, unit: "bytes", defaultValue: "67108864 (64 MiB) for documents, 33554432 for responses")
    package static let tunnelTimeout = ConfigRange(0, 86_400, includesLower: false, unit: "seconds", defaultValue: "30 (read), 600 (total), 300 (idle)")
    package static let tunnelReplayWindow = ConfigRange(1, 3600, unit: "seconds", defaultValue: "120")
    package static let tunnelStreams = ConfigRange(1, 10_000, defaultValue: "64")
    package static let maxConnectionsPerHost = ConfigRange(1, 100_000, defaultValue: "256")
    package static let eventQueueLimit = ConfigRange(1, 10_000_000, defaultValue: "100000")
    package static let port = ConfigRange(1, 65535, defaultValue: "443 with tls, else 80")

    /// Weights are relative; the bound keeps their sum finite.
    package static let weight = ConfigRange(0, 1_000_000, includesLower: false, defaultValue: "1")

    // The mock provider.
    package static let mockChunks = ConfigRange(1, 10_000, defaultValue: "8")
    package static let mockChunkDelay = ConfigRange(0, 60_000, unit: "milliseconds", defaultValue: "20")
    package static let mockLatency = ConfigRange(0, 600_000, unit: "milliseconds", defaultValue: "0")
}
