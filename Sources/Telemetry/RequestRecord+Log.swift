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
    /// directly as bytes: the request log is on every request, and going through a metadata
    /// dictionary (merge, sort, existential values) — or even `String` appends — cost more
    /// than the proxying around it.
    package func jsonLine(logger label: String) -> [UInt8] {
        let total = ContinuousClock.now - start
        var out = JSONLineBytes()
        out.raw(#"{"ts":"#)
        out.quotedTimestamp()
        out.raw(#","level":"info","logger":"#)
        out.quoted(label)
        out.raw(#","msg":"request""#)
        // Keys in sorted order, as the handler writes them.
        out.field(#","attempts":"#, integer: attempts > 1 ? attempts : nil)
        out.field(#","bytes_in":"#, integer: bytesIn)
        out.field(#","bytes_out":"#, integer: bytesOut)
        out.field(#","cache":"#, quoted: cache?.rawValue)
        out.field(#","dialect":"#, quoted: dialect)
        out.field(#","duration_ms":"#, milliseconds: Self.milliseconds(total))
        out.field(#","error":"#, quoted: errorCode?.description)
        out.field(#","key_id":"#, quoted: identity?.keyID)
        out.field(#","method":"#, quoted: method)
        out.field(#","model":"#, quoted: model)
        out.field(#","overhead_ms":"#, milliseconds: overhead.map(Self.milliseconds))
        out.field(#","path":"#, quoted: path)
        out.field(#","rejected_by":"#, quoted: rejectedBy)
        out.field(#","request_id":"#, quoted: id)
        out.field(#","retried":"#, quoted: trail.isEmpty ? nil : trail.joined(separator: ","))
        out.field(#","route":"#, quoted: rule)
        out.field(#","status":"#, integer: status)
        if stream { out.raw(#","stream":true"#) }
        out.field(#","tokens":"#, integer: totalTokens)
        out.field(#","trace_id":"#, quoted: span?.traceID)
        out.field(#","translated":"#, quoted: translation)
        out.field(#","ttfb_ms":"#, milliseconds: firstByte.map(Self.milliseconds))
        out.field(#","upstream":"#, quoted: endpoint)
        out.raw("}\n")
        return out.bytes
    }

}
