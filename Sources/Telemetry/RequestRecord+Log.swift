import Dialects
import Logging
import ProxyCore

/// The request log's line for a record: through swift-log, or built directly as JSON.
extension RequestRecord {
    package func write(to logger: Logger) {
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
        if let overhead { metadata["overhead_ms"] = .stringConvertible(Self.milliseconds(overhead)) }
        if let errorCode { metadata["error"] = .string(errorCode.description) }
        if let rejectedBy { metadata["rejected_by"] = .string(rejectedBy) }
        if attempts > 1 { metadata["attempts"] = .stringConvertible(attempts) }
        if !trail.isEmpty { metadata["retried"] = .string(trail.joined(separator: ",")) }
        if let identity { metadata["key_id"] = .string(identity.keyID) }
        if let totalTokens { metadata["tokens"] = .stringConvertible(totalTokens) }
        if let translation { metadata["translated"] = .string(translation) }
        if let cache { metadata["cache"] = .string(cache.rawValue) }
        if let traceID = span?.traceID { metadata["trace_id"] = .string(traceID) }
        logger.info("request", metadata: metadata)
    }

    /// The same line ``LogLineHandler`` writes for ``write(to:)`` in JSON format, built
    /// directly: the request log is on every request, and going through a metadata
    /// dictionary (merge, sort, existential values) cost more than the proxying around it.
    package func jsonLine(logger label: String) -> String {
        let total = ContinuousClock.now - start
        var out = #"{"ts":"\#(Timestamp.now())","level":"info","logger":\#(JSONText.quoted(label)),"msg":"request""#
        out.reserveCapacity(320)
        // Keys in sorted order, as the handler writes them.
        if attempts > 1 { out += #","attempts":\#(attempts)"# }
        out += #","bytes_in":\#(bytesIn),"bytes_out":\#(bytesOut)"#
        if let cache { out += #","cache":"\#(cache.rawValue)""# }
        if let dialect { out += #","dialect":\#(JSONText.quoted(dialect))"# }
        out += #","duration_ms":\#(Self.milliseconds(total))"#
        if let errorCode { out += #","error":\#(JSONText.quoted(errorCode.description))"# }
        if let identity { out += #","key_id":\#(JSONText.quoted(identity.keyID))"# }
        out += #","method":\#(JSONText.quoted(method))"#
        if let model { out += #","model":\#(JSONText.quoted(model))"# }
        if let overhead { out += #","overhead_ms":\#(Self.milliseconds(overhead))"# }
        out += #","path":\#(JSONText.quoted(path))"#
        if let rejectedBy { out += #","rejected_by":\#(JSONText.quoted(rejectedBy))"# }
        out += #","request_id":\#(JSONText.quoted(id))"#
        if !trail.isEmpty { out += #","retried":\#(JSONText.quoted(trail.joined(separator: ",")))"# }
        if let rule { out += #","route":\#(JSONText.quoted(rule))"# }
        out += #","status":\#(status)"#
        if stream { out += #","stream":true"# }
        if let totalTokens { out += #","tokens":\#(totalTokens)"# }
        if let traceID = span?.traceID { out += #","trace_id":"\#(traceID)""# }
        if let translation { out += #","translated":\#(JSONText.quoted(translation))"# }
        if let firstByte { out += #","ttfb_ms":\#(Self.milliseconds(firstByte))"# }
        if let endpoint { out += #","upstream":\#(JSONText.quoted(endpoint))"# }
        return out + "}\n"
    }

}
