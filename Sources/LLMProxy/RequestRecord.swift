import Dialects
import Guards
import Logging
import Store

/// What the request log says about one request. Filled in as the request moves along the
/// data path and written once, when the last byte of the response has gone out (or failed).
/// Holds no key, token or body.
struct RequestRecord: Sendable {
    let id: String
    let method: String
    let path: String
    let start: ContinuousClock.Instant
    var dialect: String?
    var rule: String?
    var model: String?
    var endpoint: String?
    var status: Int = 0
    var stream = false
    var bytesIn = 0
    var bytesOut = 0
    var firstByte: Duration?
    var errorCode: String?
    var attempts = 0
    /// The managed key that opened the request, if one did.
    var identity: ClientIdentity?
    /// The key check passed (or none was needed). Only such requests are stored as
    /// analytics events: rejections before it are counted by the metrics alone, so
    /// unauthenticated traffic cannot fill the store.
    var authenticated = false
    /// Wall-clock start, for analytics (ms since 1970).
    let startMs = WallClock.nowMs()
    var promptTokens: Int?
    var completionTokens: Int?
    var totalTokens: Int?

    /// Takes the token counts a response carried.
    mutating func take(_ usage: UsageScanner) {
        promptTokens = usage.promptTokens
        completionTokens = usage.completionTokens
        totalTokens = usage.totalTokens
    }

    /// The analytics event for this request.
    var event: RequestEvent {
        let elapsed = ContinuousClock.now - start
        let (seconds, atto) = elapsed.components
        let endMs = startMs + seconds * 1000 + atto / 1_000_000_000_000_000
        return RequestEvent(requestID: id, keyID: identity?.keyID, username: identity?.username, startMs: startMs, endMs: endMs,
                            status: status, success: status < 400 && errorCode == nil, model: model, route: rule, upstream: endpoint,
                            dialect: dialect, stream: stream, ttfbMs: firstByte.map(Self.milliseconds), promptTokens: promptTokens,
                            completionTokens: completionTokens, totalTokens: totalTokens, bytesIn: bytesIn, bytesOut: bytesOut, errorCode: errorCode)
    }

    init(id: String, method: String, path: String, start: ContinuousClock.Instant) {
        self.id = id
        self.method = method
        self.path = path
        self.start = start
    }

    func write(to logger: Logger) {
        let total = ContinuousClock.now - start
        var metadata: Logger.Metadata = [
            "request_id": .string(id),
            "method": .string(method),
            "path": .string(path),
            "status": .stringConvertible(status),
            "duration_ms": .stringConvertible(Self.milliseconds(total)),
            "bytes_in": .stringConvertible(bytesIn),
            "bytes_out": .stringConvertible(bytesOut),
        ]
        if let dialect { metadata["dialect"] = .string(dialect) }
        if let rule { metadata["route"] = .string(rule) }
        if let model { metadata["model"] = .string(model) }
        if let endpoint { metadata["upstream"] = .string(endpoint) }
        if stream { metadata["stream"] = .stringConvertible(true) }
        if let firstByte { metadata["ttfb_ms"] = .stringConvertible(Self.milliseconds(firstByte)) }
        if let errorCode { metadata["error"] = .string(errorCode) }
        if attempts > 1 { metadata["attempts"] = .stringConvertible(attempts) }
        if let identity { metadata["key_id"] = .string(identity.keyID) }
        if let totalTokens { metadata["tokens"] = .stringConvertible(totalTokens) }
        logger.info("request", metadata: metadata)
    }

    /// The same line ``LogLineHandler`` writes for ``write(to:)`` in JSON format, built
    /// directly: the request log is on every request, and going through a metadata
    /// dictionary (merge, sort, existential values) cost more than the proxying around it.
    func jsonLine(logger label: String) -> String {
        let total = ContinuousClock.now - start
        var out = #"{"ts":"\#(Timestamp.now())","level":"info","logger":\#(JSONText.quoted(label)),"msg":"request""#
        out.reserveCapacity(320)
        // Keys in sorted order, as the handler writes them.
        if attempts > 1 { out += #","attempts":\#(attempts)"# }
        out += #","bytes_in":\#(bytesIn),"bytes_out":\#(bytesOut)"#
        if let dialect { out += #","dialect":\#(JSONText.quoted(dialect))"# }
        out += #","duration_ms":\#(Self.milliseconds(total))"#
        if let errorCode { out += #","error":\#(JSONText.quoted(errorCode))"# }
        if let identity { out += #","key_id":\#(JSONText.quoted(identity.keyID))"# }
        out += #","method":\#(JSONText.quoted(method))"#
        if let model { out += #","model":\#(JSONText.quoted(model))"# }
        out += #","path":\#(JSONText.quoted(path)),"request_id":\#(JSONText.quoted(id))"#
        if let rule { out += #","route":\#(JSONText.quoted(rule))"# }
        out += #","status":\#(status)"#
        if stream { out += #","stream":true"# }
        if let totalTokens { out += #","tokens":\#(totalTokens)"# }
        if let firstByte { out += #","ttfb_ms":\#(Self.milliseconds(firstByte))"# }
        if let endpoint { out += #","upstream":\#(JSONText.quoted(endpoint))"# }
        return out + "}\n"
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, atto) = duration.components
        return (Double(seconds) * 1000 + Double(atto) / 1e15).rounded(toPlaces: 3)
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        var factor = 1.0
        for _ in 0..<places { factor *= 10 }
        return (self * factor).rounded() / factor
    }
}
